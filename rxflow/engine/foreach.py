"""``foreach(step, concurrency=n)``: the step over every item of a list, a sliding window of n.

``window_fan_out`` is the merge-style operator underneath: for each list it receives it keeps at
most n item invocations in flight (n worker coroutines pulling from one shared index queue, so a
freed slot takes the next item at once, with no batches and no task per item) and emits
``(index, StepResult)`` in completion order. reactivex's own ``merge(max_concurrent)`` costs a
subscription per item and ``from_iterable`` pushes every item up front; this does neither.

The foreach entry emits one ``workflow-step-start`` for the block, one ``workflow-step-progress``
per settled item, then one result whose output lists the item outputs in input order. The first
item that does not succeed stops queued items from starting; items in flight still finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

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
from ..results import StepResult
from .invoke import invoke_step
from .operator import EntryOperator
from .state import ExecutionState, now_ms

__all__ = ["foreach_operator", "window_fan_out"]

Settled = tuple[int, StepResult]
ItemRunner = Callable[[int, Any], Awaitable[StepResult]]


class _Window:
    """One list being fanned out: the shared queue of indexes and the workers pulling it."""

    __slots__ = ("items", "queue", "stopped", "workers")

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self.queue: Iterator[int] = iter(range(len(items)))
        self.stopped = False
        self.workers: list[asyncio.Task[None]] = []


def window_fan_out(
    run_item: ItemRunner, concurrency: int
) -> Callable[[reactivex.Observable[Sequence[Any]]], reactivex.Observable[Settled]]:
    """Operator: each list in, ``(index, result)`` out per item in completion order.

    At most ``concurrency`` items of a list run at once. After an item whose result is not
    ``success``, no further item of that list starts. Completes when the source has completed
    and every started item has settled; disposing cancels the items in flight.
    """

    def operator(source: reactivex.Observable[Sequence[Any]]) -> reactivex.Observable[Settled]:
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
                items = window.items
                try:
                    for index in window.queue:
                        result = await run_item(index, items[index])
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

            def on_next(items: Sequence[Any]) -> None:
                window = _Window(items)
                windows.append(window)
                for _ in range(min(concurrency, len(items))):
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
    """Folds settled items into progress events and the block's outcome."""

    __slots__ = ("completed", "emit", "event_id", "failed", "outputs", "run_id", "suspended", "total")

    def __init__(self, ex: ExecutionState, event_id: str, total: int) -> None:
        self.emit = ex.scope.emit
        self.run_id = ex.scope.run_id
        self.event_id = event_id
        self.total = total
        self.completed = 0
        self.outputs: list[Any] = [None] * total
        self.failed: StepResult | None = None
        self.suspended: dict[int, Any] = {}

    def on_settled(self, settled: Settled) -> None:
        index, result = settled
        status = result.status
        if status == "bailed":
            status = "success"
        if status == "success":
            self.completed += 1
            self.outputs[index] = result.output
        elif status == "failed":
            self.completed += 1
            if self.failed is None:
                self.failed = result
        elif status == "suspended":
            self.suspended[index] = result.suspend_payload
        else:  # canceled items report nothing: the block result says canceled
            return
        self.emit(
            WorkflowStepProgress(
                run_id=self.run_id,
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
        scope = ex.scope
        event_id = ex.prefix + step_id
        items = ex.value
        started_at = now_ms()
        scope.emit(
            WorkflowStepStart(
                run_id=scope.run_id,
                payload=StepStartPayload(
                    id=event_id,
                    step_name=event_id,
                    step_call_id=None,
                    payload=items,
                    started_at=started_at,
                ),
            )
        )
        if not isinstance(items, (list, tuple)):
            _finish(ex, step_id, event_id, items, started_at, "failed", None, _not_a_list(step_id, items))
            return

        progress = _Progress(ex, event_id, len(items))
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def run_item(index: int, item: Any) -> Awaitable[StepResult]:
            return invoke_step(ex, step, item, events=False)

        def on_error(error: Exception) -> None:
            if not finished.done():
                finished.set_exception(error)

        def on_completed() -> None:
            if not finished.done():
                finished.set_result(None)

        subscription = reactivex.just(items).pipe(window_fan_out(run_item, concurrency)).subscribe(
            progress.on_settled, on_error, on_completed
        )
        try:
            await finished
        except asyncio.CancelledError:
            subscription.dispose()
            if not scope.abort_signal.aborted:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            _finish(ex, step_id, event_id, items, started_at, "canceled", None, None)
            return
        if progress.failed is not None:
            failed = progress.failed
            _finish(ex, step_id, event_id, items, started_at, "failed", None, failed.error, failed)
        elif progress.suspended:
            _suspend(ex, step_id, event_id, items, started_at, progress)
        elif scope.abort_signal.aborted:
            _finish(ex, step_id, event_id, items, started_at, "canceled", None, None)
        else:
            _finish(ex, step_id, event_id, items, started_at, "success", progress.outputs, None)

    return EntryOperator("foreach", step_id, run)


def _finish(
    ex: ExecutionState,
    step_id: str,
    event_id: str,
    items: Any,
    started_at: int,
    status: str,
    output: Any,
    error: BaseException | None,
    failed: StepResult | None = None,
) -> None:
    ended_at = now_ms()
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
        status=status,
        payload=items,
        output=output,
        error=error,
        started_at=started_at,
        ended_at=ended_at,
        tripwire=failed.tripwire if failed is not None else None,
    )
    ex.record(step_id, result)
    if status == "success":
        ex.value = output
    elif status == "failed":
        assert error is not None
        ex.fail(error, result.tripwire)
    else:
        ex.status = "canceled"


def _suspend(
    ex: ExecutionState,
    step_id: str,
    event_id: str,
    items: Any,
    started_at: int,
    progress: _Progress,
) -> None:
    first = min(progress.suspended)
    payload = progress.suspended[first]
    suspended_at = now_ms()
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
    ex.record(
        step_id,
        StepResult(
            status="suspended",
            payload=items,
            started_at=started_at,
            suspend_payload=payload,
            suspended_at=suspended_at,
            metadata={"foreachIndex": first, "foreachOutput": progress.outputs},
        ),
    )
    ex.status = "suspended"
    ex.suspended[step_id] = payload
