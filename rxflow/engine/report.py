"""The edges of a step invocation: its span, and at its end the state merge and the result (or
suspended) event. Every strategy opens and finishes its invocations through these."""

from __future__ import annotations

from ..events import (
    STEP_RESULT_RECORD,
    StepFinishPayload,
    StepSuspendedPayload,
    WorkflowStepFinish,
    WorkflowStepSuspended,
)
from ..results import StepResult
from ..tracing import end_span, start_span
from .call import StepCall, canceled, failed
from .state import ExecutionState, now_ms
from .storable import storable

__all__ = ["cancel_call", "finish", "open_span"]

# set_state partials are applied when the step succeeds, bails or suspends; not when it fails.
_STATE_KEPT = frozenset({"success", "bailed", "suspended"})


def open_span(ex: ExecutionState, call: StepCall) -> object:
    """Start the invocation's span (``call.span``) and make it current; the context token.

    Called only while the run is traced and for invocations with events of their own
    (foreach items are covered by the loop's span).
    """
    step_id = call.step.id
    call.span, token = start_span(
        f"workflow step: '{step_id}'",
        {
            "rxflow.workflow.id": ex.workflow.id,
            "rxflow.run.id": ex.run_id,
            "rxflow.step.id": step_id,
        },
    )
    return token


def finish(
    ex: ExecutionState, call: StepCall, result: StepResult, token: object | None
) -> StepResult:
    """End an invocation with ``result``: merge its ``set_state`` partials into the run state
    (when the step succeeded, bailed or suspended), emit its ``workflow-step-result`` (or
    ``workflow-step-suspended``), end its span. A durable run first converts the result to
    JSON data (see ``storable``)."""
    scope = ex.scope
    persister = scope.persister
    if persister is not None and persister.durable:  # memory runs keep values by reference
        result = storable(persister, call, result)
    ctx = call.context
    if ctx is not None and ctx.state_partials and result.status in _STATE_KEPT:
        try:
            ex.state = ctx.merged_state()
        except Exception as error:  # the merged state breaks the state schema
            result = failed(call, error)
    if call.events:
        if result.status == "suspended":
            _emit_suspended(ex, call, result)
        else:
            # A compact record (see rxflow.events.build_event); field order is the record's.
            scope.emit_record(
                (
                    STEP_RESULT_RECORD,
                    scope.run_id,
                    call.event_id,
                    call.call_id,
                    result.status,
                    call.input,  # payload
                    call.started_at,
                    result.ended_at or now_ms(),
                    result.output,
                    result.error,
                    call.resume_data,
                    call.resumed_at,
                    result.tripwire,
                    call.metadata,
                )
            )
            if scope.watched:  # a suspended step has no workflow-step-finish
                scope.emit(
                    WorkflowStepFinish(
                        run_id=scope.run_id,
                        payload=StepFinishPayload(
                            id=call.event_id, step_name=call.event_id, step_call_id=call.call_id
                        ),
                    )
                )
    if call.span is not None:
        end_span(call.span, token, result.status, result.error)
    return result


def cancel_call(ex: ExecutionState, call: StepCall) -> StepResult:
    """The result of an invocation canceled before its body could report; emits it."""
    return finish(ex, call, canceled(call), None)


def _emit_suspended(ex: ExecutionState, call: StepCall, result: StepResult) -> None:
    scope = ex.scope
    scope.emit(
        WorkflowStepSuspended(
            run_id=scope.run_id,
            payload=StepSuspendedPayload(
                id=call.event_id,
                step_name=call.event_id,
                step_call_id=call.call_id,
                payload=call.input,
                started_at=call.started_at,
                suspend_payload=result.suspend_payload,
                suspended_at=result.suspended_at or now_ms(),
                resume_payload=call.resume_data,
                resumed_at=call.resumed_at,
                metadata=call.metadata,
            ),
        )
    )
