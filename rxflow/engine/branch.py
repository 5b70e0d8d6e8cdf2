"""``branch([(cond, step), ...])``: every step whose condition is true runs, concurrently.

All conditions are evaluated (in declaration order) before any chosen step starts; a condition
that raises fails the block with that error; none true gives ``{}``.
"""

from __future__ import annotations

from ..executors.protocol import Executor
from ..graph import BranchEntry
from ..tracing import block_span
from .condition import evaluate
from .invoke import StepInvoker, compile_step
from .operator import EntryOperator
from .siblings import run_siblings
from .state import ExecutionState, ResumeTarget

__all__ = ["branch_operator"]


def branch_operator(entry: BranchEntry, executor: Executor | None = None) -> EntryOperator:
    branches = [(condition, compile_step(step, executor)) for condition, step in entry.branches]

    async def choose(ex: ExecutionState) -> list[StepInvoker] | None:
        chosen = []
        for condition, invoker in branches:
            try:
                if await evaluate(condition, ex, ex.value):
                    chosen.append(invoker)
            except Exception as error:
                ex.fail(error)
                return None
        return chosen

    name = f"conditional: '{len(branches)} conditions'"

    async def run(ex: ExecutionState) -> None:
        with block_span(ex, name, {}):
            chosen = await choose(ex)
            if chosen is not None:
                await run_siblings(ex, chosen, ex.value)

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        with block_span(ex, name, {}):
            chosen: list[StepInvoker] | None
            if target is not None:
                chosen = [invoker for _, invoker in branches if invoker.step.id in ex.step_results]
            else:
                chosen = await choose(ex)
                if chosen is None:
                    return
            await run_siblings(ex, chosen, ex.value, target=target, resuming=True)

    return EntryOperator("conditional", f"{len(branches)} conditions", run, resume)
