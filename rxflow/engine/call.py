"""A started step invocation (``StepCall``) and the results it can end with; what every way of
running a step shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..convert import conform
from ..errors import TripWire, ValidationError
from ..results import IterationMetadata, StepResult, TripwireInfo
from ..status import StepStatus
from .state import ExecutionState, ResumeTarget, now_ms

if TYPE_CHECKING:
    from ..context import StepContext
    from ..graph import StepLike

__all__ = ["StepCall", "canceled", "failed", "finished", "keep_labels", "suspended"]


@attrs.define(slots=True, eq=False)
class StepCall:
    """A started invocation: what its result event and ``StepResult`` repeat."""

    step: StepLike
    event_id: str  # the step id under the execution's prefix ("outer.inner" when nested)
    input: Any
    started_at: int
    metadata: IterationMetadata | None
    events: bool  # False: the invocation emits no start/result events (a foreach item)
    call_id: str
    foreach_index: int | None = None
    resume_data: Any = None
    suspend_data: Any = None
    resumed_at: int | None = None
    # For a resumed nested workflow: the resume, one level down.
    target: ResumeTarget | None = None
    span: Any = None  # this invocation's span, while the run is traced
    context: StepContext | None = None  # the latest attempt's context

    def resume_from(self, stored: StepResult, target: ResumeTarget) -> None:
        """Make this invocation the resume of its ``stored`` suspended result: same
        ``startedAt``, ``resume_data`` and ``suspend_data`` set, ``target`` one level down."""
        if stored.started_at is not None:
            self.started_at = stored.started_at
        self.resume_data = target.resume_data
        self.suspend_data = stored.suspend_payload
        suspend_schema = self.step.suspend_schema
        if suspend_schema is not None and self.suspend_data is not None:
            try:  # stored as plain data: give it its schema type back
                self.suspend_data = conform(self.suspend_data, suspend_schema)
            except (ValidationError, TypeError, ValueError):
                pass
        self.resumed_at = target.resumed_at
        self.target = target.inner()


def finished(call: StepCall, status: StepStatus, output: Any) -> StepResult:
    """A result that ended with ``status`` (success, bailed, canceled) and ``output``."""
    # Positional on the per-step path; field order: see StepResult.
    return StepResult(
        status,
        call.input,  # payload
        output,
        None,  # error
        call.started_at,
        now_ms(),  # ended_at
        None,  # suspend_payload
        None,  # suspended_at
        call.resume_data,
        call.resumed_at,
        call.metadata,
    )


def canceled(call: StepCall) -> StepResult:
    """The result of an invocation the run's cancel ended."""
    return finished(call, "canceled", None)


def failed(call: StepCall, error: BaseException) -> StepResult:
    """The result of an invocation that failed with ``error`` (a ``TripWire`` keeps its info)."""
    tripwire = TripwireInfo.from_exception(error) if isinstance(error, TripWire) else None
    return StepResult(
        status="failed",
        payload=call.input,
        error=error,
        started_at=call.started_at,
        ended_at=now_ms(),
        resume_payload=call.resume_data,
        resumed_at=call.resumed_at,
        metadata=call.metadata,
        tripwire=tripwire,
    )


def suspended(call: StepCall, payload: Any) -> StepResult:
    """The result of an invocation that suspended with ``payload``."""
    return StepResult(
        status="suspended",
        payload=call.input,
        started_at=call.started_at,
        suspend_payload=payload,
        suspended_at=now_ms(),
        resume_payload=call.resume_data,
        resumed_at=call.resumed_at,
        metadata=call.metadata,
    )


def keep_labels(ex: ExecutionState, call: StepCall, labels: list[str] | None) -> None:
    """Remember ``resume_label``s so a resume can name the step (and item) by label."""
    if not labels:
        return
    where: dict[str, Any] = {"stepId": call.step.id}
    if call.foreach_index is not None:
        where["foreachIndex"] = call.foreach_index
    for label in labels:
        ex.labels[label] = where
