"""``then(step)`` and ``map(...)``: one step invocation on the previous output."""

from __future__ import annotations

from ..graph import MapEntry, StepEntry
from ..results import StepResult
from .invoke import invoke_step
from .operator import EntryOperator
from .state import ExecutionState

__all__ = ["settle_step", "step_operator"]


def settle_step(ex: ExecutionState, step_id: str, result: StepResult) -> None:
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
        assert result.error is not None
        ex.fail(result.error, result.tripwire)
    ex.record(step_id, result)


def step_operator(entry: StepEntry | MapEntry) -> EntryOperator:
    step = entry.step
    step_id = step.id

    async def run(ex: ExecutionState) -> None:
        settle_step(ex, step_id, await invoke_step(ex, step, ex.value))

    return EntryOperator(entry.kind, step_id, run)
