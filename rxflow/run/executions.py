"""The execution a segment runs: a new one for a start (what the caller gave checked against
the workflow's schemas), or a stored run claimed to continue it (a resume, a restart)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs

from ..context import RequestContext
from ..convert import conform
from ..durability import claim, give_back, uses_leases
from ..engine.program import Program
from ..engine.state import ExecutionState, ResumeTarget, RunScope, new_run_id, now_ms
from ..errors import ResumeAlreadyClaimedError, ResumeError
from ..graph import WorkflowGraph
from ..graph_changes import snapshot_for_graph
from ..results import WorkflowResult
from ..resume import load_checked, plan_resume, release_claim
from ..snapshot import pending_snapshot, restore_execution
from ..status import ResultStatus, RunStatus
from ..storage.protocol import Storage
from ..storage.records import Lease
from ..stored import load_snapshot, persist_snapshot, stored_run, update_status
from .options import RunOptions, as_request_context
from .segment import stored_result

__all__ = [
    "FINISHED",
    "Claimed",
    "attach_or_create",
    "claim_restart",
    "claim_stored",
    "claim_unchanged",
    "claim_resume",
    "give_back_claim",
    "new_execution",
]

FINISHED = frozenset({"success", "failed", "canceled", "tripwire"})

ScopeFactory = Callable[[RequestContext], RunScope]


async def attach_or_create(
    storage: Storage, graph: WorkflowGraph, run_id: str | None, resource_id: str | None
) -> tuple[str, str | None, RunStatus]:
    """The stored run ``run_id`` (its id, owner and status), or a new run, its ``pending``
    snapshot stored (a random UUID4 id unless ``run_id`` is given)."""
    if run_id is not None:
        record = await stored_run(storage, graph.id, run_id)
        if record is not None:
            owner = resource_id if resource_id is not None else record.resource_id
            return run_id, owner, record.status
    run_id = run_id or new_run_id()
    snapshot = pending_snapshot(graph, run_id, now_ms())
    await persist_snapshot(storage, graph.id, run_id, snapshot, resource_id=resource_id)
    return run_id, resource_id, "pending"


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
    lease: Lease | None  # the run's lease, on a store with leases


async def claim_stored(
    storage: Storage, workflow_id: str, run_id: str, status: RunStatus, previous: RunStatus
) -> Lease | None:
    """Claim the stored run to continue it (``previous`` to ``status``): with a lease on a
    store with leases (a restart then takes an unowned ``running`` or ``restarting`` run),
    else by compare-and-set. ``ResumeAlreadyClaimedError`` when another caller holds it."""
    if uses_leases(storage):
        expected: RunStatus | tuple[RunStatus, ...] = (
            ("running", "restarting") if status == "restarting" else previous
        )
        lease = await claim(storage, workflow_id, run_id, status, expected)
        if lease is not None:
            return lease
    elif await update_status(storage, workflow_id, run_id, status, expected=previous):
        return None
    if status == "restarting":
        raise ResumeAlreadyClaimedError(
            f"run '{run_id}' is being run by another caller (it holds the run's claim); "
            "restart it once that caller's process is gone"
        )
    raise ResumeAlreadyClaimedError(f"run '{run_id}' was resumed by another caller first")


async def claim_unchanged(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    previous: RunStatus,
    planned_on: Mapping[str, Any],
) -> Lease | None:
    """Claim the stored run (``previous`` to ``running``) only if its snapshot is still
    ``planned_on``, the one the caller read: the status alone does not tell, as a finished run
    another caller re-ran meanwhile is back in the same status with other results. Else the
    claim is given back and ``ResumeAlreadyClaimedError`` raised, as for a claim lost."""
    lease = await claim_stored(storage, workflow_id, run_id, "running", previous)
    try:
        current = await load_snapshot(storage, workflow_id, run_id)
    except BaseException:
        await give_back_claim(storage, workflow_id, run_id, lease, "running", previous)
        raise
    if isinstance(current, Mapping) and dict(current, status=previous) == dict(
        planned_on, status=previous
    ):
        return lease
    await give_back_claim(storage, workflow_id, run_id, lease, "running", previous)
    raise ResumeAlreadyClaimedError(f"run '{run_id}' was changed by another caller first")


async def give_back_claim(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    lease: Lease | None,
    claimed: RunStatus,
    previous: RunStatus,
) -> None:
    """Undo a claim after what followed it failed: the run gets ``previous`` again."""
    if lease is not None:
        await give_back(storage, lease, previous)
    else:
        await release_claim(storage, workflow_id, run_id, claimed=claimed, previous=previous)


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
    previous: RunStatus = "paused" if plan.paused else "suspended"
    lease = await claim_stored(storage, graph.id, run_id, "running", previous)
    try:
        ex = restore_execution(snapshot, program=program, scope=new_scope(context), run_id=run_id)
    except BaseException:
        await give_back_claim(storage, graph.id, run_id, lease, "running", previous)
        raise
    if plan.paused:  # the paused entry finished: the next one runs, as in a restart
        return Claimed(ex, (ex.entry_index + 1, None), snapshot.get("tracingContext") or {}, lease)
    target = ResumeTarget(plan.path, plan.resume_data, plan.for_each_index, now_ms())
    return Claimed(ex, (ex.entry_index, target), snapshot.get("tracingContext") or {}, lease)


async def claim_restart(
    storage: Storage,
    program: Program,
    run_id: str,
    new_scope: ScopeFactory,
    *,
    allow_changed_graph: bool,
) -> Claimed | WorkflowResult:
    """Claim a run left ``running`` (``running`` -> ``restarting``; on a store with leases,
    any ``running`` or ``restarting`` run nobody holds) and rebuild its execution; a finished
    run's stored ``WorkflowResult`` instead. A damaged snapshot
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
    if status == "restarting" and not uses_leases(storage):
        raise ResumeAlreadyClaimedError(
            f"run '{run_id}' is being restarted by another caller (status "
            "'restarting'); if that restart's process is gone too, set the status back to "
            "'running' in storage first"
        )
    if status not in ("running", "restarting"):
        raise ResumeError(
            f"run '{run_id}' is {status}, not running; "
            + ("resume it instead" if status == "suspended" else "start it instead")
        )
    snapshot = snapshot_for_graph(checked, graph, run_id, allow_changed_graph=allow_changed_graph)
    lease = await claim_stored(storage, graph.id, run_id, "restarting", "running")
    try:
        context = as_request_context(snapshot.get("requestContext") or {})
        ex = restore_execution(snapshot, program=program, scope=new_scope(context), run_id=run_id)
    except BaseException:
        previous = cast("RunStatus", status)
        await give_back_claim(storage, graph.id, run_id, lease, "restarting", previous)
        raise
    return Claimed(ex, (ex.entry_index, None), snapshot.get("tracingContext") or {}, lease)
