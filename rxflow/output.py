"""``WorkflowRunOutput``: what ``run.stream()`` and ``run.resume_stream()`` return (SPEC §5).

It listens to the run's hot event Subject, keeps the segment's event history for replay
(bounded by ``history_limit``), and bridges it to async iterators (``async for``,
``full_stream``) and to a replaying Observable (``events``). ReplaySubjects back ``result`` and
``usage`` so that a late awaiter still gets them.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.subject import ReplaySubject

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
    WorkflowStart,
    WorkflowStartPayload,
    WorkflowStepFinish,
    WorkflowStepOutput,
    WorkflowStepResult,
    WorkflowStepSuspended,
    build_event,
)
from .results import Usage, WorkflowResult
from .status import RunStatus

__all__ = ["ReplayValue", "WorkflowRunOutput"]

_ZERO_USAGE = Usage()
# Event classes the output does more with than keep (status, usage, filtering).
_NOTABLE = frozenset(
    {
        UsageRecorded,
        WorkflowStepFinish,
        WorkflowStepResult,
        WorkflowStepSuspended,
        WorkflowCanceled,
        WorkflowStepOutput,
    }
)


class ReplayValue(reactivex.Observable[Any]):
    """One value (or error) that arrives later: ``await`` it, or subscribe to it.

    Awaiting costs no subscription (a run's ``result`` and ``usage`` are awaited on every
    run); an Rx subscriber gets a ReplaySubject that replays the value and completes, even
    when it subscribes long after the value arrived.
    """

    # Observable.__init__ gives each instance an RLock that nothing here uses; two of these
    # are made per run, so they share one instead (fewer objects for the GC to track).
    _shared_lock = threading.RLock()

    def __init__(self) -> None:
        self.lock = self._shared_lock
        self._subscribe = None
        self._settled = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._waiters: list[asyncio.Future[Any]] | None = None
        self._subject: ReplaySubject[Any] | None = None

    def _subscribe_core(
        self, observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if self._subject is None:
            self._subject = ReplaySubject(1)
            if self._settled:
                self._feed(self._subject)
        return self._subject.subscribe(observer, scheduler=scheduler)

    def _feed(self, subject: ReplaySubject[Any]) -> None:
        if self._error is not None:
            subject.on_error(self._error)  # type: ignore[arg-type]
        else:
            subject.on_next(self._value)
            subject.on_completed()

    def _settle(self, value: Any = None, error: BaseException | None = None) -> None:
        if self._settled:
            return
        self._settled, self._value, self._error = True, value, error
        waiters, self._waiters = self._waiters or (), None
        for waiter in waiters:
            if not waiter.done():
                if error is not None:
                    waiter.set_exception(error)
                else:
                    waiter.set_result(value)
        if self._subject is not None:
            self._feed(self._subject)

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._settled:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            return (yield from waiter)
        if self._error is not None:
            raise self._error
        return self._value


def _event_at(history: list[Event | EventRecord], index: int) -> Event:
    """The event at ``index``; a compact step record there is built into its event (once)."""
    event = history[index]
    if isinstance(event, tuple):
        built = history[index] = build_event(event)
        return built
    return event


class _OutputIterator:
    """One reader of an output: replays from the oldest kept event, then follows live ones."""

    __slots__ = ("__weakref__", "_output", "_position")

    def __init__(self, output: WorkflowRunOutput) -> None:
        self._output = output
        self._position = output._first_kept()
        if output._readers is not None:
            output._readers.add(self)

    def __aiter__(self) -> _OutputIterator:
        return self

    async def __anext__(self) -> Event:
        output = self._output
        while True:
            index = self._position - output._trimmed
            if index < 0:  # trimmed by history_limit while we lagged: skip to the oldest kept
                self._position = output._trimmed
                index = 0
            history = output._history
            if index < len(history):
                self._position += 1
                return _event_at(history, index)
            if output._closed:
                if output._readers is not None:
                    output._readers.discard(self)
                raise StopAsyncIteration
            await output._next_event()


class _FullStream:
    """``output.full_stream``: each iteration is a fresh replay of the whole segment."""

    __slots__ = ("_output",)

    def __init__(self, output: WorkflowRunOutput) -> None:
        self._output = output

    def __aiter__(self) -> AsyncIterator[Event]:
        return _OutputIterator(self._output)


class WorkflowRunOutput:
    """The live output of one stream segment of a run.

    - ``async for chunk in output``: every event of the segment (from the first, even for a
      late reader), ending after ``workflow-finish``;
    - ``full_stream``: the same, as a fresh replay on each access, for any number of readers;
    - ``events``: a replaying ``reactivex.Observable`` of the same events;
    - ``await output.result`` / ``await output.usage``: the ``WorkflowResult`` and ``Usage``;
    - ``status``: ``running``, ``suspended``, ``success``, ``failed``, ``canceled``,
      ``tripwire``, following the events and set from the final result.
    """

    def __init__(
        self,
        *,
        run_id: str,
        workflow_id: str,
        close_on_suspend: bool = True,
        history_limit: int | None = None,
    ) -> None:
        if history_limit is not None and (type(history_limit) is not int or history_limit < 1):
            raise ValueError(f"history_limit must be None or an int >= 1, got {history_limit!r}")
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.close_on_suspend = close_on_suspend
        self._limit = history_limit
        # Events, and compact step records not read yet (see rxflow.events.build_event).
        self._history: list[Event | EventRecord] = []
        self._trimmed = 0  # events dropped from the front of _history (history_limit)
        self._closed = False
        self._wake: asyncio.Future[None] | None = None
        self._observers: list[abc.ObserverBase[Event]] | None = None  # made on first subscribe
        # Live async readers (only needed when history is trimmed): history they have not read
        # yet is never trimmed. Weak, so a reader dropped half-way does not pin the history.
        self._readers: weakref.WeakSet[_OutputIterator] | None = (
            weakref.WeakSet() if history_limit is not None else None
        )
        self._status: RunStatus = "running"
        self._usage = _ZERO_USAGE
        self._result = ReplayValue()
        self._usage_value: ReplayValue | None = None  # made when first asked for
        self._detach: Callable[[], None] | None = None
        self._push(WorkflowStart(run_id=run_id, payload=WorkflowStartPayload(workflow_id)))

    @classmethod
    def _ended(cls, run_id: str, workflow_id: str, status: RunStatus) -> WorkflowRunOutput:
        """An output that carries no events and has already ended (``observe_stream`` before
        any stream was started)."""
        output = cls(run_id=run_id, workflow_id=workflow_id)
        output._history.clear()
        output._status = status
        output._closed = True
        return output

    # -- public ----------------------------------------------------------------------------

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def result(self) -> ReplayValue:
        """The run's ``WorkflowResult``: ``await output.result`` (it raises for errors before
        execution), or subscribe to it as a one-value replaying Observable."""
        return self._result

    @property
    def usage(self) -> ReplayValue:
        """The token ``Usage`` this output carried, once its stream has ended (awaitable, or
        a one-value replaying Observable)."""
        if self._usage_value is None:
            self._usage_value = ReplayValue()
            if self._closed:
                self._usage_value._settle(self._usage)
        return self._usage_value

    @property
    def full_stream(self) -> _FullStream:
        return _FullStream(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return _OutputIterator(self)

    @property
    def events(self) -> reactivex.Observable[Event]:
        """A replaying Observable: every kept event, then live ones, completing at the end.

        Disposing a subscription never cancels the run.
        """

        def subscribe(
            observer: abc.ObserverBase[Event], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            history = self._history
            for index in range(self._first_kept() - self._trimmed, len(history)):
                observer.on_next(_event_at(history, index))
            if self._closed:
                observer.on_completed()
                return Disposable()
            if self._observers is None:
                self._observers = []
            self._observers.append(observer)

            def dispose() -> None:
                if self._observers is not None and observer in self._observers:
                    self._observers.remove(observer)

            return Disposable(dispose)

        return reactivex.create(subscribe)

    def __repr__(self) -> str:
        return f"<WorkflowRunOutput run_id={self.run_id!r} status={self._status!r}>"

    # -- fed by the run ------------------------------------------------------------------------

    def _first_kept(self) -> int:
        total = self._trimmed + len(self._history)
        if self._limit is None:
            return self._trimmed
        return max(self._trimmed, total - self._limit)

    def _push(self, event: Event | EventRecord) -> None:
        history = self._history
        history.append(event)
        limit = self._limit
        if limit is not None and len(history) > 2 * limit:
            self._trim(limit)
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)
        if self._observers:
            built = _event_at(history, len(history) - 1)  # the same object for the readers
            for observer in list(self._observers):
                observer.on_next(built)

    def _trim(self, limit: int) -> None:
        """Drop old events beyond ``limit``, but none that a live reader has yet to read.

        Trimming happens once the history holds twice the limit, so appends stay O(1)
        amortized; late readers start at ``_first_kept()``, which honours the limit exactly.
        """
        history = self._history
        drop = len(history) - limit
        for reader in self._readers or ():
            drop = min(drop, reader._position - self._trimmed)
        if drop > 0:
            del history[:drop]
            self._trimmed += drop

    def _next_event(self) -> asyncio.Future[None]:
        if self._wake is None:
            self._wake = asyncio.get_running_loop().create_future()
        return self._wake

    def _on_event(self, event: Any) -> None:
        """An event from the run's Subject: keep it, follow its status, count its usage."""
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
            else:
                self._count_finish_chunk(event.payload.output)
        if self._limit is None and self._wake is None and not self._observers:
            self._history.append(event)  # the common case of _push, inlined (every event)
        else:
            self._push(event)

    def _on_record(self, record: EventRecord) -> None:
        """A step start or result as a compact record: kept as it is until someone reads it."""
        if record[0] == STEP_RESULT_RECORD and record[4] == "failed":
            self._status = "tripwire" if record[12] is not None else "failed"
        if self._limit is None and self._wake is None and not self._observers:
            self._history.append(record)
        else:
            self._push(record)

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

    def _resumed(self) -> None:
        """A kept-open output is being fed again by a resume."""
        self._status = "running"

    def _finish(self, result: WorkflowResult) -> None:
        """The run reached the end of this segment: resolve ``result``, then end the stream."""
        self._status = result.status
        self._result._settle(result)
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

    def _fail_before_execution(self, error: Exception) -> None:
        """An error before anything ran (validation): ``result`` raises it, the stream ends."""
        self._status = "failed"
        self._result._settle(error=error)
        self._close(
            WorkflowFinishPayload(
                workflow_status="failed",
                output=FinishOutput(usage=self._usage),
                metadata=_error_metadata(error),
            )
        )

    def _close(self, payload: WorkflowFinishPayload) -> None:
        if self._closed:
            return
        if self._detach is not None:
            self._detach()
            self._detach = None
        self._push(WorkflowFinish(run_id=self.run_id, payload=payload))
        self._closed = True
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)
        observers, self._observers = self._observers or [], None
        for observer in observers:
            observer.on_completed()
        if self._usage_value is not None:
            self._usage_value._settle(self._usage)


def _error_metadata(error: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    message = error.get("message", "") if isinstance(error, Mapping) else str(error)
    return {"error": error_to_wire(error), "errorMessage": message}
