"""``foreach(step, concurrency=n)``: the step over every item of a list, a sliding window of n
items in flight through the engine's fan-out; its resume runs only the items left."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ..executors.protocol import Executor
from ..graph import ForeachEntry
from ..results import StepResult
from ..tracing import block_span
from .fanout import Job, Operator, Worker, each_of, fan_out
from .foreach_block import emit_block_start, finish_block, suspend_block
from .foreach_items import ItemProgress, Settled, item_runner
from .invoke import compile_step
from .operator import EntryOperator
from .state import ExecutionState, ResumeTarget, now_ms
from .threads import widen_threads

__all__ = ["foreach_operator", "settle_items"]


def settle_items(
    run_item: Job[int, Settled], concurrency: int, label: str
) -> Operator[int, Settled]:
    """Operator: item indexes in, ``(index, result)`` out per item, in completion order.

    At most ``concurrency`` items run at once; after an item whose result is not ``success``,
    no queued item starts. Completes once every started item has settled; disposing cancels
    the items in flight.
    """

    def settle(worker: Worker[Settled], index: int, result: StepResult) -> Settled:
        if result.status != "success":
            worker.drain()
        return index, result

    return fan_out(run_item, concurrency, label, settle)


def _not_a_list(step_id: str, items: Any) -> ValidationError:
    return ValidationError(
        [f"$: expected list, got {items!r}"[:300]],
        heading=f"input of foreach step '{step_id}' must be a list",
    )


def foreach_operator(entry: ForeachEntry, executor: Executor | None = None) -> EntryOperator:
    """The foreach entry: one ``workflow-step-start`` for the block, one
    ``workflow-step-progress`` per settled item (in completion order), then one result whose
    output lists the item outputs in input order. The first item that does not succeed stops
    queued items from starting; items in flight still finish.

    Per-item progress lives in the block's step result (``metadata["foreach"]``: the outputs,
    the indexes that succeeded, the suspended items). A resume runs only what is left:
    suspended items (all, or the one ``for_each_index`` names) with the resume data, and items
    never started; items that succeeded are never run again.
    """
    step = entry.step
    step_id = step.id
    concurrency = entry.concurrency
    label = f"foreach {step_id!r}"
    invoker = compile_step(step, executor)  # an item runs where its step runs
    threaded = invoker.kind == "thread"  # ``def`` bodies: concurrency=n means n threads

    async def run(ex: ExecutionState) -> None:
        items = ex.value
        started_at = now_ms()
        emit_block_start(ex, step_id, items, started_at, None)
        if not isinstance(items, (list, tuple)):
            error = _not_a_list(step_id, items)
            finish_block(ex, step_id, items, started_at, "failed", None, error)
            return
        progress = ItemProgress.begin(ex, step_id, items, started_at)
        await run_items(ex, progress, items, range(len(items)), started_at, None)

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        stored = ex.step_results.get(step_id)
        metadata = stored.metadata if stored is not None else None
        if stored is None or not isinstance(metadata, Mapping) or "foreach" not in metadata:
            await run(ex)  # no progress was stored: run the block again
            return
        items = stored.payload
        started_at = stored.started_at if stored.started_at is not None else now_ms()
        emit_block_start(ex, step_id, items, started_at, target)
        progress = ItemProgress.begin(ex, step_id, items, started_at, metadata["foreach"])
        await run_items(ex, progress, items, progress.pending(target), started_at, target)

    async def run_items(
        ex: ExecutionState,
        progress: ItemProgress,
        items: Sequence[Any],
        indexes: Sequence[int],
        started_at: int,
        target: ResumeTarget | None,
    ) -> None:
        attributes = {"rxflow.step.id": step_id, "rxflow.foreach.concurrency": concurrency}
        if threaded:
            widen_threads(ex.scope, concurrency)
        with block_span(ex, "loop: 'foreach'", attributes):
            run_item = item_runner(ex, invoker, items, started_at, dict(progress.suspended), target)
            settle = settle_items(run_item, concurrency, label)
            if await _settled_all(ex, progress, indexes, settle):
                _end(ex, progress, items, started_at)
            else:
                finish_block(ex, step_id, items, started_at, "canceled", None, None)

    def _end(
        ex: ExecutionState, progress: ItemProgress, items: Sequence[Any], started_at: int
    ) -> None:
        """The block's outcome once every started item has settled."""
        tally = progress.tally
        status = tally.status(suspended=bool(progress.suspended), aborted=ex.scope.aborted)
        if status == "suspended":
            suspend_block(ex, step_id, items, started_at, progress)
            return
        failed = tally.failed
        finish_block(
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


async def _settled_all(
    ex: ExecutionState,
    progress: ItemProgress,
    indexes: Sequence[int],
    settle: Operator[int, Settled],
) -> bool:
    """Run the items through ``settle``, folding each into ``progress``; False when the run's
    cancel stopped them (the items in flight are canceled)."""
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(error: Exception) -> None:
        if not finished.done():
            finished.set_exception(error)

    def on_completed() -> None:
        if not finished.done():
            finished.set_result(None)

    subscription = (
        each_of(indexes).pipe(settle).subscribe(progress.on_settled, on_error, on_completed)
    )
    try:
        await finished
    except asyncio.CancelledError:
        subscription.dispose()
        if not ex.scope.absorb_cancel():
            raise
        return False
    return True
