"""The time-travel verbs of ``Run``: ``time_travel``, ``time_travel_stream`` and ``fork``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic

from ..context import RequestContext
from ..convert import conform
from ..engine.fanout import running_loop
from ..engine.persist import Durability
from ..engine.state import NO_INPUT, ExecutionState, RunScope, now_ms
from ..engine.state import new_run_id as make_run_id
from ..errors import ResumeError, RxflowError
from ..output import WorkflowRunOutput
from ..results import Out, WorkflowResult
from ..resume import StepSelector, find_step, load_checked, path_of
from ..status import RunStatus
from ..stored import persist_snapshot, stored_run
from ..tracing import TracingOptions
from .bus import EventBus
from .executions import Claimed
from .options import RunOptions
from .segment import Segment
from .travel import (
    TravelRequest,
    check_travel_target,
    claim_travel,
    entry_of,
    plan_travel,
    trimmed,
)

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["TimeTravelVerbs"]


class TimeTravelVerbs(Generic[Out]):
    """``time_travel``, ``time_travel_stream`` and ``fork`` (a base class of ``Run``)."""

    workflow: Workflow[Any, Out]
    run_id: str
    resource_id: str | None
    _status: RunStatus
    _segment: Segment | None
    _bus: EventBus

    if TYPE_CHECKING:

        def _new_output(self, options: RunOptions) -> WorkflowRunOutput[Out]: ...

        def _new_scope(self, request_context: RequestContext) -> RunScope: ...

        def _launch(
            self,
            ex: ExecutionState,
            options: RunOptions,
            claimed: Claimed | None = None,
            running_status: RunStatus = "running",
        ) -> Segment: ...

    async def time_travel(
        self,
        step: StepSelector,
        input_data: Any = None,
        resume_data: Any = None,
        initial_state: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        tracing_options: TracingOptions | None = None,
        *,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowResult[Out]:
        """Re-run the stored run from ``step`` and return its new ``WorkflowResult``.

        ``step`` is named as for ``resume`` (a step, an id, a dotted ``"outer.inner"`` path
        into a nested workflow, or a list). Entries before it keep their stored results, or
        the outputs ``context`` gives (step id, or dotted path inside the nested workflow
        travelled into, to output; checked against each step's output schema). The step runs
        on ``input_data`` when given (not ``None``), else on the input the stored results give
        it; inside a ``parallel`` or ``branch`` only it runs again (its siblings keep their
        results); ``for_each_index`` re-runs one item of a foreach (``input_data`` then
        replaces that item). ``resume_data`` is what the step reads as its resume data.
        Everything after it runs as in a normal run. The results it replaces are kept in the
        stored run's ``previousAttempts``.

        Works on a run in any stored status but ``running``/``restarting``
        (``RunInProgressError``). Raises ``UnknownStepError`` (no such step),
        ``WorkflowChangedError`` (the graph changed since the run was stored),
        ``ResumeAlreadyClaimedError`` (a concurrent time travel, resume or restart won),
        ``ResumeError`` (no stored run, nothing to derive the step's input from) and
        ``ValidationError`` (``context``, ``initial_state``); nothing has run then.
        ``per_step=True`` runs only the target's entry, then pauses the run (see ``start``).
        """
        options = self._travel_options(
            step,
            request_context,
            for_each_index,
            tracing_options,
            durability,
            initial_state,
            per_step=per_step,
        )
        request = _request(options, input_data, resume_data, context)
        segment = await self._travel_and_launch(options, request)
        return await segment.outcome()

    def time_travel_stream(
        self,
        step: StepSelector,
        input_data: Any = None,
        resume_data: Any = None,
        initial_state: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        tracing_options: TracingOptions | None = None,
        history_limit: int | None = None,
        *,
        durability: Durability | None = None,
        per_step: bool = False,
    ) -> WorkflowRunOutput[Out]:
        """``time_travel`` as a new live output (like ``resume_stream``): ``workflow-start``,
        then the events of the target step and of what runs after it, then
        ``workflow-finish``. The errors ``time_travel`` raises are reported through the
        output instead (arguments of the wrong type still raise ``TypeError`` here)."""
        options = self._travel_options(
            step,
            request_context,
            for_each_index,
            tracing_options,
            durability,
            initial_state,
            history_limit,
            per_step=per_step,
        )
        request = _request(options, input_data, resume_data, context)
        loop = running_loop("run.time_travel_stream()", used="called")
        output = self._new_output(options)
        loop.create_task(self._travel_into(output, options, request))
        return output

    def _travel_options(
        self,
        step: StepSelector,
        request_context: RequestContext | Mapping[str, Any] | None,
        for_each_index: int | None,
        tracing_options: TracingOptions | None,
        durability: Durability | None,
        initial_state: Mapping[str, Any] | None,
        history_limit: int | None = None,
        *,
        per_step: bool = False,
    ) -> RunOptions:
        if step is None:
            raise TypeError("time travel needs step=: the step to re-run from")
        return RunOptions(
            request_context,
            tracing_options=tracing_options,
            initial_state=initial_state,
            history_limit=history_limit,
            step=step,
            for_each_index=for_each_index,
            durability=durability,
            per_step=per_step,
        )

    def _drop_output(self, output: WorkflowRunOutput, error: RxflowError) -> None:
        """An output whose segment never ran (a resume or time travel refused): it reports
        ``error`` and ends."""
        self._bus.drop(output)
        output.feed_failure(error)

    async def _travel_into(
        self, output: WorkflowRunOutput[Out], options: RunOptions, request: TravelRequest
    ) -> None:
        try:
            await self._travel_and_launch(options, request)
        except RxflowError as error:
            self._drop_output(output, error)

    async def _travel_and_launch(self, options: RunOptions, request: TravelRequest) -> Segment:
        workflow = self.workflow
        graph = workflow.graph
        if self._segment is not None:  # its end may still be being stored
            await self._segment.settled()
        checked = await load_checked(workflow.storage, graph, self.run_id)
        plan = plan_travel(graph, self.run_id, checked, request)
        if request.initial_state is not None and graph.state_schema is not None:
            conform(
                dict(request.initial_state),
                graph.state_schema,
                what=f"initial state of workflow '{graph.id}'",
            )
        context = options.request_context
        for key, value in (plan.snapshot.get("requestContext") or {}).items():
            if not context.has(key):  # stored keys fill only what the caller did not give
                context.set(key, value)
        claimed = await claim_travel(
            workflow.storage, workflow.program, self.run_id, plan, request, self._new_scope(context)
        )
        return self._launch(claimed.ex, options, claimed)

    async def fork(
        self,
        new_run_id: str | None = None,
        at: StepSelector = None,
        *,
        input_data: Any = None,
        resume_data: Any = None,
        context: Mapping[str, Any] | None = None,
        request_context: RequestContext | Mapping[str, Any] | None = None,
        for_each_index: int | None = None,
        durability: Durability | None = None,
    ) -> WorkflowResult[Out]:
        """Copy this stored run's results up to (not including) step ``at`` into a new run
        (``new_run_id``, by default a random UUID4), which then time-travels from ``at`` (the
        keyword arguments are ``time_travel``'s). Returns the new run's ``WorkflowResult``
        (its ``run_id`` is the new run's); this run is not changed in any way.

        Refuses as ``time_travel`` does, and with ``ResumeError`` when ``new_run_id`` is taken.
        """
        if at is None:
            raise TypeError("fork needs at=: the step the new run re-runs from")
        path = path_of(at) or []
        if new_run_id is not None and not isinstance(new_run_id, str):
            raise TypeError(f"new_run_id must be a string, got {new_run_id!r}")
        workflow = self.workflow
        graph = workflow.graph
        storage = workflow.storage
        checked = await load_checked(storage, graph, self.run_id)
        check_travel_target(graph, self.run_id, checked)
        assert checked is not None
        if not path or find_step(graph, path) is None:
            plan_travel(graph, self.run_id, checked, TravelRequest(path))  # raises, naming it
        index = entry_of(graph, path[0])
        assert index is not None
        new_id = new_run_id or make_run_id()
        if await stored_run(storage, graph.id, new_id) is not None:
            raise ResumeError(f"run '{new_id}' exists already; a fork needs a new run id")
        original = checked.snapshot
        copy = trimmed(original, graph, index, path[0], {}, keep_history=False)
        target = (original.get("context") or {}).get(path[0])
        if target is not None:  # the result the fork's time travel replaces, kept as history
            copy["context"] = {**copy["context"], path[0]: target}
        copy.update(runId=new_id, status="pending", timestamp=now_ms(), tracingContext=None)
        await persist_snapshot(storage, graph.id, new_id, copy, resource_id=self.resource_id)
        forked = await workflow.create_run(run_id=new_id)
        return await forked.time_travel(
            path,
            input_data=input_data,
            resume_data=resume_data,
            context=context,
            request_context=request_context,
            for_each_index=for_each_index,
            durability=durability,
        )


def _request(
    options: RunOptions, input_data: Any, resume_data: Any, context: Mapping[str, Any] | None
) -> TravelRequest:
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping of step id to output, got {context!r}")
    return TravelRequest(
        path_of(options.step) or [],
        NO_INPUT if input_data is None else input_data,
        resume_data,
        options.for_each_index,
        context,
        options.initial_state,
    )
