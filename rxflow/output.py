"""``WorkflowRunOutput``: what ``run.stream()`` and ``run.resume_stream()`` return.

It listens to the run's event bus, follows the segment's status and usage, and keeps its events
for replay (``rxflow.replay``) to async iterators and to a replaying Observable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic

import reactivex

from .convert import error_to_wire
from .events import (
    STEP_RESULT_RECORD,
    Event,
    EventRecord,
    FinishOutput,
    UsageRecorded,
    WorkflowCanceled,
    WorkflowFinish,
    WorkflowFinishPayload,
    WorkflowPaused,
    WorkflowStart,
    WorkflowStartPayload,
    WorkflowStepFinish,
    WorkflowStepOutput,
    WorkflowStepResult,
    WorkflowStepSuspended,
)
from .replay import EventLog, FullStream, ReplayValue
from .results import Out, Usage, WorkflowResult
from .status import RunStatus

__all__ = ["ReplayValue", "WorkflowRunOutput"]

Sink = Callable[[Any], None]
RecordSink = Callable[[EventRecord], None]

_ZERO_USAGE = Usage()
# Event classes the output does more with than keep (status, usage, filtering).
_NOTABLE = frozenset(
    {
        UsageRecorded,
        WorkflowStepFinish,
        WorkflowStepResult,
        WorkflowStepSuspended,
        WorkflowCanceled,
        WorkflowPaused,
        WorkflowStepOutput,
    }
)


class WorkflowRunOutput(Generic[Out]):
    """The live output of one stream segment of a run.

    - ``async for chunk in output``: every event of the segment (from the first, even for a
      late reader), ending after ``workflow-finish``;
    - ``full_stream``: the same, as a fresh replay on each access, for any number of readers;
    - ``events``: a replaying ``reactivex.Observable`` of the same events;
    - ``await output.result`` / ``await output.usage``: the ``WorkflowResult`` and ``Usage``;
    - ``status``: ``running``, ``suspended``, ``success``, ``failed``, ``canceled``,
      ``tripwire``, following the events and set from the final result.

    ``Out`` is the workflow's output type: ``await output.result`` is a
    ``WorkflowResult[Out]``.

    The ``feed_*`` methods are package-internal: the run feeds its outputs with them; they are
    not for users.
    """

    def __init__(
        self,
        *,
        run_id: str,
        workflow_id: str,
        close_on_suspend: bool = True,
        history_limit: int | None = None,
    ) -> None:
        check_history_limit(history_limit)
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.close_on_suspend = close_on_suspend
        self._log = EventLog(history_limit)
        self._status: RunStatus = "running"
        self._usage = _ZERO_USAGE
        self._result: ReplayValue[WorkflowResult[Out]] = ReplayValue()
        self._usage_value: ReplayValue[Usage] | None = None  # made when first asked for
        self._detach: Callable[[], None] | None = None
        self._log.push(WorkflowStart(run_id=run_id, payload=WorkflowStartPayload(workflow_id)))

    # -- public ----------------------------------------------------------------------------

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def result(self) -> ReplayValue[WorkflowResult[Out]]:
        """The run's ``WorkflowResult``: ``await output.result`` (it raises for errors before
        execution), or subscribe to it as a one-value replaying Observable."""
        return self._result

    @property
    def usage(self) -> ReplayValue[Usage]:
        """The token ``Usage`` this output carried, once its stream has ended (awaitable, or
        a one-value replaying Observable)."""
        if self._usage_value is None:
            self._usage_value = ReplayValue[Usage]()
            if self._log.closed:
                self._usage_value.settle(self._usage)
        return self._usage_value

    @property
    def full_stream(self) -> FullStream:
        return FullStream(self._log)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._log.reader()

    @property
    def events(self) -> reactivex.Observable[Event]:
        """A replaying Observable: every kept event, then live ones, completing at the end.

        Disposing a subscription never cancels the run.
        """
        return reactivex.create(self._log.subscribe)

    def __repr__(self) -> str:
        return f"<WorkflowRunOutput run_id={self.run_id!r} status={self._status!r}>"

    # -- fed by the run (package-internal) ---------------------------------------------------

    def feed_from(self, attach: Callable[[Sink, RecordSink], Callable[[], None]]) -> None:
        """Attach this output's sinks to the run's event bus (``attach`` returns the function
        that detaches them, called when the output ends)."""
        self._detach = attach(self.feed_event, self.feed_record)

    def feed_event(self, event: Any) -> None:
        """An event from the run's bus: keep it, follow its status, count its usage."""
        cls = event.__class__
        if cls in _NOTABLE:
            if cls is UsageRecorded:
                self._usage = self._usage.plus(event.usage)
                return
            if cls is WorkflowStepFinish:  # raw engine event: only run.watch() sees it
                return
            if cls is WorkflowStepResult:
                if event.payload.status == "failed":
                    tripwire = getattr(event.payload, "tripwire", None)  # blocks have none
                    self._status = "tripwire" if tripwire is not None else "failed"
            elif cls is WorkflowStepSuspended:
                self._status = "suspended"
            elif cls is WorkflowCanceled:
                self._status = "canceled"
            elif cls is WorkflowPaused:
                self._status = "paused"
            else:
                self._count_finish_chunk(event.payload.output)
        log = self._log
        if log.limit is None and log.wake is None and not log.observers:
            log.events.append(event)  # the common case of push, inlined (every event)
        else:
            log.push(event)

    def feed_record(self, record: EventRecord) -> None:
        """A step start or result as a compact record: kept as it is until someone reads it."""
        if record[0] == STEP_RESULT_RECORD and record[4] == "failed":
            self._status = "tripwire" if record[12] is not None else "failed"
        log = self._log
        if log.limit is None and log.wake is None and not log.observers:
            log.events.append(record)
        else:
            log.push(record)

    def _count_finish_chunk(self, chunk: Any) -> None:
        if not isinstance(chunk, Mapping) or chunk.get("type") != "finish":
            return
        payload = chunk.get("payload")
        if not isinstance(payload, Mapping):
            return
        report = payload.get("usage")
        if report is None and isinstance(payload.get("output"), Mapping):
            report = payload["output"].get("usage")
        if isinstance(report, Mapping):
            self._usage = self._usage.plus(Usage.from_report(report))

    def feed_resumed(self) -> None:
        """A kept-open output is being fed again by a resume."""
        self._status = "running"

    def feed_suspended(self) -> None:
        """The segment suspended and this output stays open for a later resume to feed."""
        self._status = "suspended"

    def feed_result(self, result: WorkflowResult[Out]) -> None:
        """The run reached the end of this segment: resolve ``result``, then end the stream."""
        self._status = result.status
        self._result.settle(result)
        metadata: dict[str, Any] = {}
        if result.status == "failed" and result.error is not None:
            metadata = _error_metadata(result.error)
        self._close(
            WorkflowFinishPayload(
                workflow_status=result.status,
                output=FinishOutput(usage=self._usage),
                metadata=metadata,
                final_workflow_result=result.result if result.status == "success" else None,
                tripwire=result.tripwire,
            )
        )

    def feed_failure(self, error: Exception) -> None:
        """An error before anything ran (validation): ``result`` raises it, the stream ends."""
        self._status = "failed"
        self._result.settle(error=error)
        self._close(
            WorkflowFinishPayload(
                workflow_status="failed",
                output=FinishOutput(usage=self._usage),
                metadata=_error_metadata(error),
            )
        )

    def feed_ended(self, status: RunStatus) -> None:
        """End at once with ``status``, keeping no event (not even the start)."""
        self._log.events.clear()
        self._log.closed = True
        self._status = status

    def _close(self, payload: WorkflowFinishPayload) -> None:
        if self._log.closed:
            return
        if self._detach is not None:
            self._detach()
            self._detach = None
        self._log.close(WorkflowFinish(run_id=self.run_id, payload=payload))
        if self._usage_value is not None:
            self._usage_value.settle(self._usage)


def ended_output(run_id: str, workflow_id: str, status: RunStatus) -> WorkflowRunOutput:
    """An output that carries no events and has already ended (``observe_stream`` before any
    stream was started)."""
    output = WorkflowRunOutput(run_id=run_id, workflow_id=workflow_id)
    output.feed_ended(status)
    return output


def check_history_limit(history_limit: Any) -> None:
    """Reject a ``history_limit`` that is not ``None`` or an int >= 1 (``ValueError``)."""
    if history_limit is not None and (type(history_limit) is not int or history_limit < 1):
        raise ValueError(f"history_limit must be None or an int >= 1, got {history_limit!r}")


def _error_metadata(error: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    message = error.get("message", "") if isinstance(error, Mapping) else str(error)
    return {"error": error_to_wire(error), "errorMessage": message}
