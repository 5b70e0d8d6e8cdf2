"""Running one step invocation: schemas, the body, bail/suspend markers, state merge, events.

``start_step`` (in ``call``) emits ``workflow-step-start`` and returns a ``StepCall``;
``run_step`` runs the body (awaited directly on the loop, or in a worker thread for a plain
``def``) and emits the result (or suspended) event. Blocks call the two halves apart so that
every sibling's start is out before any sibling's result. Retries live in ``retry``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from ..context import Bail, StepContext, TracingContext
from ..convert import conform
from ..events import (
    STEP_RESULT_RECORD,
    StepFinishPayload,
    StepSuspendedPayload,
    WorkflowStepFinish,
    WorkflowStepSuspended,
)
from ..graph import StepNode, WorkflowGraph
from ..results import StepResult
from ..tracing import end_span, start_span
from .call import StepCall, canceled, failed, finished, keep_labels, start_step, suspended
from .nested import NestedSuspension, run_nested
from .retry import after_failure, run_attempts
from .state import ExecutionState, ResumeTarget, now_ms

if TYPE_CHECKING:
    from ..graph import StepLike

__all__ = ["StepCall", "cancel_call", "invoke_step", "run_step", "start_step"]

_NO_TRACING = TracingContext(None)
# set_state partials are applied when the step succeeds, bails or suspends; not when it fails.
_STATE_KEPT = frozenset({"success", "bailed", "suspended"})


def _context(ex: ExecutionState, call: StepCall, input_data: Any, retry: int) -> StepContext:
    return StepContext(
        ex,
        input_data,
        retry,
        _NO_TRACING if call.span is None else TracingContext(call.span),
        ex.state,
        cast(StepNode, call.step),
        call.resume_data,
        call.suspend_data,
    )


def _checked_input(ex: ExecutionState, call: StepCall) -> Any:
    """The step's input in its ``input_schema`` type, after checking the request context
    against the step's schema (raises ``ValidationError``)."""
    step = call.step
    what = step.id
    if step.request_context_schema is not None:
        conform(
            ex.scope.request_context.to_dict(),
            step.request_context_schema,
            what=f"request context of step '{what}'",
        )
    if step.input_schema is not None:
        return conform(call.input, step.input_schema, what=f"input of step '{what}'")
    return call.input


async def _attempt(ex: ExecutionState, call: StepCall, input_data: Any, retry: int) -> StepResult:
    """Run the body once (attempt ``retry``); its result (the attempt's context is left on
    ``call.context``)."""
    step = call.step
    call.context = None
    if isinstance(step, WorkflowGraph):
        return _outcome(ex, call, None, await run_nested(ex, call, input_data))
    ctx = call.context = _context(ex, call, input_data, retry)
    if step.is_async:
        output = await step.execute(ctx)
    else:
        output = await asyncio.to_thread(step.execute, ctx)
    return _outcome(ex, call, ctx, output)


def _outcome(
    ex: ExecutionState, call: StepCall, ctx: StepContext | None, output: Any
) -> StepResult:
    """The result of an attempt whose body returned ``output`` (or suspended through ``ctx``),
    checked against the step's output schema."""
    if ctx is not None:
        suspension = ctx.suspension
        if suspension is not None:
            keep_labels(ex, call, suspension[1])
            return suspended(call, suspension[0])
    if output.__class__ is Bail:
        return finished(call, "bailed", output.value)
    if output.__class__ is NestedSuspension:
        return suspended(call, output.payload)
    step = call.step
    if step.output_schema is not None:
        output = conform(output, step.output_schema, what=f"output of step '{step.id}'")
    return finished(call, "success", output)


def _emit_result(ex: ExecutionState, call: StepCall, result: StepResult) -> None:
    scope = ex.scope
    if result.status == "suspended":
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
        return
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
    if scope.watched:
        scope.emit(
            WorkflowStepFinish(
                run_id=scope.run_id,
                payload=StepFinishPayload(
                    id=call.event_id, step_name=call.event_id, step_call_id=call.call_id
                ),
            )
        )


async def run_step(ex: ExecutionState, call: StepCall) -> StepResult:
    """Run a started invocation to its end; emit its result or suspended event."""
    token = None
    if ex.scope.tracing and call.events:  # foreach items are covered by the loop's span
        call.span, token = start_span(
            f"workflow step: '{call.step.id}'",
            {
                "rxflow.workflow.id": ex.workflow.id,
                "rxflow.run.id": ex.run_id,
                "rxflow.step.id": call.step.id,
            },
        )
    step = call.step
    if step.plain_async:
        # The common case, without the retry loop's coroutine: a plain async step with no
        # schema on its input; its first attempt runs here, any retry in ``run_attempts``.
        first = call.context = _context(ex, call, call.input, 0)
        try:
            result = _outcome(ex, call, first, await step.execute(first))  # type: ignore[union-attr]
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            result = canceled(call)
        except Exception as error:
            retried = after_failure(ex, call, error, 0)
            if retried is None:
                retried = await run_attempts(ex, call, _attempt, call.input, 1)
            result = retried
    else:
        try:
            input_data = _checked_input(ex, call)
        except Exception as error:  # schema failures fail the step at once: no retry helps
            result = failed(call, error)
        else:
            result = await run_attempts(ex, call, _attempt, input_data, 0)
    ctx = call.context
    if ctx is not None and ctx.state_partials and result.status in _STATE_KEPT:
        try:
            ex.state = ctx.merged_state()
        except Exception as error:  # the merged state breaks the state schema
            result = failed(call, error)
    if call.events:
        _emit_result(ex, call, result)
    if call.span is not None:
        end_span(call.span, token, result.status, result.error)
    return result


def cancel_call(ex: ExecutionState, call: StepCall) -> StepResult:
    """The result of an invocation canceled before its body could report; emits it."""
    result = canceled(call)
    if call.events:
        _emit_result(ex, call, result)
    return result


def invoke_step(
    ex: ExecutionState,
    step: StepLike,
    input_data: Any,
    *,
    iteration: int | None = None,
    events: bool = True,
    resume_from: StepResult | None = None,
    target: ResumeTarget | None = None,
    foreach_index: int | None = None,
) -> Coroutine[Any, Any, StepResult]:
    """Start one invocation now; await the result to run it (see ``start_step`` for resuming).

    A plain function returning ``run_step``'s coroutine, so awaiting it adds no coroutine
    layer of its own on the per-step path.
    """
    call = start_step(
        ex,
        step,
        input_data,
        iteration=iteration,
        events=events,
        resume_from=resume_from,
        target=target,
        foreach_index=foreach_index,
    )
    return run_step(ex, call)
