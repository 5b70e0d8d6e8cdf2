"""The execution a segment runs: a new one for a start (what the caller gave checked against
the workflow's schemas), or a stored run claimed to continue it (a resume, a restart)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs

from ..context import RequestContext
from ..convert import conform
from ..engine.program import Program
from ..engine.state import ExecutionState, ResumeTarget, RunScope, now_ms
from ..errors import ResumeAlreadyClaimedError, ResumeError
from ..graph_changes import snapshot_for_graph
from ..results import WorkflowResult
from ..resume import load_checked, plan_resume, release_claim
from ..snapshot import restore_execution
from ..status import ResultStatus
from ..storage.protocol import Storage
from ..stored import update_status
from .options import RunOptions, as_request_context
from .segment import stored_result

__all__ = ["FINISHED", "Claimed", "claim_restart", "claim_resume", "new_execution"]

FINISHED = frozenset({"success", "failed", "canceled", "tripwire"})

ScopeFactory = Callable[[RequestContext], RunScope]


def new_execution(
    program: Program, run_id: str, input_data: Any, options: RunOptions, new_scope: ScopeFactory
) -> ExecutionState:
    """A fresh execution of ``program``: the input, initial state and request context checked
    against the workflow's schemas (``ValidationError``)."""
    graph = program.graph
    context = options.request_context
    if graph.input_schema is not None:
        input_data = conform(input_data, graph.input_schema, what=f"input of workflow '{graph.id}'")
    state = dict(options.initial_state) if options.initial_state else {}
    if graph.state_schema is not None:
        conform(state, graph.state_schema, what=f"initial state of workflow '{graph.id}'")
    if graph.request_context_schema is not None:
        conform(
            context.to_dict(),
            graph.request_context_schema,
            what=f"request context of workflow '{graph.id}'",
        )
    return ExecutionState(
        scope=new_scope(context), program=program, run_id=run_id, input=input_data, state=state
    )


@attrs.frozen(slots=True)
class Claimed:
    """A stored run this caller now owns: its execution rebuilt, and where to continue."""

    ex: ExecutionState
    resume: tuple[int, ResumeTarget | None]
    resumed_from: Mapping[str, Any]  # the stored span the continuation links to


async def claim_resume(
    storage: Storage,
    program: Program,
    run_id: str,
    options: RunOptions,
    resume_data: Any,
    new_scope: ScopeFactory,
) -> Claimed:
    """Plan the resume from the checked snapshot (``ResumeError``, ``WorkflowChangedError``,
    ``ValidationError``, ``SnapshotError``), then claim the suspended run
    (``ResumeAlreadyClaimedError`` when another caller won) and rebuild its execution; a
    failure after the claim gives it back."""
    graph = program.graph
    plan = plan_resume(
        graph,
        run_id,
        await load_checked(storage, graph, run_id),
        step=options.step,
        label=options.label,
        for_each_index=options.for_each_index,
        resume_data=resume_data,
        allow_changed_graph=options.allow_changed_graph,
    )
    snapshot = plan.snapshot
    context = options.request_context
    for key, value in (snapshot.get("requestContext") or {}).items():
        if not context.has(key):  # stored keys fill only what the caller did not give
            context.set(key, value)
    if not await update_status(storage, graph.id, run_id, "running", expected="suspended"):
        raise ResumeAlreadyClaimedError(f"run '{run_id}' was resumed by another caller first")
    try:
        ex = restore_execution(snapshot, program=program, scope=new_scope(context), run_id=run_id)
    except BaseException:
        await release_claim(storage, graph.id, run_id, claimed="running", previous="suspended")
        raise
    target = ResumeTarget(plan.path, plan.resume_data, plan.for_each_index, now_ms())
    return Claimed(ex, (ex.entry_index, target), snapshot.get("tracingContext") or {})


async def claim_restart(
    storage: Storage,
    program: Program,
    run_id: str,
    new_scope: ScopeFactory,
    *,
    allow_changed_graph: bool,
) -> Claimed | WorkflowResult:
    """Claim a run left ``running`` (``running`` -> ``restarting``) and rebuild its execution;
    a finished run's stored ``WorkflowResult`` instead. A damaged snapshot
    (``SnapshotError``) or a changed graph (``WorkflowChangedError``) raise before the claim;
    a failure after it gives it back."""
    graph = program.graph
    checked = await load_checked(storage, graph, run_id)
    if checked is None:
        raise ResumeError(f"no stored run '{run_id}' of workflow '{graph.id}'")
    snapshot = checked.snapshot
    status = snapshot.get("status")
    if status in FINISHED:
        return stored_result(snapshot, run_id, status=cast("ResultStatus", status))
    if status == "restarting":
        raise ResumeAlreadyClaimedError(
            f"run '{run_id}' is being restarted by another caller (status "
            "'restarting'); if that restart's process is gone too, set the status back to "
            "'running' in storage first"
        )
    if status != "running":
        raise ResumeError(
            f"run '{run_id}' is {status}, not running; "
            + ("resume it instead" if status == "suspended" else "start it instead")
        )
    snapshot = snapshot_for_graph(checked, graph, run_id, allow_changed_graph=allow_changed_graph)
    if not await update_status(storage, graph.id, run_id, "restarting", expected="running"):
        raise ResumeAlreadyClaimedError(f"run '{run_id}' was restarted by another caller")
    try:
        context = as_request_context(snapshot.get("requestContext") or {})
        ex = restore_execution(snapshot, program=program, scope=new_scope(context), run_id=run_id)
    except BaseException:
        await release_claim(storage, graph.id, run_id, claimed="restarting", previous="running")
        raise
    return Claimed(ex, (ex.entry_index, None), snapshot.get("tracingContext") or {})
