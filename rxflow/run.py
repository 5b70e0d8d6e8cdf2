"""``Run``: one execution of a workflow (SPEC §4): start, stream, resume, cancel, restart.

A run owns a hot Subject of events. Starting it validates the input, then subscribes the
workflow's compiled program (an operator) to a one-state source on the running loop; the
program's driver coroutine emits events into the Subject, and the outputs listening to it turn
them into streams. When the driver returns, the run stores the final snapshot, builds the
``WorkflowResult`` and ends the outputs. A resume (in this process or another one with the same
storage) claims the suspended run by compare-and-set in storage, rebuilds the execution from its
snapshot and continues it the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
from opentelemetry import context as otel_context
from opentelemetry import trace
from reactivex.subject import Subject

from .context import RequestContext, TracingContext
from .convert import conform
from .engine.operator import coroutine_observable
from .engine.outcome import build_result
from .engine.persist import Persister
from .engine.state import ExecutionState, ResumeTarget, RunScope, new_run_id, now_ms
from .errors import ResumeAlreadyClaimedError, ResumeError, RxflowError, StorageError
from .events import EmptyPayload, EventRecord, UsageRecorded, WorkflowCanceled, build_event
from .graph_changes import snapshot_for_graph
from .output import WorkflowRunOutput
from .results import StepResult, WorkflowResult
from .resume import StepSelector, load_checked, path_of, plan_resume, release_claim
from .snapshot import WireCache, build_snapshot, pending_snapshot, restore_execution
from .status import ResultStatus, RunStatus
from .stored import load_snapshot, persist_snapshot, stored_run, update_status
from .tracing import TracingOptions, end_span, run_span, span_ids

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["Run"]

_log = logging.getLogger("rxflow")

FINISHED: frozenset[RunStatus] = frozenset({"success", "failed", "canceled", "tripwire"})


class _EventBus(Subject[Any]):
    """The run's hot Subject of events.

    Events are only emitted on the loop thread, so ``on_next`` skips ``Subject``'s locking and
    copying. The run's own listeners (its outputs, ``watch`` callbacks) attach as plain sinks,
    which spares them a full Rx subscription each; Rx subscribers use ``subscribe`` as usual.
    """

    _shared_lock = threading.RLock()

    def __init__(self) -> None:
        super().__init__()
        # One lock for every run's bus (it guards Rx subscribe/dispose, rarely contended):
        # fewer long-lived objects per run for the garbage collector to traverse.
        self.lock = self._shared_lock
        self._sinks: tuple[Callable[[Any], None], ...] = ()
        self._record_sinks: tuple[Callable[[EventRecord], None] | None, ...] = ()
        self._objects_only = False  # a sink takes only event objects: build records for all

    def attach(
        self,
        sink: Callable[[Any], None],
        record_sink: Callable[[EventRecord], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``sink`` with every event from now on; returns the function that detaches it.

        A sink that also gives ``record_sink`` is handed compact step records as they are.
        """
        self._sinks = (*self._sinks, sink)
        self._record_sinks = (*self._record_sinks, record_sink)
        self._objects_only = None in self._record_sinks

        def detach() -> None:
            for index, attached in enumerate(self._sinks):
                if attached is sink:
                    sinks, records = self._sinks, self._record_sinks
                    self._sinks = sinks[:index] + sinks[index + 1 :]
                    self._record_sinks = records[:index] + records[index + 1 :]
                    self._objects_only = None in self._record_sinks
                    return

        return detach

    def on_record(self, record: EventRecord) -> None:
        """A step start or result as a compact record: record sinks keep it as it is; if any
        listener wants objects, everyone gets the built event."""
        if self._objects_only or self.observers:
            self.on_next(build_event(record))
            return
        for sink in self._record_sinks:
            sink(record)  # type: ignore[misc]  # no None among them (_objects_only)

    def on_next(self, value: Any) -> None:
        for sink in self._sinks:
            sink(value)
        if self.observers:
            for observer in list(self.observers):
                observer.on_next(value)


class _Segment:
    """One stretch of execution (the start, or a resume/restart): what its driver needs, and
    what the run needs at its end.

    It carries everything as attributes rather than closures: with many runs in flight, each
    closure cell and function object is one more object for the cycle collector to walk.
    """

    __slots__ = (
        "_waiter",
        "ended",
        "ex",
        "persister",
        "result",
        "resume",
        "resumed_from",
        "run",
        "running_status",
        "span",
        "tracing",
    )

    def __init__(
        self,
        run: Run,
        ex: ExecutionState,
        resume: tuple[int, ResumeTarget | None] | None,
        tracing: _Tracing,
        resumed_from: Mapping[str, Any] | None,
        running_status: RunStatus,
    ) -> None:
        self.run: Run | None = run  # dropped at the end (the run holds its segments)
        self.ex = ex
        self.resume = resume
        self.tracing = tracing
        self.resumed_from = resumed_from
        self.running_status = running_status
        storage = run.workflow.storage
        self.persister = Persister(
            storage,
            workflow_id=run.workflow_id,
            run_id=run.run_id,
            resource_id=run.resource_id,
            build=self.snapshot,
            live_build=self.live_snapshot,
        )
        self.result: WorkflowResult | None = None
        self.ended = False
        self.span: Any = None  # the segment's run span, while it records
        self._waiter: asyncio.Future[WorkflowResult] | None = None  # made when awaited

    @property
    def cache(self) -> WireCache:
        """Wire forms of this segment's step results (the persister's: steps of a durable run
        are converted as they end, and snapshots reuse that)."""
        return self.persister.cache

    def snapshot(self) -> dict[str, Any]:
        """The snapshot of the execution as it is now (the persister's mark-driven writes)."""
        return build_snapshot(
            self.ex,
            self.running_status,
            self.cache,
            now_ms(),
            tracing_context=self.tracing_context(),
        )

    def live_snapshot(self) -> dict[str, Any]:
        """The same for the in-memory store, which reads step results as objects."""
        return build_snapshot(
            self.ex,
            "running",
            self.cache,
            now_ms(),
            tracing_context=self.tracing_context(),
            live=True,
        )

    def done(self, result: WorkflowResult) -> None:
        """The driver returned the segment's result."""
        self.result = result
        if self.run is not None:
            self.run._end_segment(self)

    def failed(self, error: Exception | BaseException) -> None:
        """The driver itself ended abnormally."""
        if self.run is not None:
            self.run._segment_failed(self, error)

    def end(self, result: WorkflowResult) -> None:
        self.result, self.ended = result, True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(result)

    def outcome(self) -> asyncio.Future[WorkflowResult]:
        """A future of the segment's final result (resolved once the segment has ended)."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
            if self.ended:
                assert self.result is not None
                self._waiter.set_result(self.result)
        return self._waiter

    def tracing_context(self) -> dict[str, str] | None:
        """``{traceId, spanId}`` of the run span, kept in snapshots to link a resume to it."""
        trace_id, span_id = span_ids(self.span)
        return {"traceId": trace_id, "spanId": span_id} if trace_id and span_id else None


class Run:
    """One run of a workflow. Create it with ``await workflow.create_run()``."""

    def __init__(
        self,
        workflow: Workflow,
        run_id: str,
        resource_id: str | None,
        status: RunStatus = "pending",
    ) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.workflow_id = workflow.id
        self.resource_id = resource_id
        self._status = status
        self._bus = _EventBus()
        self._output: WorkflowRunOutput | None = None
        self._open_outputs: list[WorkflowRunOutput] = []
        self._scope: RunScope | None = None
        self._segment: _Segment | None = None
        self._driver: asyncio.Task[Any] | None = None
        self._watchers = 0

    @classmethod
    async def create(
        cls, workflow: Workflow, *, run_id: str | None, resource_id: str | None
    ) -> Run:
        """A new run (its ``pending`` snapshot stored), or the stored run ``run_id``."""
        storage = workflow.storage
        if run_id is not None:
            record = await stored_run(storage, workflow.id, run_id)
            if record is not None:
                owner = resource_id if resource_id is not None else record.resource_id
                return cls(workflow, run_id, owner, status=record.status)
        run = cls(workflow, run_id or new_run_id(), resource_id)
        await persist_snapshot(
            storage,
            workflow.id,
            run.run_id,
            pending_snapshot(workflow.graph, run.run_id, now_ms()),
            resource_id=resource_id,
        )
        return run

    @property
    def status(self) -> RunStatus:
        """``pending`` before it starts, then ``running``, ``suspended`` and its final status."""
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
        self._check_startable()
        tracing = _tracing(tracing_context, tracing_options)
        ex = self._prepare(input_data, initial_state, request_context)
        output = self._new_output(close_on_suspend=True, history_limit=None)
        self._launch(ex, None, tracing)
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
        self._check_startable()
        tracing = _tracing(tracing_context, tracing_options)
        output = self._new_output(close_on_suspend=close_on_suspend, history_limit=history_limit)
        try:
            ex = self._prepare(input_data, initial_state, request_context)
        except RxflowError as error:
            self._status = "failed"
            self._drop_output(output)
            output._fail_before_execution(error)
            return output
        self._launch(ex, None, tracing)
        return output

    def _check_startable(self) -> None:
        if self._status != "pending":
            raise RxflowError(
                f"run '{self.run_id}' was already started (status: {self._status}); "
                "create a new run to run again"
            )

    def _new_output(
        self, *, close_on_suspend: bool, history_limit: int | None
    ) -> WorkflowRunOutput:
        output = WorkflowRunOutput(
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            close_on_suspend=close_on_suspend,
            history_limit=history_limit,
        )
        output._detach = self._bus.attach(output._on_event, output._on_record)
        self._output = output
        self._open_outputs.append(output)
        return output

    def _drop_output(self, output: WorkflowRunOutput) -> None:
        if output in self._open_outputs:
            self._open_outputs.remove(output)

    def _new_scope(self, request_context: RequestContext) -> RunScope:
        scope = RunScope(
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            resource_id=self.resource_id,
            emit=self._bus.on_next,
            bus=self._bus,
            request_context=request_context,
            loop=asyncio.get_running_loop(),
            on_abort_request=self._abort,
        )
        scope.watched = self._watchers > 0
        self._scope = scope
        return scope

    def _prepare(
        self,
        input_data: Any,
        initial_state: Mapping[str, Any] | None,
        request_context: RequestContext | Mapping[str, Any] | None,
    ) -> ExecutionState:
        """Validate what the caller gave (raising ``ValidationError``) and set up the state."""
        workflow = self.workflow
        context = _request_context(request_context)
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
        return ExecutionState(
            scope=self._new_scope(context),
            program=workflow.program,
            run_id=self.run_id,
            input=input_data,
            state=state,
        )

    # -- one segment of execution ----------------------------------------------------------------

    def _launch(
        self,
        ex: ExecutionState,
        resume: tuple[int, ResumeTarget | None] | None,
        tracing: _Tracing,
        resumed_from: Mapping[str, Any] | None = None,
        running_status: RunStatus = "running",
    ) -> _Segment:
        """Subscribe the workflow's program to this execution on the running loop.

        ``running_status`` is the status its snapshots carry while it runs (a restart keeps
        the one it claimed).
        """
        segment = _Segment(self, ex, resume, tracing, resumed_from, running_status)
        ex.scope.persister = segment.persister
        self._segment = segment
        self._status = "running"
        for output in self._open_outputs:
            output._resumed()
        # The run is one subscription to its execution: the driver coroutine as an Observable.
        coroutine_observable(self._drive, segment).subscribe(
            on_next=segment.done, on_error=segment.failed
        )
        return segment

    async def _drive(self, segment: _Segment) -> WorkflowResult:
        """The segment's driver: runs the workflow's program, then stores the final snapshot."""
        self._driver = asyncio.current_task()
        ex = segment.ex
        storage = self.workflow.storage
        resume = segment.resume
        tracing = segment.tracing
        span = run_span(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            resource_id=self.resource_id,
            tracing_context=tracing[0],
            options=tracing[1],
            request_context=ex.scope.request_context,
            resumed_from=segment.resumed_from,
        )
        token = None
        if span is not None:  # an SDK records: trace this run (else no span is made)
            segment.span = span
            ex.scope.tracing = True
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            if resume is None and not segment.persister.durable:
                # the in-memory store shows the run as running (no I/O, no wait)
                await storage.update_status(self.workflow_id, self.run_id, "running")
            if resume is None:
                await self.workflow.program.drive(ex)
            else:
                await self.workflow.program.resume_drive(ex, resume[0], resume[1])
            self._driver = None
            result = await self._store_end(segment)
        except BaseException as error:
            if span is not None:
                end_span(span, token, "failed", error, key="rxflow.run.status")
            raise
        if span is not None:
            end_span(span, token, result.status, result.error, key="rxflow.run.status")
        return result

    async def _store_end(self, segment: _Segment) -> WorkflowResult:
        """Build the result and store the final snapshot of the segment before it resolves."""
        if segment.ex.scope.aborted and segment.ex.status == "suspended":
            segment.ex.status = "canceled"  # canceled while its suspension was settling
        result = build_result(segment.ex)
        trace_id, span_id = span_ids(segment.span)
        if trace_id is not None:
            result = attrs.evolve(result, trace_id=trace_id, span_id=span_id)
        try:  # a snapshot holding a value JSON cannot carry is a StorageError already here
            snapshot = build_snapshot(
                segment.ex,
                result.status,
                segment.cache,
                now_ms(),
                result=result.result,
                error=_as_exception(result.error),
                tracing_context=segment.tracing_context(),
                live=segment.persister.live,
            )
            await segment.persister.write(snapshot)
        except StorageError as error:
            _log.error(
                "run '%s' failed: its final snapshot could not be stored: %s", self.run_id, error
            )
            if result.status != "failed":
                result = attrs.evolve(
                    result,
                    status="failed",
                    error=error,
                    result=None,
                    suspended=None,
                    suspend_payload=None,
                    tripwire=None,
                )
            try:  # best effort, so the stored run does not stay "running"
                await self.workflow.storage.update_status(self.workflow_id, self.run_id, "failed")
            except Exception as again:
                _log.error(
                    "run '%s': could not store status 'failed' either: %s", self.run_id, again
                )
        return result

    def _segment_failed(self, segment: _Segment, error: Exception | BaseException) -> None:
        """The driver itself ended abnormally: canceled under an abort, else a failure."""
        self._driver = None
        ex = segment.ex
        if isinstance(error, asyncio.CancelledError) and ex.scope.aborted:
            ex.status = "canceled"
        else:
            ex.fail(error)

        async def store_then_end() -> None:
            segment.result = await self._store_end(segment)
            self._end_segment(segment)

        asyncio.get_running_loop().create_task(store_then_end())

    def _end_segment(self, segment: _Segment) -> None:
        result = segment.result
        assert result is not None
        # Nothing can abort or persist this segment any more: drop the links back to the run
        # and the snapshot builder, so a finished run is freed by reference counting instead
        # of waiting for the cycle collector (which matters with many runs alive at once).
        scope = segment.ex.scope
        scope.on_abort_request = _ignore
        scope.persister = None
        segment.persister.close()
        segment.run = None
        if result.status == "canceled":
            self._bus.on_next(WorkflowCanceled(run_id=self.run_id, payload=EmptyPayload()))
        self._status = result.status
        self._end_outputs(result)
        segment.end(result)

    def _end_outputs(self, result: WorkflowResult) -> None:
        keep: list[WorkflowRunOutput] = []
        for output in self._open_outputs:
            if result.status == "suspended" and not output.close_on_suspend:
                output._status = "suspended"  # waits for a later resume to feed it again
                keep.append(output)
            else:
                output._finish(result)
        self._open_outputs = keep

    # -- resuming -------------------------------------------------------------------------------

    async def resume(
        self,
        step: StepSelector = None,
        resume_data: Any = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        label: str | None = None,
        tracing_options: Any = None,
        *,
        allow_changed_graph: bool = False,
    ) -> WorkflowResult:
        """Resume the suspended run and return its ``WorkflowResult``.

        ``step`` is a step, a step id, a dotted ``"outer.inner"`` path or a list of those;
        omitted, it is the single suspended path. Raises ``ResumeError`` (unknown run, not
        suspended, step not suspended, several candidates), ``WorkflowChangedError`` (the
        workflow's graph changed since the run was stored), ``ValidationError`` (bad
        ``resume_data``), ``ResumeAlreadyClaimedError`` (another caller won) or
        ``SnapshotError`` (the stored snapshot is damaged); after any of these the run is
        still suspended and resumable. ``allow_changed_graph=True`` continues a run stored by
        a different graph: it resumes at the entry of the new graph that holds the suspended
        step, found by id; steps before that entry do not run (even new ones), stored results
        are kept by step id, and the entries after it run as the new graph says.
        """
        segment = await self._claim_and_launch(
            step,
            resume_data,
            request_context,
            for_each_index,
            label,
            tracing_options,
            allow_changed_graph,
        )
        return await segment.outcome()

    def resume_stream(
        self,
        step: StepSelector = None,
        resume_data: Any = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        label: str | None = None,
        tracing_options: Any = None,
        history_limit: int | None = None,
        *,
        allow_changed_graph: bool = False,
    ) -> WorkflowRunOutput:
        """Resume the suspended run; a new output with its own ``workflow-start`` and
        ``workflow-finish``, which closes when this segment ends (even at a new suspension).

        Errors that ``resume`` raises are reported through the output instead (wrong argument
        types still raise here). ``allow_changed_graph`` is as for ``resume``.
        """
        _check_resume_arguments(step, request_context, for_each_index, label, tracing_options)
        _check_allow_changed_graph(allow_changed_graph)
        output = self._new_output(close_on_suspend=True, history_limit=history_limit)

        async def go() -> None:
            try:
                await self._claim_and_launch(
                    step,
                    resume_data,
                    request_context,
                    for_each_index,
                    label,
                    tracing_options,
                    allow_changed_graph,
                )
            except RxflowError as error:
                self._drop_output(output)
                output._fail_before_execution(error)

        asyncio.get_running_loop().create_task(go())
        return output

    async def _claim_and_launch(
        self,
        step: StepSelector,
        resume_data: Any,
        request_context: RequestContext | Mapping[str, Any] | None,
        for_each_index: int | None,
        label: str | None,
        tracing_options: Any,
        allow_changed_graph: bool,
    ) -> _Segment:
        _check_resume_arguments(step, request_context, for_each_index, label, tracing_options)
        _check_allow_changed_graph(allow_changed_graph)
        tracing = _tracing(None, tracing_options)
        storage = self.workflow.storage
        plan = plan_resume(
            self.workflow.graph,
            self.run_id,
            await load_checked(storage, self.workflow.graph, self.run_id),
            step=step,
            label=label,
            for_each_index=for_each_index,
            resume_data=resume_data,
            allow_changed_graph=allow_changed_graph,
        )
        snapshot = plan.snapshot
        context = _request_context(request_context)
        for key, value in (snapshot.get("requestContext") or {}).items():
            if not context.has(key):  # stored keys fill only what the caller did not give
                context.set(key, value)
        claimed = await update_status(
            storage, self.workflow_id, self.run_id, "running", expected="suspended"
        )
        if not claimed:
            raise ResumeAlreadyClaimedError(
                f"run '{self.run_id}' was resumed by another caller first"
            )
        try:
            ex = restore_execution(
                snapshot,
                program=self.workflow.program,
                scope=self._new_scope(context),
                run_id=self.run_id,
            )
        except BaseException:
            await release_claim(
                storage, self.workflow_id, self.run_id, claimed="running", previous="suspended"
            )
            raise
        target = ResumeTarget(plan.path, plan.resume_data, plan.for_each_index, now_ms())
        resumed_from = snapshot.get("tracingContext") or {}
        return self._launch(ex, (ex.entry_index, target), tracing, resumed_from)

    async def restart(self, *, allow_changed_graph: bool = False) -> WorkflowResult:
        """Continue a run left ``running`` by a process that is gone (the caller knows it is).

        Top-level entries that finished are not run again, nor are block items whose results
        were stored; the entry that was running continues from what was stored. A finished run
        returns its stored result. Claims the run by compare-and-set from ``running`` to
        ``restarting``, so two restarts cannot both run it (``ResumeAlreadyClaimedError``); the
        restarted run keeps the status ``restarting`` until it ends. (If the process of a
        restart dies too, set the status back with ``storage.update_status(workflow_id,
        run_id, "running", expected="restarting")`` before restarting again.)

        A damaged stored snapshot raises ``SnapshotError`` and a graph changed since the run
        was stored ``WorkflowChangedError``, before the run is claimed; with
        ``allow_changed_graph=True`` the run continues at the entry of the new graph that holds
        the steps of the entry it was in (found by id), as ``resume`` describes.
        """
        _check_allow_changed_graph(allow_changed_graph)
        storage = self.workflow.storage
        graph = self.workflow.graph
        checked = await load_checked(storage, graph, self.run_id)
        if checked is None:
            raise ResumeError(f"no stored run '{self.run_id}' of workflow '{self.workflow_id}'")
        snapshot = checked.snapshot
        status = snapshot.get("status")
        if status in FINISHED:
            self._status = cast("ResultStatus", status)
            return _stored_result(snapshot, self.run_id)
        if status == "restarting":
            raise ResumeAlreadyClaimedError(
                f"run '{self.run_id}' is being restarted by another caller (status "
                "'restarting'); if that restart's process is gone too, set the status back to "
                "'running' in storage first"
            )
        if status != "running":
            raise ResumeError(
                f"run '{self.run_id}' is {status}, not running; "
                + ("resume it instead" if status == "suspended" else "start it instead")
            )
        snapshot = snapshot_for_graph(
            checked, graph, self.run_id, allow_changed_graph=allow_changed_graph
        )
        claimed: RunStatus = "restarting"
        if not await update_status(
            storage, self.workflow_id, self.run_id, claimed, expected="running"
        ):
            raise ResumeAlreadyClaimedError(f"run '{self.run_id}' was restarted by another caller")
        try:
            context = _request_context(snapshot.get("requestContext") or {})
            ex = restore_execution(
                snapshot,
                program=self.workflow.program,
                scope=self._new_scope(context),
                run_id=self.run_id,
            )
        except BaseException:
            await release_claim(
                storage, self.workflow_id, self.run_id, claimed=claimed, previous="running"
            )
            raise
        segment = self._launch(
            ex,
            (ex.entry_index, None),
            (None, None),
            snapshot.get("tracingContext") or {},
            running_status=claimed,
        )
        segment.persister.mark()
        return await segment.outcome()

    # -- control --------------------------------------------------------------------------------

    def _abort(self) -> None:
        """Cancel requested (``run.cancel()`` or ``ctx.abort()``), on the loop thread."""
        scope = self._scope
        if scope is None or self._status != "running":
            return
        scope.fire_abort()
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()

    async def cancel(self) -> None:
        """Cancel the run: in-flight async bodies see ``CancelledError``, sleeps end at once,
        queued foreach items never start; status becomes ``canceled``, stored before this
        returns. A suspended run is canceled in storage and its open outputs end.
        Canceling a finished run does nothing.
        """
        if self._status in FINISHED:
            return
        if self._status == "running" and self._segment is not None:
            self._abort()
            outcome = await asyncio.shield(self._segment.outcome())
            if outcome.status != "suspended":
                return
            # The segment reached its suspension before the abort could stop it: cancel the
            # suspended run like any other.
        storage = self.workflow.storage
        if await update_status(
            storage, self.workflow_id, self.run_id, "canceled", expected=("pending", "suspended")
        ):
            self._status = "canceled"
            self._bus.on_next(WorkflowCanceled(run_id=self.run_id, payload=EmptyPayload()))
            snapshot = await load_snapshot(storage, self.workflow_id, self.run_id)
            self._end_outputs(_stored_result(snapshot or {}, self.run_id, status="canceled"))

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

    def observe_stream(self) -> WorkflowRunOutput:
        """A replay of the latest ``stream``/``resume_stream`` output of this run object.

        Before any stream was started here it is an empty output that has already ended.
        """
        if self._output is not None:
            return self._output
        return WorkflowRunOutput._ended(self.run_id, self.workflow_id, self._status)


_Tracing = tuple[TracingContext | None, TracingOptions | None]


def _ignore() -> None:
    """The abort hook of a scope whose segment has ended."""


def _check_resume_arguments(
    step: StepSelector,
    request_context: Any,
    for_each_index: Any,
    label: Any,
    tracing_options: Any,
) -> None:
    """Raise ``TypeError`` at the call for arguments of the wrong type."""
    path_of(step)
    _request_context(request_context)
    _tracing(None, tracing_options)
    if for_each_index is not None and (type(for_each_index) is not int or for_each_index < 0):
        raise TypeError(f"for_each_index must be an int >= 0, got {for_each_index!r}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a string, got {label!r}")


def _check_allow_changed_graph(allow: Any) -> None:
    if allow is not True and allow is not False:
        raise TypeError(f"allow_changed_graph must be a bool, got {allow!r}")


def _tracing(context: TracingContext | None, options: Any) -> _Tracing:
    if context is not None and not isinstance(context, TracingContext):
        raise TypeError(f"tracing_context must be a TracingContext, got {context!r}")
    if options is not None and not isinstance(options, TracingOptions):
        raise TypeError(f"tracing_options must be a TracingOptions, got {options!r}")
    return context, options


def _request_context(value: RequestContext | Mapping[str, Any] | None) -> RequestContext:
    if value is None:
        return RequestContext()
    if isinstance(value, RequestContext):
        return value
    if isinstance(value, Mapping):
        return RequestContext(value)
    raise TypeError(f"request_context must be a RequestContext or a mapping, got {value!r}")


def _as_exception(error: Any) -> BaseException | None:
    return error if isinstance(error, BaseException) else None


def _stored_result(
    snapshot: Mapping[str, Any], run_id: str, *, status: ResultStatus | None = None
) -> WorkflowResult:
    """A ``WorkflowResult`` read back from a stored snapshot (plain data values)."""
    context = dict(snapshot.get("context") or {})
    steps = {
        step_id: StepResult.from_dict(wire)
        for step_id, wire in context.items()
        if step_id != "input"
    }
    # Called for a finished stored run only: its status is one a result can have.
    final: ResultStatus = status or cast("ResultStatus", snapshot.get("status"))
    return WorkflowResult(
        status=final,
        run_id=run_id,
        input=context.get("input"),
        steps=steps,
        step_execution_path=list(snapshot.get("stepExecutionPath") or []),
        state=dict(snapshot.get("value") or {}),
        result=snapshot.get("result") if final == "success" else None,
        error=snapshot.get("error") if final == "failed" else None,
    )
