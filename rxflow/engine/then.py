"""``then(step)`` and ``map(...)``: one step invocation on the previous output."""

from __future__ import annotations

from ..executors.protocol import Executor
from ..graph import MapEntry, StepEntry
from .invoke import compile_step
from .operator import EntryOperator
from .outcome import settle_step
from .state import ExecutionState, ResumeTarget

__all__ = ["step_operator"]


def step_operator(entry: StepEntry | MapEntry, executor: Executor | None = None) -> EntryOperator:
    # a map computes its output from the context: it always runs here
    invoker = compile_step(entry.step, executor if entry.kind == "step" else None)
    start = invoker.start
    run_call = invoker.run
    step_id = entry.step.id

    async def run(ex: ExecutionState) -> None:
        settle_step(ex, step_id, await run_call(ex, start(ex, ex.value)))

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        stored = ex.step_results.get(step_id)
        if target is None and stored is not None and stored.status == "success":
            ex.value = stored.output  # a restart: the step finished before the crash
            return
        if target is None or stored is None or stored.status != "suspended":
            await run(ex)  # a restart: the step had not finished, run it again
            return
        # The resumed step's input is its stored input, never whatever came later.
        result = await invoker.invoke(ex, stored.payload, resume_from=stored, target=target)
        settle_step(ex, step_id, result, again=True)

    return EntryOperator(entry.kind, step_id, run, resume)
