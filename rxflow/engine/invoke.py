"""One step invocation: schemas, retries, bail/suspend markers, state merge and its events.

``start_step`` emits ``workflow-step-start`` and returns a ``StepCall``; ``run_step`` runs
the body (awaited directly on the loop, or in a worker thread for a plain ``def``) and emits
the result (or suspended) event. Blocks call the two halves apart so that every sibling's
start is out before any sibling's result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from ..context import Bail, StepContext, TracingContext
from ..convert import conform
from ..errors import NonRetryableError, TripWire, ValidationError
from ..events import (
    STEP_RESULT_RECORD,
    STEP_START_RECORD,
    StepFinishPayload,
    StepSuspendedPayload,
    WorkflowStepFinish,
    WorkflowStepSuspended,
)
from ..graph import StepNode, WorkflowGraph
from ..results import IterationMetadata, StepResult, TripwireInfo
from ..status import StepStatus
from ..tracing import end_span, start_span
from .nested import NestedSuspension, run_nested
from .state import ExecutionState, ResumeTarget, new_call_id, now_ms

if TYPE_CHECKING:
    from ..graph import StepLike

__all__ = [
    "NestedSuspension",
    "StepCall",
    "apply_state",
    "cancel_call",
    "invoke_step",
    "run_step",
    "start_step",
]

_NO_TRACING = TracingContext(None)
# set_state partials are applied when the step succeeds, bails or suspends; not when it fails.
_STATE_KEPT = frozenset({"success", "bailed", "suspended"})


class StepCall:
    """A started invocation: what its result event and ``StepResult`` repeat."""

    __slots__ = (
        "call_id",
        "context",
        "event_id",
        "events",
        "foreach_index",
        "input",
        "metadata",
        "resume_data",
        "resumed_at",
        "span",
        "started_at",
        "step",
        "suspend_data",
        "target",
    )

    def __init__(
        self,
        step: StepLike,
        event_id: str,
        input: Any,
        started_at: int,
        metadata: IterationMetadata | None,
        events: bool,
    ) -> None:
        self.step = step
        self.event_id = event_id
        self.input = input
        self.started_at = started_at
        self.metadata = metadata
        self.events = events
        self.call_id = new_call_id()
        self.resume_data: Any = None
        self.suspend_data: Any = None
        self.resumed_at: int | None = None
        # For a resumed nested workflow: the resume, one level down.
        self.target: ResumeTarget | None = None
        self.foreach_index: int | None = None
        self.span: Any = None  # this invocation's span, while the run is traced
        self.context: StepContext | None = None  # the latest attempt's context


def start_step(
    ex: ExecutionState,
    step: StepLike,
    input_data: Any,
    *,
    iteration: int | None = None,
    events: bool = True,
    resume_from: StepResult | None = None,
    target: ResumeTarget | None = None,
    foreach_index: int | None = None,
) -> StepCall:
    """Begin an invocation: emit ``workflow-step-start`` (unless ``events`` is off).

    With ``resume_from`` (the stored suspended result) and ``target``, the invocation resumes
    it: same ``startedAt``, ``resume_data`` and ``suspend_data`` set, a new call id.
    """
    event_id = ex.prefix + step.id
    metadata = IterationMetadata(iteration) if iteration is not None else None
    call = StepCall(step, event_id, input_data, now_ms(), metadata, events)
    call.foreach_index = foreach_index
    if resume_from is not None and target is not None:
        if resume_from.started_at is not None:
            call.started_at = resume_from.started_at
        call.resume_data = target.resume_data
        call.suspend_data = resume_from.suspend_payload
        suspend_schema = getattr(step, "suspend_schema", None)
        if suspend_schema is not None and call.suspend_data is not None:
            try:  # stored as plain data: give it its schema type back
                call.suspend_data = conform(call.suspend_data, suspend_schema)
            except (ValidationError, TypeError, ValueError):
                pass
        call.resumed_at = target.resumed_at
        call.target = target.inner()
    if events:
        # A compact record (see rxflow.events.build_event); field order is the record's.
        ex.scope.emit_record(
            (
                STEP_START_RECORD,
                ex.scope.run_id,
                event_id,
                call.call_id,
                input_data,
                call.started_at,
                call.resume_data,
                call.resumed_at,
                metadata,
            )
        )
    return call


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


def _failed(call: StepCall, error: BaseException, ended_at: int) -> StepResult:
    tripwire = TripwireInfo.from_exception(error) if isinstance(error, TripWire) else None
    return StepResult(
        status="failed",
        payload=call.input,
        error=error,
        started_at=call.started_at,
        ended_at=ended_at,
        resume_payload=call.resume_data,
        resumed_at=call.resumed_at,
        metadata=call.metadata,
        tripwire=tripwire,
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


def _ends_step(ex: ExecutionState, call: StepCall, error: Exception, retry: int) -> bool:
    """Whether ``error``, raised by attempt ``retry``, fails the step rather than retrying."""
    if isinstance(error, (TripWire, NonRetryableError)):
        return True
    step = call.step
    attempts = step.retries if step.retries is not None else ex.workflow.retry_config.attempts
    return retry >= attempts


async def _attempts(
    ex: ExecutionState, call: StepCall, input_data: Any, retry: int = 0
) -> StepResult:
    """Run the body (attempt ``retry`` onwards, each retry after the configured delay) until
    it no longer fails or retries run out; the step's result (its latest attempt's context is
    left on ``call.context``)."""
    step = call.step
    nested = isinstance(step, WorkflowGraph)
    while True:
        ctx: StepContext | None = None
        call.context = None
        try:
            if retry:  # waiting to retry is part of the step: a cancel here cancels the step
                delay = ex.workflow.retry_config.delay
                if delay:
                    await asyncio.sleep(delay / 1000)
            if nested:
                output = await run_nested(ex, call, input_data)
            else:
                ctx = call.context = _context(ex, call, input_data, retry)
                body = cast(StepNode, step).execute  # not a nested workflow: a plain step
                if step.is_async:
                    output = await body(ctx)
                else:
                    output = await asyncio.to_thread(body, ctx)
            return _outcome(ex, call, ctx, output)
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            return _finished(call, "canceled", None)
        except Exception as error:
            if ex.scope.absorb_cancel():  # raised while unwinding from the run's abort
                return _finished(call, "canceled", None)
            if _ends_step(ex, call, error, retry):
                return _failed(call, error, now_ms())
            retry += 1


def _outcome(
    ex: ExecutionState, call: StepCall, ctx: StepContext | None, output: Any
) -> StepResult:
    """The result of an attempt whose body returned ``output`` (or suspended through ``ctx``),
    checked against the step's output schema."""
    if ctx is not None and ctx._suspend is not None:
        _keep_labels(ex, call, ctx._suspend[1])
        return _suspended(call, ctx._suspend[0])
    if output.__class__ is Bail:
        return _finished(call, "bailed", output.value)
    if output.__class__ is NestedSuspension:
        return _suspended(call, output.payload)
    step = call.step
    if step.output_schema is not None:
        output = conform(output, step.output_schema, what=f"output of step '{step.id}'")
    return _finished(call, "success", output)


def _finished(call: StepCall, status: StepStatus, output: Any) -> StepResult:
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


def _suspended(call: StepCall, payload: Any) -> StepResult:
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


def _keep_labels(ex: ExecutionState, call: StepCall, labels: list[str] | None) -> None:
    """Remember ``resume_label``s so a resume can name the step (and item) by label."""
    if not labels:
        return
    where: dict[str, Any] = {"stepId": call.step.id}
    if call.foreach_index is not None:
        where["foreachIndex"] = call.foreach_index
    for label in labels:
        ex.labels[label] = where


def apply_state(ex: ExecutionState, ctx: StepContext | None) -> None:
    """Merge the invocation's ``set_state`` partials into the run state (a new dict)."""
    if ctx is None or not ctx._state_partials:
        return
    merged = dict(ex.state)
    for partial in ctx._state_partials:
        merged.update(partial)
    schema = ctx._step.state_schema or ex.workflow.state_schema
    if schema is not None:
        conform(merged, schema, what=f"state after step '{ctx._step.id}'")
    ex.state = merged


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
        # schema on its input; its first attempt runs here, any retry in ``_attempts``.
        first = call.context = _context(ex, call, call.input, 0)
        try:
            result = _outcome(ex, call, first, await step.execute(first))  # type: ignore[union-attr]
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            result = _finished(call, "canceled", None)
        except Exception as error:
            if ex.scope.absorb_cancel():  # raised while unwinding from the run's abort
                result = _finished(call, "canceled", None)
            elif _ends_step(ex, call, error, 0):
                result = _failed(call, error, now_ms())
            else:
                result = await _attempts(ex, call, call.input, retry=1)
    else:
        try:
            input_data = _checked_input(ex, call)
        except Exception as error:  # schema failures fail the step at once: no retry helps
            result = _failed(call, error, now_ms())
        else:
            result = await _attempts(ex, call, input_data)
    ctx = call.context
    if ctx is not None and ctx._state_partials and result.status in _STATE_KEPT:
        try:
            apply_state(ex, ctx)
        except Exception as error:  # the merged state breaks the state schema
            result = _failed(call, error, now_ms())
    if call.events:
        _emit_result(ex, call, result)
    if call.span is not None:
        end_span(call.span, token, result.status, result.error)
    return result


def cancel_call(ex: ExecutionState, call: StepCall) -> StepResult:
    """The result of an invocation canceled before its body could report; emits it."""
    result = _finished(call, "canceled", None)
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
