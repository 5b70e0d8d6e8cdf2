"""What a ``Run`` does while (or after) it goes: cancel it, here or in another process, watch
its raw events, replay its latest stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..durability import cancel_stored, check_timeout
from ..engine.state import RunScope
from ..events import EmptyPayload, WorkflowCanceled
from ..output import WorkflowRunOutput, ended_output
from ..status import RunStatus
from ..stored import load_snapshot
from .bus import EventBus
from .executions import FINISHED
from .segment import Segment, stored_result

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["RunControl"]


class RunControl:
    """The control verbs of ``Run`` (its base class): ``cancel``, ``watch``,
    ``observe_stream``."""

    workflow: Workflow
    workflow_id: str
    run_id: str
    _status: RunStatus
    _bus: EventBus
    _scope: RunScope | None
    _segment: Segment | None
    _watchers: int
    _retry_watchers: tuple[Callable[[str, int], None], ...] = ()  # (replaced, never mutated)

    def _abort(self) -> None:
        """Cancel requested (``run.cancel()`` or ``ctx.abort()``), on the loop thread."""
        scope = self._scope
        if scope is None or self._status != "running":
            return
        scope.fire_abort()
        if self._segment is not None:
            self._segment.stop()

    async def cancel(self, *, timeout: float = 10.0) -> None:
        """Cancel the run: in-flight async bodies see ``CancelledError``, sleeps end at once,
        queued foreach items never start; status becomes ``canceled``, stored before this
        returns. A suspended run is canceled in storage and its open outputs end.
        Canceling a finished run does nothing.

        A run another process executes is asked to cancel through storage: its owner cancels
        it within about a second; this waits until ``canceled`` is stored, or raises
        ``CancelTimeoutError`` after ``timeout`` seconds. A run nobody owns is canceled at once.
        """
        check_timeout(timeout)
        if self._status in FINISHED:
            return
        segment = self._segment
        if self._status == "running" and segment is not None and not segment.ended:
            self._abort()
            outcome = await asyncio.shield(segment.outcome())
            if outcome.status != "suspended":
                return
            # The segment reached its suspension before the abort could stop it: cancel the
            # suspended run like any other.
        storage = self.workflow.storage
        canceled, status = await cancel_stored(storage, self.workflow_id, self.run_id, timeout)
        if status is not None:
            self._status = status
        if canceled:
            self._status = "canceled"
            self._bus.on_next(WorkflowCanceled(run_id=self.run_id, payload=EmptyPayload()))
            snapshot = await load_snapshot(storage, self.workflow_id, self.run_id)
            self._bus.end_outputs(stored_result(snapshot or {}, self.run_id, status="canceled"))

    def watch(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback`` with every raw engine event (``workflow-step-finish`` included).

        Returns a function that stops watching.
        """
        self._watchers += 1
        if self._scope is not None:
            self._scope.watched = True

        detach = self._bus.watch(callback)
        stopped = False

        def unsubscribe() -> None:
            nonlocal stopped
            if stopped:
                return
            stopped = True
            detach()
            self._watchers -= 1
            if self._scope is not None:
                self._scope.watched = self._watchers > 0

        return unsubscribe

    def watch_retries(self, callback: Callable[[str, int], None]) -> Callable[[], None]:
        """Call ``callback(step_id, retry_count)`` each time a failed attempt of a step is
        tried again (``retry_count`` 1 for the first retry; ``step_id`` dotted inside nested
        workflows, a foreach's id for its items). Retries emit no event (like Mastra's
        stream), so this is how a live view counts them.

        Returns a function that stops watching.
        """
        self._retry_watchers = (*self._retry_watchers, callback)
        if self._scope is not None:
            self._scope.on_retry = self._retried

        def unsubscribe() -> None:
            self._retry_watchers = tuple(w for w in self._retry_watchers if w is not callback)
            if self._scope is not None and not self._retry_watchers:
                self._scope.on_retry = None

        return unsubscribe

    def _retried(self, step_id: str, retry: int) -> None:
        for callback in self._retry_watchers:
            callback(step_id, retry)

    def observe_stream(self) -> WorkflowRunOutput:
        """A replay of the latest ``stream``/``resume_stream`` output of this run object.

        Before any stream was started here it is an empty output that has already ended.
        """
        if self._bus.latest is not None:
            return self._bus.latest
        return ended_output(self.run_id, self.workflow_id, self._status)
