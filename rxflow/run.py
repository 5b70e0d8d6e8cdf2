"""``Run``: one execution of a workflow (SPEC §4): start, stream, cancel, watch, observe.

A run owns a hot Subject of events. Starting it validates the input, then subscribes the
workflow's compiled program (an operator) to a one-state source on the running loop; the
program's driver coroutine emits events into the Subject, and the outputs listening to it turn
them into streams. When the driver returns, the run builds the ``WorkflowResult`` and ends the
outputs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.subject import Subject

from .context import RequestContext, TracingContext
from .convert import conform
from .engine.state import ExecutionState, RunScope, new_run_id
from .errors import RxflowError
from .events import EmptyPayload, UsageRecorded, WorkflowCanceled
from .output import WorkflowRunOutput
from .results import WorkflowResult

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["Run"]

_log = logging.getLogger("rxflow")

FINISHED = frozenset({"success", "failed", "canceled", "tripwire"})


class _EventBus(Subject[Any]):
    """The run's hot Subject of events.

    Events are only emitted on the loop thread, so ``on_next`` skips ``Subject``'s locking and
    copying. The run's own listeners (its outputs, ``watch`` callbacks) attach as plain sinks,
    which spares them a full Rx subscription each; Rx subscribers use ``subscribe`` as usual.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sinks: tuple[Callable[[Any], None], ...] = ()

    def attach(self, sink: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``sink`` with every event from now on; returns the function that detaches it."""
        self._sinks = (*self._sinks, sink)

        def detach() -> None:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

        return detach

    def on_next(self, value: Any) -> None:
        for sink in self._sinks:
            sink(value)
        if self.observers:
            for observer in list(self.observers):
                observer.on_next(value)


class Run:
    """One run of a workflow. Create it with ``await workflow.create_run()``."""

    def __init__(self, workflow: Workflow, run_id: str, resource_id: str | None) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.workflow_id = workflow.id
        self.resource_id = resource_id
        self._status = "pending"
        self._bus = _EventBus()
        self._output: WorkflowRunOutput | None = None
        self._open_outputs: list[WorkflowRunOutput] = []
        self._scope: RunScope | None = None
        self._driver: asyncio.Task[Any] | None = None
        self._done: asyncio.Future[WorkflowResult] | None = None
        self._watchers = 0

    @classmethod
    async def create(cls, workflow: Workflow, *, run_id: str | None, resource_id: str | None) -> Run:
        return cls(workflow, run_id or new_run_id(), resource_id)

    @property
    def status(self) -> str:
        """``pending`` before it starts, then ``running`` and its final status."""
        return self._status

    def __repr__(self) -> str:
        return f"<Run {self.workflow_id}/{self.run_id} {self._status}>"

    # -- starting ---------------------------------------------------------------------------

    async def start(
        self,
        input_data: Any = None,
        initial_state: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        tracing_context: TracingContext | None = None,
        tracing_options: Any = None,
    ) -> WorkflowResult:
        """Run to the end (or a suspension) and return the ``WorkflowResult``.

        Raises ``ValidationError`` for bad input, initial state or request context.
        """
        ex = self._prepare(input_data, initial_state, request_context)
        output = self._new_output(close_on_suspend=True, history_limit=None)
        self._launch(ex)
        return await output.result  # type: ignore[no-any-return]

    def stream(
        self,
        input_data: Any = None,
        initial_state: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        tracing_context: TracingContext | None = None,
        tracing_options: Any = None,
        close_on_suspend: bool = True,
        history_limit: int | None = None,
    ) -> WorkflowRunOutput:
        """Start the run now and return its live output (the same output on a second call).

        Errors before execution (bad input...) do not raise here: the output reports them
        with a failed ``workflow-finish`` and ``await output.result`` raises them.
        """
        if self._output is not None:
            return self._output
        output = self._new_output(close_on_suspend=close_on_suspend, history_limit=history_limit)
        try:
            ex = self._prepare(input_data, initial_state, request_context)
        except RxflowError as error:
            self._status = "failed"
            self._open_outputs.remove(output)
            output._fail_before_execution(error)
            return output
        self._launch(ex)
        return output

    def _new_output(self, *, close_on_suspend: bool, history_limit: int | None) -> WorkflowRunOutput:
        if self._status != "pending":
            raise RxflowError(
                f"run '{self.run_id}' was already started; create a new run to run again"
            )
        output = WorkflowRunOutput(
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            close_on_suspend=close_on_suspend,
            history_limit=history_limit,
        )
        output._detach = self._bus.attach(output._on_event)
        self._output = output
        self._open_outputs.append(output)
        return output

    def _prepare(
        self,
        input_data: Any,
        initial_state: Mapping[str, Any] | None,
        request_context: RequestContext | Mapping[str, Any] | None,
    ) -> ExecutionState:
        """Validate what the caller gave (raising ``ValidationError``) and set up the state."""
        if self._status != "pending":
            raise RxflowError(
                f"run '{self.run_id}' was already started; create a new run to run again"
            )
        workflow = self.workflow
        if request_context is None:
            context = RequestContext()
        elif isinstance(request_context, RequestContext):
            context = request_context
        elif isinstance(request_context, Mapping):
            context = RequestContext(request_context)
        else:
            raise TypeError(
                f"request_context must be a RequestContext or a mapping, got {request_context!r}"
            )
        if initial_state is not None and not isinstance(initial_state, Mapping):
            raise TypeError(f"initial_state must be a mapping, got {initial_state!r}")
        if workflow.input_schema is not None:
            input_data = conform(
                input_data, workflow.input_schema, what=f"input of workflow '{workflow.id}'"
            )
        state = dict(initial_state) if initial_state else {}
        if workflow.state_schema is not None:
            conform(state, workflow.state_schema, what=f"initial state of workflow '{workflow.id}'")
        if workflow.request_context_schema is not None:
            conform(
                context.to_dict(),
                workflow.request_context_schema,
                what=f"request context of workflow '{workflow.id}'",
            )
        loop = asyncio.get_running_loop()
        scope = RunScope(
            run_id=self.run_id,
            workflow_id=workflow.id,
            resource_id=self.resource_id,
            emit=self._bus.on_next,
            request_context=context,
            loop=loop,
            on_abort_request=self._abort,
        )
        scope.watched = self._watchers > 0
        self._scope = scope
        return ExecutionState(
            scope=scope, workflow=workflow, run_id=self.run_id, input=input_data, state=state
        )

    def _launch(self, ex: ExecutionState, start: int = 0) -> None:
        """Subscribe the workflow's program to this execution on the running loop."""
        self._status = "running"
        self._done = asyncio.get_running_loop().create_future()
        program = self.workflow.program

        async def drive(state: ExecutionState) -> None:
            self._driver = asyncio.current_task()
            await program.drive(state, start)

        from .engine.operator import coroutine_operator

        _just(ex).pipe(coroutine_operator(drive)).subscribe(
            on_next=self._on_engine_done,
            on_error=lambda error: self._on_engine_error(ex, error),
        )

    # -- ending -------------------------------------------------------------------------------

    def _on_engine_error(self, ex: ExecutionState, error: Exception | BaseException) -> None:
        """The driver itself ended abnormally: canceled under an abort, else a failure."""
        if isinstance(error, asyncio.CancelledError) and ex.scope.abort_signal.aborted:
            ex.status = "canceled"
        else:
            ex.fail(error)
        self._on_engine_done(ex)

    def _on_engine_done(self, ex: ExecutionState) -> None:
        self._driver = None
        result = self._build_result(ex)
        if result.status == "canceled":
            self._bus.on_next(WorkflowCanceled(run_id=self.run_id, payload=EmptyPayload()))
        self._status = result.status
        self._end_outputs(result)
        if self._done is not None and not self._done.done():
            self._done.set_result(result)

    def _end_outputs(self, result: WorkflowResult) -> None:
        keep: list[WorkflowRunOutput] = []
        for output in self._open_outputs:
            if result.status == "suspended" and not output.close_on_suspend:
                keep.append(output)  # fed again by a later resume of this run
            else:
                output._finish(result)
        self._open_outputs = keep

    def _build_result(self, ex: ExecutionState) -> WorkflowResult:
        status = "success" if ex.status == "bailed" else ex.status
        value = ex.value
        error = ex.error
        if status == "success" and ex.status != "bailed" and self.workflow.output_schema is not None:
            try:
                value = conform(
                    value,
                    self.workflow.output_schema,
                    what=f"output of workflow '{self.workflow.id}'",
                )
            except RxflowError as exc:
                status, error = "failed", exc
        result = WorkflowResult(
            status=status,
            run_id=self.run_id,
            input=ex.input,
            steps=dict(ex.step_results),
            step_execution_path=list(ex.execution_path),
            state=ex.state,
            result=value if status == "success" else None,
            error=error if status == "failed" else None,
            tripwire=ex.tripwire if status == "tripwire" else None,
        )
        if status == "tripwire":
            result = _with(result, error=None)
        if status == "suspended":
            result = _with(
                result,
                suspended=[[sid, *ex.nested_paths.get(sid, ())] for sid in ex.suspended],
                suspend_payload=dict(ex.suspended),
            )
        return result

    # -- control --------------------------------------------------------------------------------

    def _abort(self) -> None:
        """Cancel requested (``run.cancel()`` or ``ctx.abort()``), on the loop thread."""
        scope = self._scope
        if scope is None or self._status in FINISHED:
            return
        scope.abort_signal._fire()
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()

    async def cancel(self) -> None:
        """Cancel the run: in-flight async bodies see ``CancelledError``, sleeps end at once,
        queued foreach items never start; status becomes ``canceled``.

        Returns once the run has ended. Canceling a finished run does nothing.
        """
        if self._status in FINISHED:
            return
        if self._status == "pending":
            self._status = "canceled"
            return
        self._abort()
        if self._done is not None and self._status == "running":
            await asyncio.shield(self._done)

    def watch(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback`` with every raw engine event (``workflow-step-finish`` included).

        Returns a function that stops watching.
        """
        self._watchers += 1
        if self._scope is not None:
            self._scope.watched = True

        def on_next(event: Any) -> None:
            if event.__class__ is UsageRecorded:
                return
            try:
                callback(event)
            except Exception:  # a watcher's bug must not break the run
                _log.exception("run.watch callback raised; the run goes on")

        detach = self._bus.attach(on_next)
        stopped = False

        def unsubscribe() -> None:
            nonlocal stopped
            if stopped:
                return
            stopped = True
            detach()
            self._watchers -= 1
            if self._scope is not None:
                self._scope.watched = self._watchers > 0

        return unsubscribe

    def observe_stream(self) -> WorkflowRunOutput | None:
        """The latest output of this run (a replay of its ``stream``), or ``None``."""
        return self._output



def _just(value: Any) -> reactivex.Observable[Any]:
    """A one-value source (``reactivex.just`` without its scheduling: emits on subscribe)."""

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        observer.on_next(value)
        observer.on_completed()
        return Disposable()

    return reactivex.create(subscribe)


def _with(result: WorkflowResult, **changes: Any) -> WorkflowResult:
    import attrs

    return attrs.evolve(result, **changes)
