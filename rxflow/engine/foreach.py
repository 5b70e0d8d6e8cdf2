"""``foreach(step, concurrency=n)``: the step over every item of a list, a sliding window of n.

``window_fan_out`` is the merge-style operator underneath: for each list it receives it keeps at
most n item invocations in flight (n worker coroutines pulling from one shared index queue, so a
freed slot takes the next item at once, with no batches and no task per item) and emits
``(index, StepResult)`` in completion order. reactivex's own ``merge(max_concurrent)`` costs a
subscription per item and ``from_iterable`` pushes every item up front; this does neither.

The foreach entry emits one ``workflow-step-start`` for the block, one ``workflow-step-progress``
per settled item, then one result whose output lists the item outputs in input order. The first
item that does not succeed stops queued items from starting; items in flight still finish.

Per-item progress lives in the block's step result (``metadata["foreach"]``: the outputs, the
indexes that succeeded, the suspended items). A resume runs only what is left: suspended items
(all, or the one ``for_each_index`` names) with the resume data, and items never started; items
that succeeded are never run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from ..convert import ErrorValue
from ..errors import ValidationError
from ..events import (
    BlockResultPayload,
    StepProgressPayload,
    StepStartPayload,
    StepSuspendedPayload,
    WorkflowStepProgress,
    WorkflowStepResult,
    WorkflowStepStart,
    WorkflowStepSuspended,
)
from ..graph import ForeachEntry
from ..results import StepResult, TripwireInfo
from ..status import StepStatus
from ..tracing import block_span
from .invoke import invoke_step
from .operator import EntryOperator, emit_once
from .outcome import BlockTally, end_entry, shown_status
from .state import ExecutionState, ResumeTarget, now_ms

__all__ = ["foreach_operator", "window_fan_out"]

Settled = tuple[int, StepResult]
ItemRunner = Callable[[int], Awaitable[StepResult]]


class _Window:
    """One list of item indexes being fanned out: the shared queue and the workers pulling it."""

    __slots__ = ("queue", "stopped", "workers")

    def __init__(self, indexes: Sequence[int]) -> None:
        self.queue: Iterator[int] = iter(indexes)
        self.stopped = False
        self.workers: list[asyncio.Task[None]] = []


def window_fan_out(
    run_item: ItemRunner, concurrency: int
) -> Callable[[reactivex.Observable[Sequence[int]]], reactivex.Observable[Settled]]:
    """Operator: each list of item indexes in, ``(index, result)`` out per item, in completion
    order.

    At most ``concurrency`` items of a list run at once. After an item whose result is not
    ``success``, no further item of that list starts. Completes when the source has completed
    and every started item has settled; disposing cancels the items in flight.
    """

    def operator(source: reactivex.Observable[Sequence[int]]) -> reactivex.Observable[Settled]:
        def subscribe(
            observer: abc.ObserverBase[Settled], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = asyncio.get_running_loop()
            windows: list[_Window] = []
            flags = {"source_done": False, "disposed": False, "active": 0}

            def maybe_complete() -> None:
                if flags["source_done"] and flags["active"] == 0 and not flags["disposed"]:
                    flags["disposed"] = True
                    observer.on_completed()

            async def worker(window: _Window) -> None:
                try:
                    for index in window.queue:
                        result = await run_item(index)
                        if flags["disposed"]:
                            return
                        observer.on_next((index, result))
                        if result.status != "success":
                            window.stopped = True
                        if window.stopped:
                            return
                except Exception as error:  # a bug below us: report it, stop everything
                    if not flags["disposed"]:
                        flags["disposed"] = True
                        observer.on_error(error)
                finally:
                    flags["active"] -= 1
                    maybe_complete()

            def on_next(indexes: Sequence[int]) -> None:
                window = _Window(indexes)
                windows.append(window)
                for _ in range(min(concurrency, len(indexes))):
                    flags["active"] += 1
                    window.workers.append(loop.create_task(worker(window)))

            def on_completed() -> None:
                flags["source_done"] = True
                maybe_complete()

            def on_error(error: Exception) -> None:
                flags["disposed"] = True
                observer.on_error(error)

            subscription = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

            def dispose() -> None:
                flags["disposed"] = True
                subscription.dispose()
                for window in windows:
                    window.stopped = True
                    for task in window.workers:
                        task.cancel()

            return Disposable(dispose)

        return reactivex.create(subscribe)

    return operator


class _Progress:
    """Folds settled items into progress events and the block's outcome.

    Where the storage is durable it also keeps a running step result for the block, so each
    settled item reaches the snapshot trail.
    """

    __slots__ = (
        "completed",
        "done",
        "ex",
        "event_id",
        "live",
        "outputs",
        "step_id",
        "suspended",
        "tally",
        "total",
    )

    def __init__(
        self,
        ex: ExecutionState,
        step_id: str,
        event_id: str,
        items: Sequence[Any],
        started_at: int,
        stored: Mapping[str, Any] | None = None,
    ) -> None:
        self.ex = ex
        self.step_id = step_id
        self.event_id = event_id
        self.total = len(items)
        self.outputs: list[Any] = list(stored["outputs"]) if stored else [None] * self.total
        self.done: list[int] = list(stored["done"]) if stored else []
        self.suspended: dict[int, Any] = (
            {int(i): payload for i, payload in stored["suspended"]} if stored else {}
        )
        self.completed = len(self.done)
        self.tally = BlockTally()  # the first item that failed, the first that bailed
        self.live: StepResult | None = None
        persister = ex.scope.persister
        if ex.is_root and persister is not None and persister.durable:
            self.live = StepResult(
                status="running", payload=items, started_at=started_at, metadata=self.metadata()
            )
            ex.step_results[step_id] = self.live

    def metadata(self) -> dict[str, Any]:
        """The per-item progress, as stored in the block's step result."""
        return {
            "foreach": {
                "outputs": self.outputs,
                "done": self.done,
                "suspended": [[i, p] for i, p in sorted(self.suspended.items())],
            }
        }

    def on_settled(self, settled: Settled) -> None:
        index, result = settled
        status = self.tally.add(result)  # a bailed item shows success, with the bail value
        self.suspended.pop(index, None)
        if status == "success":
            self.completed += 1
            self.outputs[index] = result.output
            self.done.append(index)
        elif status == "failed":
            self.completed += 1
        elif status == "suspended":
            self.suspended[index] = result.suspend_payload
        else:  # canceled items report nothing: the block result says canceled
            return
        scope = self.ex.scope
        scope.emit(
            WorkflowStepProgress(
                run_id=scope.run_id,
                payload=StepProgressPayload(
                    id=self.event_id,
                    step_name=self.event_id,
                    completed_count=self.completed,
                    total_count=self.total,
                    current_index=index,
                    iteration_status=status,
                    iteration_output=result.output if status == "success" else None,
                ),
            )
        )
        if self.live is not None:
            self.live.metadata = self.metadata()
            scope.mark()


def _not_a_list(step_id: str, items: Any) -> ValidationError:
    return ValidationError(
        [f"$: expected list, got {items!r}"[:300]],
        heading=f"input of foreach step '{step_id}' must be a list",
    )


def foreach_operator(entry: ForeachEntry) -> EntryOperator:
    step = entry.step
    step_id = step.id
    concurrency = entry.concurrency

    async def run(ex: ExecutionState) -> None:
        items = ex.value
        started_at = now_ms()
        _emit_start(ex, step_id, items, started_at, None)
        if not isinstance(items, (list, tuple)):
            error = _not_a_list(step_id, items)
            _finish(ex, step_id, items, started_at, "failed", None, error)
            return
        progress = _Progress(ex, step_id, ex.prefix + step_id, items, started_at)
        await _fan_out(ex, progress, items, range(len(items)), started_at, None)

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        stored = ex.step_results.get(step_id)
        metadata = stored.metadata if stored is not None else None
        if stored is None or not isinstance(metadata, Mapping) or "foreach" not in metadata:
            await run(ex)  # no progress was stored: run the block again
            return
        items = stored.payload
        started_at = stored.started_at if stored.started_at is not None else now_ms()
        _emit_start(ex, step_id, items, started_at, target)
        progress = _Progress(
            ex, step_id, ex.prefix + step_id, items, started_at, metadata["foreach"]
        )
        resumed = [
            i
            for i in sorted(progress.suspended)
            if target is not None and target.for_each_index in (None, i)
        ]
        waiting = set(progress.suspended)
        fresh = [i for i in range(len(items)) if i not in waiting and i not in set(progress.done)]
        await _fan_out(ex, progress, items, resumed + fresh, started_at, target)

    async def _fan_out(
        ex: ExecutionState,
        progress: _Progress,
        items: Sequence[Any],
        indexes: Sequence[int],
        started_at: int,
        target: ResumeTarget | None,
    ) -> None:
        attributes = {"rxflow.step.id": step_id, "rxflow.foreach.concurrency": concurrency}
        with block_span(ex, "loop: 'foreach'", attributes):
            await _window(ex, progress, items, indexes, started_at, target)

    async def _window(
        ex: ExecutionState,
        progress: _Progress,
        items: Sequence[Any],
        indexes: Sequence[int],
        started_at: int,
        target: ResumeTarget | None,
    ) -> None:
        scope = ex.scope
        suspended_before = dict(progress.suspended)

        def run_item(index: int) -> Awaitable[StepResult]:
            if index in suspended_before and target is not None:
                stored_item = StepResult(
                    status="suspended",
                    payload=items[index],
                    suspend_payload=suspended_before[index],
                    started_at=started_at,
                )
                return invoke_step(
                    ex,
                    step,
                    items[index],
                    events=False,
                    resume_from=stored_item,
                    target=target,
                    foreach_index=index,
                )
            return invoke_step(ex, step, items[index], events=False, foreach_index=index)

        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_error(error: Exception) -> None:
            if not finished.done():
                finished.set_exception(error)

        def on_completed() -> None:
            if not finished.done():
                finished.set_result(None)

        subscription = (
            emit_once(list(indexes))
            .pipe(window_fan_out(run_item, concurrency))
            .subscribe(progress.on_settled, on_error, on_completed)
        )
        try:
            await finished
        except asyncio.CancelledError:
            subscription.dispose()
            if not scope.absorb_cancel():
                raise
            _finish(ex, step_id, items, started_at, "canceled", None, None)
            return
        tally = progress.tally
        status = tally.status(suspended=bool(progress.suspended), aborted=scope.aborted)
        if status == "suspended":
            _suspend(ex, step_id, items, started_at, progress)
            return
        failed = tally.failed
        _finish(
            ex,
            step_id,
            items,
            started_at,
            status,
            tally.output(status, progress.outputs),
            failed.error if failed is not None else None,
            failed.tripwire if failed is not None else None,
        )

    return EntryOperator("foreach", step_id, run, resume)


def _emit_start(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    target: ResumeTarget | None,
) -> None:
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepStart(
            run_id=ex.scope.run_id,
            payload=StepStartPayload(
                id=event_id,
                step_name=event_id,
                step_call_id=None,
                payload=items,
                started_at=started_at,
                resume_payload=target.resume_data if target is not None else None,
                resumed_at=target.resumed_at if target is not None else None,
            ),
        )
    )


def _finish(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    status: StepStatus,
    output: Any,
    error: ErrorValue,
    tripwire: TripwireInfo | None = None,
) -> None:
    ended_at = now_ms()
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepResult(
            run_id=ex.scope.run_id,
            payload=BlockResultPayload(
                id=event_id,
                step_name=event_id,
                status=status,
                ended_at=ended_at,
                output=output,
                error=error,
            ),
        )
    )
    result = StepResult(
        status=shown_status(status),
        payload=items,
        output=output,
        error=error,
        started_at=started_at,
        ended_at=ended_at,
        tripwire=tripwire,
    )
    again = step_id in ex.step_results
    ex.suspended.pop(step_id, None)
    ex.record(step_id, result, again=again)
    end_entry(ex, status, output, error, tripwire)


def _suspend(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    progress: _Progress,
) -> None:
    first = min(progress.suspended)
    payload = progress.suspended[first]
    suspended_at = now_ms()
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepSuspended(
            run_id=ex.scope.run_id,
            payload=StepSuspendedPayload(
                id=event_id,
                step_name=event_id,
                step_call_id=None,
                payload=items,
                started_at=started_at,
                suspend_payload=payload,
                suspended_at=suspended_at,
            ),
        )
    )
    again = step_id in ex.step_results
    ex.record(
        step_id,
        StepResult(
            status="suspended",
            payload=items,
            started_at=started_at,
            suspend_payload=payload,
            suspended_at=suspended_at,
            metadata=progress.metadata(),
        ),
        again=again,
    )
    ex.suspended[step_id] = payload
    end_entry(ex, "suspended")
