"""``then(step)`` and ``map(...)``: one step invocation on the previous output."""

from __future__ import annotations

from ..graph import MapEntry, StepEntry
from ..results import StepResult
from .invoke import invoke_step
from .operator import EntryOperator
from .state import ExecutionState, ResumeTarget

__all__ = ["settle_step", "step_operator"]


def settle_step(
    ex: ExecutionState, step_id: str, result: StepResult, *, again: bool = False
) -> None:
    """Record a single step's result and carry its outcome into the execution."""
    status = result.status
    if status == "success":
        ex.value = result.output
    elif status == "bailed":
        result.status = "success"  # a bailed step shows success in the run's steps
        ex.value = result.output
        ex.status = "bailed"
    elif status == "suspended":
        ex.status = "suspended"
        ex.suspended[step_id] = result.suspend_payload
    elif status == "canceled":
        ex.status = "canceled"
    else:
        assert isinstance(result.error, BaseException)
        ex.fail(result.error, result.tripwire)
    if status != "suspended":
        ex.suspended.pop(step_id, None)
    ex.record(step_id, result, again=again)


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
