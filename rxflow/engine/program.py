"""The compiled workflow (``Program``): a ``WorkflowGraph``'s entries and the driver loop that
runs them in order, each entry also being an equivalent Rx operator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import reactivex

from ..executors.protocol import Executor
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
    WorkflowGraph,
    entry_steps,
)
from .branch import branch_operator
from .foreach import foreach_operator
from .loop import loop_operator
from .operator import EntryOperator, coroutine_operator, enter_entry, leave_last_entry
from .outcome import entry_output
from .parallel import parallel_operator
from .sleep import sleep_operator
from .state import NO_INPUT, ExecutionState, ResumeTarget
from .then import step_operator

__all__ = ["Program", "compile_entry", "compile_program", "pause_after"]


@attrs.define(slots=True, eq=False)
class Program:
    """A committed workflow's entries, compiled; run with ``drive`` or as an operator.

    ``drive`` is the single driver coroutine of an execution: it awaits each entry's fast path
    in turn, so neither call depth nor subscription depth grows with the number of steps. Each
    entry is also an Rx operator meaning the same (both pass the one gate, ``enter_entry``),
    and the program itself is one (``Observable[ExecutionState] ->
    Observable[ExecutionState]``).

    ``nested`` holds the compiled program of every nested workflow of the top-level entries,
    by its step id.
    """

    graph: WorkflowGraph
    entries: list[EntryOperator]
    nested: Mapping[str, Program] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        entries = self.entries
        for index, entry in enumerate(entries):  # each entry's operator form knows its place
            entry.index, entry.last = index, index == len(entries) - 1

    async def drive(self, ex: ExecutionState, start: int = 0, one: bool = False) -> None:
        """Run the entries from ``start`` until one does not succeed (or all have).

        A state that is not running is left as it is. With ``one`` (a step-by-step segment)
        only entry ``start`` runs; a state still running after it, with entries left, is
        ``paused``.
        """
        entries = self.entries
        persister = ex.scope.persister
        # The sync checkpoint mode: before an entry starts, the stored run holds every result.
        sync = persister is not None and persister.sync and ex.is_root
        for index in range(start, len(entries)):
            if not enter_entry(ex, index):
                return
            if sync:
                assert persister is not None
                await persister.flush()
                if persister.error is not None:  # progress could not be stored: stop here
                    ex.fail(persister.error)
                    return
            await entries[index].run(ex)
            if one:
                pause_after(ex, index, len(entries))
                if ex.status != "running":
                    return
        leave_last_entry(ex)

    async def resume_drive(
        self, ex: ExecutionState, index: int, target: ResumeTarget | None, one: bool = False
    ) -> None:
        """Continue at entry ``index`` from stored results (resume, or restart when ``target``
        is None), then run the entries after it. The entry's input is the previous entry's
        stored output, or the target's ``entry_input`` (a time travel given an input)."""
        ex.entry_index = index
        ex.status = "running"
        given = NO_INPUT if target is None or len(target.path) != 1 else target.entry_input
        ex.value = self.input_of(index, ex) if given is NO_INPUT else given
        await self.entries[index].resume(ex, target)
        if one:
            pause_after(ex, index, len(self.entries))
        await self.drive(ex, index + 1)

    def input_of(self, index: int, ex: ExecutionState) -> Any:
        """The input entry ``index`` got: the workflow input, or the previous entry's output."""
        if index == 0:
            return ex.input
        return entry_output(self.graph.entries[index - 1], ex)

    def __call__(
        self, source: reactivex.Observable[ExecutionState]
    ) -> reactivex.Observable[ExecutionState]:
        return coroutine_operator(self.drive, "a workflow program as an operator")(source)


def pause_after(ex: ExecutionState, index: int, count: int) -> None:
    """A step-by-step segment ran entry ``index`` of ``count``: a state still running with
    entries left pauses (the last entry ends the run as usual)."""
    if ex.status == "running" and index + 1 < count:
        ex.status = "canceled" if ex.scope.aborted else "paused"


def compile_entry(entry: Entry, executor: Executor | None = None) -> EntryOperator:
    """The operator for one graph entry (one module per entry kind); its steps run on their own
    executor, else on ``executor`` (the workflow's), else here."""
    if isinstance(entry, (StepEntry, MapEntry)):
        return step_operator(entry, executor)
    if isinstance(entry, ParallelEntry):
        return parallel_operator(entry, executor)
    if isinstance(entry, BranchEntry):
        return branch_operator(entry, executor)
    if isinstance(entry, LoopEntry):
        return loop_operator(entry, executor)
    if isinstance(entry, ForeachEntry):
        return foreach_operator(entry, executor)
    if isinstance(entry, (SleepEntry, SleepUntilEntry)):
        return sleep_operator(entry)
    raise TypeError(f"unknown workflow entry {entry!r}")


def compile_program(graph: WorkflowGraph) -> Program:
    """The program running ``graph``, its nested workflows' graphs compiled with it."""
    nested = {
        step.id: compile_program(step)
        for entry in graph.entries
        for step in entry_steps(entry)
        if isinstance(step, WorkflowGraph)
    }
    entries = [compile_entry(e, graph.executor) for e in graph.entries]
    return Program(graph, entries, nested)
