"""How a step's invocations run, chosen once per step when its program is compiled: a plain
``async def`` body, a checked one (schemas to apply), a thread (a plain ``def`` body), a nested
workflow, or an executor's. Each strategy runs a started invocation to its finished result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from inspect import isawaitable
from typing import Any, Literal

from ..context import Bail, StepContext, TracingContext
from ..convert import conform
from ..executors.protocol import Executor
from ..graph import StepLike, StepNode, WorkflowGraph
from ..results import StepResult
from ..thread_context import ThreadStepContext
from .call import StepCall, canceled, failed, finished, keep_labels, suspended
from .nested import NestedSuspension, run_nested
from .report import finish, open_span
from .retry import Attempt, retry_after, run_attempts
from .state import ExecutionState
from .threads import in_thread

__all__ = ["StepKind", "Strategy", "choose_strategy"]

#: Runs a started invocation to its end (events, state and span included); its result.
Strategy = Callable[[ExecutionState, StepCall], Coroutine[Any, Any, StepResult]]
#: The kinds of step, one strategy each.
StepKind = Literal["plain", "checked", "thread", "nested", "remote"]

_NO_TRACING = TracingContext(None)


def choose_strategy(step: StepLike, executor: Executor | None = None) -> tuple[StepKind, Strategy]:
    """What kind of step ``step`` is, and the strategy its invocations run with. An executor
    that runs bodies in this process leaves the choice to the step's body."""
    if isinstance(step, WorkflowGraph):
        return "nested", _nested(step)
    if executor is not None and not executor.in_process:
        return "remote", _remote(step, executor)
    if not step.is_async:
        return "thread", _thread(step)
    if (
        step.input_schema is None
        and step.request_context_schema is None
        and step.output_schema is None
    ):
        return "plain", _plain(step)
    return "checked", _checked(step)


def _plain(step: StepNode) -> Strategy:
    """An ``async def`` body with no schema: awaited on the loop. The first attempt runs in
    the invocation's own coroutine; only a failure enters the retry loop."""
    body = step.execute

    async def attempt(
        ex: ExecutionState, call: StepCall, input_data: Any, retry: int
    ) -> StepResult:
        ctx = call.context = _context(ex, call, step, input_data, retry)
        return _returned(ex, call, ctx, await body(ctx))

    async def run(ex: ExecutionState, call: StepCall) -> StepResult:
        token = open_span(ex, call) if ex.scope.tracing and call.events else None
        ctx = call.context = _context(ex, call, step, call.input, 0)
        try:
            output = await body(ctx)
            if ctx.suspension is None and output.__class__ is not Bail:  # the common end
                result = finished(call, "success", output)
            else:
                result = _returned(ex, call, ctx, output)
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            result = canceled(call)
        except Exception as error:
            result = await retry_after(ex, call, error, attempt, call.input)
        return finish(ex, call, result, token)

    return run


def _checked(step: StepNode) -> Strategy:
    """An ``async def`` body with schemas: the request context and input are checked first
    (a mismatch fails the step, no retry helps), the output after each attempt."""
    body = step.execute

    async def attempt(
        ex: ExecutionState, call: StepCall, input_data: Any, retry: int
    ) -> StepResult:
        ctx = call.context = _context(ex, call, step, input_data, retry)
        return _checked_output(ex, call, step, ctx, await body(ctx))

    async def run(ex: ExecutionState, call: StepCall) -> StepResult:
        token = open_span(ex, call) if ex.scope.tracing and call.events else None
        try:
            input_data = _checked_input(ex, call, step)
        except Exception as error:
            return finish(ex, call, failed(call, error), token)
        ctx = call.context = _context(ex, call, step, input_data, 0)
        try:
            result = _checked_output(ex, call, step, ctx, await body(ctx))
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            result = canceled(call)
        except Exception as error:
            result = await retry_after(ex, call, error, attempt, input_data)
        return finish(ex, call, result, token)

    return run


def _thread(step: StepNode) -> Strategy:
    """A plain ``def`` body: run in a worker thread of the run (``threads.in_thread``, so
    context variables follow), schemas checked as for an async body. An awaitable it returns
    (a lambda returning a coroutine, ``return ctx.suspend(...)``) is awaited on the loop: its
    value is the output."""
    body = step.execute

    async def attempt(
        ex: ExecutionState, call: StepCall, input_data: Any, retry: int
    ) -> StepResult:
        ctx = call.context = _context(ex, call, step, input_data, retry, ThreadStepContext)
        output = await in_thread(ex.scope, body, ctx)
        if isawaitable(output):
            output = await output
        return _checked_output(ex, call, step, ctx, output)

    return _attempting(step, attempt)


def _remote(step: StepNode, executor: Executor) -> Strategy:
    """A body an executor runs elsewhere: every attempt hands the step context to
    ``executor.run``, which applies what the body did to it; schemas are checked here."""
    run_body = executor.run

    async def attempt(
        ex: ExecutionState, call: StepCall, input_data: Any, retry: int
    ) -> StepResult:
        ctx = call.context = _context(ex, call, step, input_data, retry)
        return _checked_output(ex, call, step, ctx, await run_body(step, ctx))

    return _attempting(step, attempt)


def _nested(graph: WorkflowGraph) -> Strategy:
    """A nested workflow: its program runs inside this invocation (see ``nested``); a child
    that suspends suspends the step."""

    async def attempt(
        ex: ExecutionState, call: StepCall, input_data: Any, retry: int
    ) -> StepResult:
        output = await run_nested(ex, call, input_data)
        if output.__class__ is NestedSuspension:
            return suspended(call, output.payload)
        if graph.output_schema is not None:
            output = conform(output, graph.output_schema, what=f"output of step '{graph.id}'")
        return finished(call, "success", output)

    return _attempting(graph, attempt)


def _attempting(step: StepLike, attempt: Attempt) -> Strategy:
    """A strategy whose every attempt, the first one included, runs in the retry loop (the
    loop's coroutine is small next to a thread hop or a nested program)."""

    async def run(ex: ExecutionState, call: StepCall) -> StepResult:
        token = open_span(ex, call) if ex.scope.tracing and call.events else None
        try:
            input_data = _checked_input(ex, call, step)
        except Exception as error:  # schema failures fail the step at once: no retry helps
            return finish(ex, call, failed(call, error), token)
        return finish(ex, call, await run_attempts(ex, call, attempt, input_data, 0), token)

    return run


def _context(
    ex: ExecutionState,
    call: StepCall,
    step: StepNode,
    input_data: Any,
    retry: int,
    kind: type[StepContext] = StepContext,
) -> StepContext:
    return kind(
        ex,
        input_data,
        retry,
        _NO_TRACING if call.span is None else TracingContext(call.span),
        ex.state,
        step,
        call.resume_data,
        call.suspend_data,
    )


def _checked_input(ex: ExecutionState, call: StepCall, step: StepLike) -> Any:
    """The step's input in its ``input_schema`` type, after checking the request context
    against the step's schema (raises ``ValidationError``)."""
    if step.request_context_schema is not None:
        conform(
            ex.scope.request_context.to_dict(),
            step.request_context_schema,
            what=f"request context of step '{step.id}'",
        )
    if step.input_schema is not None:
        return conform(call.input, step.input_schema, what=f"input of step '{step.id}'")
    return call.input


def _returned(ex: ExecutionState, call: StepCall, ctx: StepContext, output: Any) -> StepResult:
    """The result of an attempt whose body returned ``output``: suspended (the body called
    ``suspend``), bailed (it returned ``ctx.bail(v)``) or success."""
    suspension = ctx.suspension
    if suspension is not None:
        keep_labels(ex, call, suspension[1])
        return suspended(call, suspension[0])
    if output.__class__ is Bail:
        return finished(call, "bailed", output.value)
    return finished(call, "success", output)


def _checked_output(
    ex: ExecutionState, call: StepCall, step: StepNode, ctx: StepContext, output: Any
) -> StepResult:
    """Like ``_returned``, with a successful output checked against the output schema."""
    schema = step.output_schema
    if schema is not None and ctx.suspension is None and output.__class__ is not Bail:
        output = conform(output, schema, what=f"output of step '{step.id}'")
    return _returned(ex, call, ctx, output)
