"""The compiled workflow: its entries as operators, run in one trampolined sequence.

``Program.drive`` is the single driver coroutine of an execution: it awaits each entry's fast
path in turn, so neither call depth nor subscription depth grows with the number of steps.
``Program`` is itself an operator (``Observable[ExecutionState] -> Observable[ExecutionState]``),
which is how a run subscribes to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import reactivex

from ..graph import (
    BranchEntry,
    Entry,
    ForeachEntry,
    LoopEntry,
    MapEntry,
    ParallelEntry,
    SleepEntry,
    SleepUntilEntry,
    StepEntry,
)
from .branch import branch_operator
from .foreach import foreach_operator
from .loop import loop_operator
from .operator import EntryOperator, coroutine_operator
from .parallel import parallel_operator
from .sleep import sleep_operator
from .state import ExecutionState
from .then import step_operator

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["Program", "compile_entry", "compile_program"]


class Program:
    """A committed workflow's entries, compiled; run with ``drive`` or as an operator."""

    __slots__ = ("entries", "workflow")

    def __init__(self, workflow: Workflow, entries: list[EntryOperator]) -> None:
        self.workflow = workflow
        self.entries = entries

    async def drive(self, ex: ExecutionState, start: int = 0) -> None:
        """Run the entries from ``start`` until one does not succeed (or all have)."""
        abort = ex.scope.abort_signal
        entries = self.entries
        for index in range(start, len(entries)):
            if abort.aborted:
                ex.status = "canceled"
                return
            await entries[index].run(ex)
            if ex.status != "running":
                return
        ex.status = "canceled" if abort.aborted else "success"

    def __call__(
        self, source: reactivex.Observable[ExecutionState]
    ) -> reactivex.Observable[ExecutionState]:
        return coroutine_operator(self.drive)(source)


def compile_entry(entry: Entry) -> EntryOperator:
    """The operator for one graph entry (one module per entry kind)."""
    if isinstance(entry, (StepEntry, MapEntry)):
        return step_operator(entry)
    if isinstance(entry, ParallelEntry):
        return parallel_operator(entry)
    if isinstance(entry, BranchEntry):
        return branch_operator(entry)
    if isinstance(entry, LoopEntry):
        return loop_operator(entry)
    if isinstance(entry, ForeachEntry):
        return foreach_operator(entry)
    if isinstance(entry, (SleepEntry, SleepUntilEntry)):
        return sleep_operator(entry)
    raise TypeError(f"unknown workflow entry {entry!r}")


def compile_program(workflow: Workflow) -> Program:
    return Program(workflow, [compile_entry(e) for e in workflow.entries])
