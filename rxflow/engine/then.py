"""``then(step)`` and ``map(...)``: one step invocation on the previous output."""

from __future__ import annotations

from ..graph import MapEntry, StepEntry
from .invoke import invoke_step
from .operator import EntryOperator
from .outcome import settle_step
from .state import ExecutionState, ResumeTarget

__all__ = ["step_operator"]


def step_operator(entry: StepEntry | MapEntry) -> EntryOperator:
    step = entry.step
    step_id = step.id

    async def run(ex: ExecutionState) -> None:
        settle_step(ex, step_id, await invoke_step(ex, step, ex.value))

    async def resume(ex: ExecutionState, target: ResumeTarget | None) -> None:
        stored = ex.step_results.get(step_id)
        if target is None or stored is None or stored.status != "suspended":
            await run(ex)  # a restart: the step had not finished, run it again
            return
        # The resumed step's input is its stored input, never whatever came later.
        result = await invoke_step(ex, step, stored.payload, resume_from=stored, target=target)
        settle_step(ex, step_id, result, again=True)

    return EntryOperator(entry.kind, step_id, run, resume)
