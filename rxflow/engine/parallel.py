"""``parallel([...])``: every step on the same input, concurrently; output ``{id: output}``."""

from __future__ import annotations

from ..executors.protocol import Executor
from ..graph import ParallelEntry
from ..tracing import block_span
from .invoke import compile_step
from .operator import EntryOperator
from .siblings import run_siblings
from .state import ExecutionState, ResumeTarget

__all__ = ["parallel_operator"]


def parallel_operator(entry: ParallelEntry, executor: Executor | None = None) -> EntryOperator:
    steps = entry.steps
    invokers = [compile_step(step, executor) for step in steps]
    allow_failure = entry.allow_failure

    name = f"parallel: '{len(steps)} branches'"
    attributes = {"rxflow.block.steps": [s.id for s in steps]}

    async def run(ex: ExecutionState) -> None:
        with block_span(ex, name, attributes):
            await run_siblings(ex, invokers, ex.value, allow_failure=allow_failure)

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        with block_span(ex, name, attributes):
            await run_siblings(
                ex, invokers, ex.value, allow_failure=allow_failure, target=target, resuming=True
            )

    return EntryOperator("parallel", f"{len(steps)} branches", run, resume)
