"""``branch([(cond, step), ...])``: every step whose condition is true runs, concurrently.

All conditions are evaluated (in declaration order) before any chosen step starts; a condition
that raises fails the block with that error; none true gives ``{}``.
"""

from __future__ import annotations

from ..graph import BranchEntry
from .condition import evaluate
from .operator import EntryOperator
from .siblings import run_siblings
from .state import ExecutionState

__all__ = ["branch_operator"]


def branch_operator(entry: BranchEntry) -> EntryOperator:
    branches = entry.branches

    async def run(ex: ExecutionState) -> None:
        input_data = ex.value
        chosen = []
        for condition, step in branches:
            try:
                if await evaluate(condition, ex, input_data):
                    chosen.append(step)
            except Exception as error:
                ex.fail(error)
                return
        await run_siblings(ex, chosen, input_data)

    return EntryOperator("conditional", f"{len(branches)} conditions", run)
