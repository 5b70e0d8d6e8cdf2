"""``Run``: one execution of a workflow and its verbs: start, stream, resume, resume_stream,
restart, restart_stream and status (cancel, watch and observe_stream in ``control``;
time_travel, time_travel_stream and fork in ``travel_verbs``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic

from ..context import In, RequestContext, TracingContext
from ..engine.fanout import running_loop
from ..engine.persist import Durability
from ..engine.state import ExecutionState, RunScope
from ..errors import RunAlreadyStartedError, RxflowError
from ..events import EmptyPayload, WorkflowCanceled, WorkflowPaused
from ..output import WorkflowRunOutput, ended_output
from ..results import Out, WorkflowResult
from ..resume import StepSelector
from ..status import RunStatus
from ..tracing import TracingOptions
from .bus import EventBus
from .control import RunControl
from .executions import Claimed, attach_or_create, claim_restart, claim_resume, new_execution
from .options import RunOptions
from .segment import Segment, launch
from .travel_verbs import TimeTravelVerbs

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["Run"]


class Run(TimeTravelVerbs[Out], RunControl, Generic[In, Out]):
    """One run of a workflow. Create it with ``await workflow.create_run()``.

    A run owns a hot event bus: its engine emits into it, its outputs (``stream``,
    ``resume_stream``) and watchers listen. Each start, resume or restart is one segment of
    execution (``rxflow.run.segment``), which stores its end before its result resolves.
    """

    def __init__(
        self,
        workflow: Workflow[In, Out],
        run_id: str,
        resource_id: str | None,
        status: RunStatus = "pending",
    ) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.workflow_id = workflow.id
        self.resource_id = resource_id
        self._status = status
        self._bus = EventBus()
        self._scope: RunScope | None = None
        self._segment: Segment | None = None
        self._watchers = 0

    @classmethod
    async def create(
        cls, workflow: Workflow[In, Out], *, run_id: str | None, resource_id: str | None
    ) -> Run[In, Out]:
        """A new run (its ``pending`` snapshot stored), or the stored run ``run_id``."""
        stored = await attach_or_create(workflow.storage, workflow.graph, run_id, resource_id)
        return cls(workflow, *stored)

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
        tracing_options: TracingOptions | None = None,
        *,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowResult[Out]:
        """Run to the end (or a suspension) and return the ``WorkflowResult``.

        Raises ``ValidationError`` for bad input, initial state or request context,
        ``RunAlreadyStartedError`` when another start (another ``Run`` object or process)
        claimed the run first, and ``TypeError`` for arguments of the wrong type.
        ``durability`` overrides the workflow's checkpoint mode for this run. With
        ``per_step=True`` only the first top-level entry runs: the run ends ``paused`` (after a
        ``workflow-paused`` event) and ``resume()`` with no data runs the next entry.
        """
        self._check_startable()
        options = RunOptions(
            request_context,
            tracing_context,
            tracing_options,
            initial_state,
            durability=durability,
            per_step=per_step,
        )
        ex = new_execution(self.workflow.program, self.run_id, input_data, options, self._new_scope)
        output = self._new_output(options)
        self._launch(ex, options)
        return await output.result

    def stream(
        self,
        input_data: Any = None,
        initial_state: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        tracing_context: TracingContext | None = None,
        tracing_options: TracingOptions | None = None,
        close_on_suspend: bool = True,
        history_limit: int | None = None,
        *,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowRunOutput[Out]:
        """Start the run now and return its live output (the same output on a second call).

        Errors before execution (bad input, ``RunAlreadyStartedError``...) do not raise here:
        the output reports them with a failed ``workflow-finish`` and ``await output.result``
        raises them. Arguments of the wrong type raise ``TypeError`` here.
        """
        options = RunOptions(
            request_context,
            tracing_context,
            tracing_options,
            initial_state,
            close_on_suspend,
            history_limit,
            durability=durability,
            per_step=per_step,
        )
        if self._bus.latest is not None:
            return self._bus.latest
        running_loop("run.stream()", used="called")
        self._check_startable()
        output = self._new_output(options)
        try:
            ex = new_execution(
                self.workflow.program, self.run_id, input_data, options, self._new_scope
            )
        except RxflowError as error:
            self._status = "failed"
            self._bus.drop(output)
            output.feed_failure(error)
            return output
        self._launch(ex, options)
        return output

    def _check_startable(self) -> None:
        if self._status != "pending":
            raise RunAlreadyStartedError(
                f"run '{self.run_id}' was already started (status: {self._status}); "
                "create a new run to run again"
            )

    def _new_output(self, options: RunOptions) -> WorkflowRunOutput[Out]:
        output = WorkflowRunOutput(
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            close_on_suspend=options.close_on_suspend,
            history_limit=options.history_limit,
        )
        self._bus.feed(output)
        return output

    def _new_scope(self, request_context: RequestContext) -> RunScope:
        bus = self._bus
        scope = RunScope(
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            resource_id=self.resource_id,
            emit=bus.on_next,
            bus=bus,
            request_context=request_context,
            loop=asyncio.get_running_loop(),
            on_abort_request=self._abort,
        )
        scope.watched = self._watchers > 0
        scope.on_retry = self._retried if self._retry_watchers else None
        self._scope = scope
        return scope

    def _launch(
        self,
        ex: ExecutionState,
        options: RunOptions,
        claimed: Claimed | None = None,
        running_status: RunStatus = "running",
    ) -> Segment:
        """Run a segment of execution: a start, or the continuation of a claimed run."""
        self._status = "running"
        self._bus.resume_outputs()
        self._segment = launch(
            self,
            ex,
            self.workflow.storage,
            resume=None if claimed is None else claimed.resume,
            tracing_context=options.tracing_context,
            tracing_options=options.tracing_options,
            resumed_from=None if claimed is None else claimed.resumed_from,
            running_status=running_status,
            mode=options.durability or self.workflow.durability,
            lease=None if claimed is None else claimed.lease,
            per_step=options.per_step,
        )
        return self._segment

    def start_lost(self, segment: Segment, error: RunAlreadyStartedError) -> None:
        """Package-internal (the segment calls it): another start claimed the run first."""
        self._segment = None
        self._status = "pending"
        for output in self._bus.outputs:
            self._bus.drop(output)
            output.feed_failure(error)

    def segment_ended(self, segment: Segment) -> None:
        """Package-internal (the segment calls it): the segment ended with ``segment.result``."""
        result = segment.result
        assert result is not None
        if result.status == "canceled":
            self._bus.on_next(WorkflowCanceled(run_id=self.run_id, payload=EmptyPayload()))
        elif result.status == "paused":
            self._bus.on_next(WorkflowPaused(run_id=self.run_id, payload=EmptyPayload()))
        self._status = result.status
        self._bus.end_outputs(result)

    # -- resuming -------------------------------------------------------------------------------

    async def resume(
        self,
        step: StepSelector = None,
        resume_data: Any = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        label: str | None = None,
        tracing_options: TracingOptions | None = None,
        *,
        allow_changed_graph: bool = False,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowResult[Out]:
        """Resume the suspended (or paused) run and return its ``WorkflowResult``.

        ``step`` is a step, a step id, a dotted ``"outer.inner"`` path or a list of those;
        omitted, it is the single suspended path. Raises ``ResumeError`` (unknown run, not
        suspended, step not suspended, several candidates), ``WorkflowChangedError`` (the
        workflow's graph changed since the run was stored), ``ValidationError`` (bad
        ``resume_data``), ``ResumeAlreadyClaimedError`` (another caller won) or
        ``SnapshotError`` (the stored snapshot is damaged); after any of these the run is
        still suspended and resumable. ``allow_changed_graph=True`` continues a run stored by
        a different graph: it resumes at the entry of the new graph that holds the suspended
        step, found by id; steps before that entry do not run (even new ones), stored results
        are kept by step id, and the entries after it run as the new graph says. Arguments of
        the wrong type raise ``TypeError``. ``durability`` overrides the checkpoint mode.

        A run ``paused`` by a step-by-step segment continues with its next top-level entry
        (give no ``step``, ``resume_data`` or ``label``); ``per_step=True`` runs again only one.
        """
        options = RunOptions(
            request_context,
            tracing_options=tracing_options,
            step=step,
            for_each_index=for_each_index,
            label=label,
            allow_changed_graph=allow_changed_graph,
            durability=durability,
            per_step=per_step,
        )
        segment = await self._claim_and_launch(options, resume_data)
        return await segment.outcome()

    def resume_stream(
        self,
        step: StepSelector = None,
        resume_data: Any = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        label: str | None = None,
        tracing_options: TracingOptions | None = None,
        history_limit: int | None = None,
        *,
        allow_changed_graph: bool = False,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowRunOutput[Out]:
        """Resume the suspended run; a new output with its own ``workflow-start`` and
        ``workflow-finish``, which closes when this segment ends (even at a new suspension).

        Errors that ``resume`` raises are reported through the output instead (arguments of
        the wrong type still raise ``TypeError`` here). ``allow_changed_graph``,
        ``durability`` and ``per_step`` are as for ``resume``.
        """
        options = RunOptions(
            request_context,
            tracing_options=tracing_options,
            history_limit=history_limit,
            step=step,
            for_each_index=for_each_index,
            label=label,
            allow_changed_graph=allow_changed_graph,
            durability=durability,
            per_step=per_step,
        )
        loop = running_loop("run.resume_stream()", used="called")
        output = self._new_output(options)
        loop.create_task(self._resume_into(output, options, resume_data))
        return output

    async def _resume_into(
        self, output: WorkflowRunOutput[Out], options: RunOptions, resume_data: Any
    ) -> None:
        try:
            await self._claim_and_launch(options, resume_data)
        except RxflowError as error:
            self._drop_output(output, error)

    async def _claim_and_launch(self, options: RunOptions, resume_data: Any) -> Segment:
        workflow = self.workflow
        if self._segment is not None:  # its suspension may still be being stored
            await self._segment.settled()
        claimed = await claim_resume(
            workflow.storage, workflow.program, self.run_id, options, resume_data, self._new_scope
        )
        return self._launch(claimed.ex, options, claimed)

    async def restart(
        self, *, allow_changed_graph: bool = False, durability: Durability | None = None
    ) -> WorkflowResult[Out]:
        """Continue a run left ``running`` by a process that is gone.

        Top-level entries that finished are not run again, nor are block items whose results
        were stored; the entry that was running continues from what was stored. A finished run
        returns its stored result. Claims the run (status ``restarting`` until it ends) only
        when nobody holds its lease (expired, or its process on this host is gone): of two
        restarts one wins, the other gets ``ResumeAlreadyClaimedError``.

        A damaged stored snapshot raises ``SnapshotError`` and a graph changed since the run
        was stored ``WorkflowChangedError``, before the run is claimed; with
        ``allow_changed_graph=True`` the run continues at the entry of the new graph that holds
        the steps of the entry it was in (found by id), as ``resume`` describes.
        """
        options = RunOptions(allow_changed_graph=allow_changed_graph, durability=durability)
        claimed = await self._claim_restart(options)
        if isinstance(claimed, WorkflowResult):
            return claimed
        return await self._relaunch(claimed, options).outcome()

    async def restart_stream(
        self,
        *,
        allow_changed_graph: bool = False,
        durability: Durability | None = None,
        history_limit: int | None = None,
    ) -> WorkflowRunOutput[Out]:
        """``restart``, streamed: claims the run as ``restart`` does (raising what it raises,
        before any event), then returns the continued run's live output, with its own
        ``workflow-start`` and ``workflow-finish``. A finished run's output carries no event
        and has already ended."""
        options = RunOptions(
            allow_changed_graph=allow_changed_graph,
            durability=durability,
            history_limit=history_limit,
        )
        claimed = await self._claim_restart(options)
        if isinstance(claimed, WorkflowResult):
            return ended_output(self.run_id, self.workflow_id, claimed.status)
        output = self._new_output(options)
        self._relaunch(claimed, options)
        return output

    async def _claim_restart(self, options: RunOptions) -> Claimed | WorkflowResult[Out]:
        workflow = self.workflow
        if self._segment is not None:
            await self._segment.settled()
        claimed = await claim_restart(
            workflow.storage,
            workflow.program,
            self.run_id,
            self._new_scope,
            allow_changed_graph=options.allow_changed_graph,
        )
        if isinstance(claimed, WorkflowResult):
            self._status = claimed.status
        return claimed

    def _relaunch(self, claimed: Claimed, options: RunOptions) -> Segment:
        segment = self._launch(claimed.ex, options, claimed, running_status="restarting")
        segment.persister.mark()
        return segment
