"""Public Rx interop: ``run_workflow``, ``stream_workflow`` (a run per input) and
``step_operator`` (a step body per input), each a bounded fan-out over its inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from .context import RequestContext
from .engine.fanout import Operator, Worker, fan_out
from .engine.invoke import compile_step
from .engine.program import compile_program
from .engine.state import ExecutionState, RunScope, new_run_id
from .errors import RxflowError
from .events import Event
from .graph import WorkflowGraph
from .results import WorkflowResult
from .status import OUTPUT_STATUSES
from .step import Step
from .workflow import Workflow

__all__ = ["run_workflow", "step_operator", "stream_workflow"]

# Cancellations scheduled by a disposal outlive the subscription that made them: keep them
# referenced until they finish (the loop itself holds tasks only weakly).
_background: set[asyncio.Task[None]] = set()


def _check_concurrency(concurrency: object) -> int:
    if type(concurrency) is not int or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    return concurrency


def _spawn(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]) -> None:
    task = loop.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


def run_workflow(workflow: Workflow, concurrency: int = 1) -> Operator[Any, WorkflowResult]:
    """An operator running ``workflow`` once per input; emits each run's ``WorkflowResult``.

    At most ``concurrency`` runs are in flight; further inputs wait in arrival order and start
    as runs finish. Results come in completion order, whatever their status (a failed or
    canceled run is a result, not an error). Only an error that keeps a run from starting
    (``rxflow.ValidationError`` for a bad input, say) goes to ``on_error``; it, like a source
    error, ends the output and cancels the runs still going. The output completes once the
    source has completed and every run has finished.

    It runs on the asyncio loop running when it is subscribed (subscribing without one raises
    ``RuntimeError``). Disposing the subscription cancels the runs it started (``run.cancel()``
    is scheduled on that loop); queued inputs never start. ::

        source.pipe(
            run_workflow(wf, concurrency=4),
            ops.filter(lambda result: result.status == "success"),
            ops.map(lambda result: result.result),
        ).subscribe(print)
    """
    _check_concurrency(concurrency)

    async def job(value: Any, worker: Worker[WorkflowResult]) -> None:
        run = await workflow.create_run()
        loop = asyncio.get_running_loop()
        worker.on_cancel = lambda: _spawn(loop, run.cancel())
        worker.emit(await run.start(input_data=value))

    return fan_out(job, concurrency, f"run_workflow({workflow.id!r})")


def stream_workflow(workflow: Workflow, concurrency: int = 1) -> Operator[Any, Event]:
    """An operator running ``workflow`` once per input; emits the events of the runs, merged.

    Each run's events arrive in order, from ``workflow-start`` to ``workflow-finish``; runs in
    flight at once interleave. Concurrency, queueing, completion, loop and disposal behave as
    in :func:`run_workflow`. A run that fails before executing (a bad input) forwards its
    ``workflow-start`` and failed ``workflow-finish``, then sends its error to ``on_error``. ::

        inputs.pipe(
            stream_workflow(wf, concurrency=2),
            ops.filter(lambda chunk: chunk.type == "workflow-step-result"),
        ).subscribe(lambda chunk: print(chunk.payload.id, chunk.payload.status))
    """
    _check_concurrency(concurrency)

    async def job(value: Any, worker: Worker[Event]) -> None:
        run = await workflow.create_run()
        loop = asyncio.get_running_loop()
        worker.on_cancel = lambda: _spawn(loop, run.cancel())
        output = run.stream(input_data=value)
        ended: asyncio.Future[None] = loop.create_future()

        def end() -> None:
            if not ended.done():
                ended.set_result(None)

        subscription = output.events.subscribe(worker.emit, on_completed=end)
        try:
            await ended
        finally:
            subscription.dispose()
        await output.result  # raises the error of a run that could not start

    return fan_out(job, concurrency, f"stream_workflow({workflow.id!r})")


def step_operator(step: Step, concurrency: int = 1) -> Operator[Any, Any]:
    """An operator running ``step``'s body once per input; emits the body's outputs.

    This is what ``Step.as_operator()`` returns. Each input gets a minimal context: a fresh run
    id, an empty request context and run state, no storage. The step's schemas and retries
    apply as in a workflow (``ctx.workflow_id`` is the step's id). An output goes to
    ``on_next`` (a bail value counts as an output); the error of a failed invocation goes to
    ``on_error`` and ends the output. ``ctx.suspend()`` raises ``RxflowError`` (nothing could
    resume it), and ``ctx.abort()`` ends the output with an ``RxflowError``. What the body
    writes with ``ctx.writer`` and records with ``ctx.record_usage`` is dropped: there is no
    run stream to carry it.

    Inputs are processed ``concurrency`` at a time (one by one, in order, by default); outputs
    come in completion order. Subscribing needs a running asyncio loop; disposing cancels the
    bodies in flight (they see ``CancelledError``). ::

        reactivex.from_iterable([1, 2, 3]).pipe(double.as_operator()).subscribe(print)
    """
    if isinstance(step, Workflow) or not isinstance(step, Step):
        raise TypeError(
            f"step_operator expects a Step, got {step!r} (run a workflow with run_workflow)"
        )
    _check_concurrency(concurrency)
    # Holds what the engine reads from a workflow (its id, retry config, state schema).
    home = compile_program(WorkflowGraph(id=step.id))
    invoker = compile_step(step)

    async def job(value: Any, worker: Worker[Any]) -> None:
        run_id = new_run_id()
        scope = RunScope(
            run_id=run_id,
            workflow_id=step.id,
            resource_id=None,
            emit=_drop,
            request_context=RequestContext(),
            loop=asyncio.get_running_loop(),
            on_abort_request=lambda: _abort(scope, worker),
        )
        scope.can_suspend = False
        worker.on_cancel = scope.fire_abort
        ex = ExecutionState(scope=scope, program=home, run_id=run_id, input=value)
        result = await invoker.invoke(ex, value, events=False)
        if scope.aborted:
            raise RxflowError(f"step '{step.id}' was aborted (ctx.abort()) in its operator")
        if result.status in OUTPUT_STATUSES:  # a bail value counts as an output
            worker.emit(result.output)
            return
        error = result.error
        if isinstance(error, BaseException):
            raise error
        raise RxflowError(f"step '{step.id}' ended {result.status} in its operator: {error!r}")

    return fan_out(job, concurrency, f"step {step.id!r} as an operator")


def _drop(event: Any) -> None:
    """The event channel of a step run as an operator: nothing listens."""


def _abort(scope: RunScope, worker: Worker[Any]) -> None:
    """``ctx.abort()`` in a step run as an operator: stop its body like a run's cancel."""
    scope.fire_abort()
    if worker.task is not None:
        worker.task.cancel()
