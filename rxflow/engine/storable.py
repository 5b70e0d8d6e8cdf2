"""A durable run's step results as JSON data, converted once as each step ends (its snapshots
reuse that); a result JSON cannot carry fails its step there, naming the path."""

from __future__ import annotations

from ..convert import to_wire
from ..errors import NotJSONError
from ..results import StepResult
from .call import StepCall, failed
from .persist import Persister

__all__ = ["storable"]

# The parts of a step result a step's values end up in, in the order a failure names them.
_PARTS = (
    ("output", "output"),
    ("suspend_payload", "suspend payload"),
    ("payload", "input"),
    ("resume_payload", "resume data"),
)


def storable(persister: Persister, call: StepCall, result: StepResult) -> StepResult:
    """``result`` once its wire form is made (and kept for the run's snapshots); a failed
    result with ``NotJSONError`` when JSON cannot carry it: the step fails at once, before
    any later step runs, and is not retried (the same value would fail again)."""
    try:
        if call.foreach_index is None:
            persister.cache.wire(call.event_id, result)
        else:  # an item: snapshots keep its block's result, not the item's own
            to_wire(result)
    except NotJSONError as error:
        return failed(call, _named(call, result, error))
    return result


def _named(call: StepCall, result: StepResult, error: NotJSONError) -> NotJSONError:
    """The error saying which value of the step JSON cannot carry, with its path from there."""
    named = NotJSONError(
        error.path, error.problem, heading=f"result of step '{call.event_id}' cannot be stored"
    )
    for attribute, what in _PARTS:
        try:
            to_wire(getattr(result, attribute))
        except NotJSONError as found:
            named = NotJSONError(
                found.path,
                found.problem,
                heading=f"{what} of step '{call.event_id}' cannot be stored",
            )
            break
    if isinstance(result.error, BaseException):  # the step had failed already: keep why
        named.__cause__ = result.error
    return named
