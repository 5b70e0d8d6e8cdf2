"""``dowhile`` / ``dountil``: run the step, test the condition on its output, repeat.

Each iteration is a full invocation (start/result events carrying ``iteration_count``, retries
counted from 0 again); its input is the previous iteration's output. The block's output is the
last output; a non-success iteration ends the loop with that outcome.
"""

from __future__ import annotations

from ..executors.protocol import Executor
from ..graph import LoopEntry
from ..results import IterationMetadata
from ..tracing import block_span
from .condition import evaluate
from .invoke import compile_step
from .operator import EntryOperator
from .outcome import settle_step
from .state import ExecutionState, ResumeTarget

__all__ = ["loop_operator"]


def loop_operator(entry: LoopEntry, executor: Executor | None = None) -> EntryOperator:
    step = entry.step
    invoker = compile_step(step, executor)
    condition = entry.condition
    repeat_while = entry.loop_type == "dowhile"

    name = f"loop: '{entry.loop_type}'"

    async def run(ex: ExecutionState) -> None:
        with block_span(ex, name, {}):
            await iterate(ex, 1)

    async def iterate(ex: ExecutionState, iteration: int) -> None:
        while True:
            result = await invoker.invoke(ex, ex.value, iteration=iteration)
            settle_step(ex, step.id, result)
            if not await again(ex, iteration):
                return
            iteration += 1

    async def again(ex: ExecutionState, iteration: int) -> bool:
        """After an iteration: whether the loop goes on."""
        if ex.status != "running":
            return False
        try:
            verdict = bool(await evaluate(condition, ex, ex.value, iteration_count=iteration))
        except Exception as error:
            ex.fail(error)
            return False
        if verdict != repeat_while:
            return False
        if ex.scope.aborted:
            ex.status = "canceled"
            return False
        return True

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        stored = ex.step_results.get(step.id)
        metadata = stored.metadata if stored is not None else None
        if stored is None or not isinstance(metadata, IterationMetadata):
            await run(ex)  # no iteration was stored: the loop starts over from its input
            return
        iteration = metadata.iteration_count
        with block_span(ex, name, {}):
            if stored.status == "suspended" and target is not None:
                result = await invoker.invoke(
                    ex, stored.payload, iteration=iteration, resume_from=stored, target=target
                )
                settle_step(ex, step.id, result, again=True)
            elif stored.status == "success":
                # A restart after a crash: iterations that finished are not run again; the
                # loop goes on from the last stored one.
                ex.value = stored.output
            else:
                await iterate(ex, iteration)  # that iteration had not finished: run it again
                return
            if await again(ex, iteration):
                await iterate(ex, iteration + 1)

    return EntryOperator("loop", entry.loop_type, run, resume)
