"""Public Rx interop (SPEC §14, §16): workflows and steps as reactivex operators.

``run_workflow`` and ``stream_workflow`` turn an Observable of inputs into the results, or the
events, of one run per input; ``step_operator`` (what ``Step.as_operator()`` returns) runs one
step body per input. All three share one bounded fan-out: at most ``concurrency`` inputs in
flight, the rest queued in arrival order, output in completion order, and disposing the
subscription cancels what it started. The engine's own operators live in ``rxflow.engine``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from .context import RequestContext
from .engine.invoke import invoke_step
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

_T = TypeVar("_T")
_R = TypeVar("_R")

Operator = Callable[[reactivex.Observable[_T]], reactivex.Observable[_R]]

# Cancellations scheduled by a disposal outlive the subscription that made them: keep them
# referenced until they finish (the loop itself holds tasks only weakly).
_background: set[asyncio.Task[None]] = set()


class _Job:
    """One input in flight: its task, and how to cancel what the task has started."""

    __slots__ = ("cancel", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        # Set by the job once it has started something that a plain task.cancel() would not
        # stop (a run's driver, a step's abort signal).
        self.cancel: Callable[[], None] | None = None


JobBody = Callable[[_T, _Job, Callable[[_R], None]], Coroutine[Any, Any, None]]
"""``job(value, handle, emit)``: process one input, calling ``emit`` with each output."""


def _check_concurrency(concurrency: object) -> int:
    if type(concurrency) is not int or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    return concurrency


def _running_loop(what: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} runs on the asyncio event loop running when it is subscribed, and none is "
            "running: subscribe from async code (inside a coroutine or a notebook cell)"
        ) from None


def _spawn(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]) -> None:
    task = loop.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


class _LoopObservable(reactivex.Observable[_T]):
    """An Observable that must be subscribed with a running asyncio loop.

    Subscribed directly without one, it raises ``RuntimeError`` at once (rather than sending it
    to ``on_error``); behind another operator, reactivex hands that error to ``on_error``.
    """

    def __init__(self, what: str, subscribe: abc.Subscription[_T]) -> None:
        super().__init__(subscribe)
        self._what = what

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        _running_loop(self._what)
        return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)


class _FanOut(abc.ObserverBase[_T], Generic[_T, _R]):
    """One subscription of :func:`_fan_out`: the source's observer, the queue, the jobs.

    Everything runs on the loop thread: source notifications from other threads (and a
    disposal from one) are moved onto the loop first.
    """

    def __init__(
        self,
        observer: abc.ObserverBase[_R],
        job_body: JobBody[_T, _R],
        concurrency: int,
        what: str,
    ) -> None:
        self._observer = observer
        self._job_body = job_body
        self._concurrency = concurrency
        self._what = what
        self._loop = _running_loop(what)
        self._loop_thread = threading.get_ident()
        self._queue: deque[_T] = deque()
        self._active: set[_Job] = set()
        self.upstream = SingleAssignmentDisposable()
        self._source_done = False
        self._stopped = False

    # -- from the source (any thread) --------------------------------------------------------

    def on_next(self, value: _T) -> None:
        self._on_loop(lambda: self._accept(value))

    def on_error(self, error: Exception) -> None:
        self._on_loop(lambda: self._fail(error))

    def on_completed(self) -> None:
        self._on_loop(self._complete)

    def dispose(self) -> None:
        self._on_loop(self._cancel_all)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)

    # -- on the loop ----------------------------------------------------------------------------

    def _accept(self, value: _T) -> None:
        if not self._stopped:
            self._queue.append(value)
            self._pump()

    def _complete(self) -> None:
        self._source_done = True
        self._pump()

    def _pump(self) -> None:
        """Start queued inputs while there is room; complete once everything has ended."""
        while not self._stopped and self._queue and len(self._active) < self._concurrency:
            self._launch(self._queue.popleft())
        if not self._stopped and self._source_done and not self._queue and not self._active:
            self._stopped = True
            self._observer.on_completed()

    def _launch(self, value: _T) -> None:
        job = _Job()
        task = self._loop.create_task(self._job_body(value, job, self._emit))
        job.task = task
        self._active.add(job)
        task.add_done_callback(lambda t: self._finished(job, t))

    def _emit(self, value: _R) -> None:
        if self._stopped:
            return
        try:
            self._observer.on_next(value)
        except Exception as error:  # a downstream bug ends the stream, not the engine
            self._fail(error)

    def _finished(self, job: _Job, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()  # always retrieve it
        self._active.discard(job)
        if self._stopped:
            return
        if task.cancelled():
            self._fail(RxflowError(f"{self._what}: a job was canceled from outside"))
        elif error is not None:
            self._fail(error if isinstance(error, Exception) else RxflowError(repr(error)))
        else:
            self._pump()

    def _fail(self, error: Exception) -> None:
        if self._stopped:
            return
        self._cancel_all()
        self._observer.on_error(error)

    def _cancel_all(self) -> None:
        """Stop: drop the queue, leave the source, cancel every job in flight."""
        self._stopped = True
        self._queue.clear()
        self.upstream.dispose()
        jobs = list(self._active)
        self._active.clear()
        for job in jobs:
            if job.cancel is not None:
                job.cancel()
            if job.task is not None:
                job.task.cancel()


def _fan_out(job_body: JobBody[_T, _R], concurrency: int, what: str) -> Operator[_T, _R]:
    """Run ``job_body`` per input, at most ``concurrency`` at once, in arrival order.

    Outputs come in completion order; the result completes once the source has completed and
    every job has finished. A job's exception, or the source's error, goes to ``on_error`` and
    cancels the jobs still in flight, as disposing does; queued inputs never start.
    """

    def operator(source: reactivex.Observable[_T]) -> reactivex.Observable[_R]:
        def subscribe(
            observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            fan_out = _FanOut(observer, job_body, concurrency, what)
            fan_out.upstream.disposable = source.subscribe(fan_out, scheduler=scheduler)
            return Disposable(fan_out.dispose)

        return _LoopObservable(what, subscribe)

    return operator


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

    async def job(value: Any, handle: _Job, emit: Callable[[WorkflowResult], None]) -> None:
        run = await workflow.create_run()
        loop = asyncio.get_running_loop()
        handle.cancel = lambda: _spawn(loop, run.cancel())
        emit(await run.start(input_data=value))

    return _fan_out(job, concurrency, f"run_workflow({workflow.id!r})")


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

    async def job(value: Any, handle: _Job, emit: Callable[[Event], None]) -> None:
        run = await workflow.create_run()
        loop = asyncio.get_running_loop()
        handle.cancel = lambda: _spawn(loop, run.cancel())
        output = run.stream(input_data=value)
        ended: asyncio.Future[None] = loop.create_future()

        def end() -> None:
            if not ended.done():
                ended.set_result(None)

        subscription = output.events.subscribe(emit, on_completed=end)
        try:
            await ended
        finally:
            subscription.dispose()
        await output.result  # raises the error of a run that could not start

    return _fan_out(job, concurrency, f"stream_workflow({workflow.id!r})")


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

    async def job(value: Any, handle: _Job, emit: Callable[[Any], None]) -> None:
        run_id = new_run_id()
        scope = RunScope(
            run_id=run_id,
            workflow_id=step.id,
            resource_id=None,
            emit=_drop,
            request_context=RequestContext(),
            loop=asyncio.get_running_loop(),
            on_abort_request=lambda: _abort(scope, handle),
        )
        scope.can_suspend = False
        handle.cancel = scope.fire_abort
        ex = ExecutionState(scope=scope, program=home, run_id=run_id, input=value)
        result = await invoke_step(ex, step, value, events=False)
        if scope.aborted:
            raise RxflowError(f"step '{step.id}' was aborted (ctx.abort()) in its operator")
        if result.status in OUTPUT_STATUSES:  # a bail value counts as an output
            emit(result.output)
            return
        error = result.error
        if isinstance(error, BaseException):
            raise error
        raise RxflowError(f"step '{step.id}' ended {result.status} in its operator: {error!r}")

    return _fan_out(job, concurrency, f"step {step.id!r} as an operator")


def _drop(event: Any) -> None:
    """The event channel of a step run as an operator: nothing listens."""


def _abort(scope: RunScope, handle: _Job) -> None:
    """``ctx.abort()`` in a step run as an operator: stop its body like a run's cancel."""
    scope.fire_abort()
    if handle.task is not None:
        handle.task.cancel()
