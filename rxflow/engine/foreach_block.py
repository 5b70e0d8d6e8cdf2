"""foreach's block events and outcome: the block's start, its one result (or suspension), and
what that means for the execution."""

from __future__ import annotations

from typing import Any

from ..convert import ErrorValue
from ..events import (
    BlockResultPayload,
    StepStartPayload,
    StepSuspendedPayload,
    WorkflowStepResult,
    WorkflowStepStart,
    WorkflowStepSuspended,
)
from ..results import StepResult, TripwireInfo
from ..status import StepStatus
from .foreach_items import ItemProgress
from .outcome import end_entry, shown_status
from .state import ExecutionState, ResumeTarget, now_ms

__all__ = ["emit_block_start", "finish_block", "suspend_block"]


def emit_block_start(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    target: ResumeTarget | None,
) -> None:
    """The block's ``workflow-step-start`` (with the resume data when resuming)."""
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepStart(
            run_id=ex.scope.run_id,
            payload=StepStartPayload(
                id=event_id,
                step_name=event_id,
                step_call_id=None,
                payload=items,
                started_at=started_at,
                resume_payload=target.resume_data if target is not None else None,
                resumed_at=target.resumed_at if target is not None else None,
            ),
        )
    )


def finish_block(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    status: StepStatus,
    output: Any,
    error: ErrorValue,
    tripwire: TripwireInfo | None = None,
) -> None:
    """End the block ``status`` (``bailed``: the workflow ends with ``output``): its result event,
    its step result, and the execution's outcome."""
    ended_at = now_ms()
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepResult(
            run_id=ex.scope.run_id,
            payload=BlockResultPayload(
                id=event_id,
                step_name=event_id,
                status=status,
                ended_at=ended_at,
                output=output,
                error=error,
            ),
        )
    )
    result = StepResult(
        status=shown_status(status),
        payload=items,
        output=output,
        error=error,
        started_at=started_at,
        ended_at=ended_at,
        tripwire=tripwire,
    )
    again = step_id in ex.step_results
    ex.suspended.pop(step_id, None)
    ex.record(step_id, result, again=again)
    end_entry(ex, status, output, error, tripwire)


def suspend_block(
    ex: ExecutionState,
    step_id: str,
    items: Any,
    started_at: int,
    progress: ItemProgress,
) -> None:
    """Suspend the block on its first suspended item, storing the per-item progress."""
    first = min(progress.suspended)
    payload = progress.suspended[first]
    suspended_at = now_ms()
    event_id = ex.prefix + step_id
    ex.scope.emit(
        WorkflowStepSuspended(
            run_id=ex.scope.run_id,
            payload=StepSuspendedPayload(
                id=event_id,
                step_name=event_id,
                step_call_id=None,
                payload=items,
                started_at=started_at,
                suspend_payload=payload,
                suspended_at=suspended_at,
            ),
        )
    )
    again = step_id in ex.step_results
    ex.record(
        step_id,
        StepResult(
            status="suspended",
            payload=items,
            started_at=started_at,
            suspend_payload=payload,
            suspended_at=suspended_at,
            metadata=progress.metadata(),
        ),
        again=again,
    )
    ex.suspended[step_id] = payload
    end_entry(ex, "suspended")
