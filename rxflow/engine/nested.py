"""A workflow used as a step: runs the child's program inside the parent step's invocation.

The child shares the parent's run scope, so its step events reach the parent's stream with
ids prefixed ``"<child_workflow_id>."``; its own start/finish are never emitted. A child that
suspends leaves its snapshot in the parent (``nested_snapshots``), from which a resume of the
path ``[parent step, inner step...]`` continues it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import attrs

from ..graph import WorkflowGraph
from ..snapshot import WireCache, build_snapshot, nested_key, restore_execution, suspended_paths
from ..tracing import end_span, start_span
from .outcome import result_status
from .state import ExecutionState, ResumeTarget, new_run_id, now_ms

if TYPE_CHECKING:
    from .call import StepCall
    from .program import Program

__all__ = ["NestedSuspension", "run_nested"]


@attrs.frozen(slots=True, eq=False)
class NestedSuspension:
    """Returned by a nested workflow that ended suspended: the parent step suspends too."""

    payload: Any


async def run_nested(ex: ExecutionState, call: StepCall, input_data: Any) -> Any:
    """Run (or resume) the nested workflow of ``call``; its output, or raise its error.

    A suspended child returns a ``NestedSuspension`` so the parent step suspends too; a
    canceled child raises ``CancelledError`` (the run's abort signal is set).
    """
    workflow = call.step
    assert isinstance(workflow, WorkflowGraph)
    step_id = workflow.id
    prefix = call.event_id + "."
    key = nested_key(step_id, call.foreach_index)
    stored = ex.nested_snapshots.pop(key, None)
    ex.nested_paths.pop(step_id, None)
    resuming = call.target is not None and stored is not None
    child_run_id = stored["runId"] if resuming and stored is not None else new_run_id()
    span, token = (None, None)
    if ex.scope.tracing:
        span, token = start_span(
            f"workflow run: '{workflow.id}'",
            {
                "rxflow.workflow.id": workflow.id,
                "rxflow.run.id": child_run_id,
                "rxflow.parent.run.id": ex.run_id,
            },
        )
    try:
        program = ex.program.nested[step_id]
        child = await _run_child(ex, call, program, stored, input_data, prefix, child_run_id)
    except BaseException as error:
        if span is not None:
            end_span(span, token, "failed", error, key="rxflow.run.status")
        raise
    status = child.status
    if span is not None:
        end_span(span, token, result_status(status), child.error, key="rxflow.run.status")
    if status in ("success", "bailed"):
        ex.state = child.state  # the child's final state flows back into the parent
        return child.value
    if status == "suspended":
        inner_id, inner_payload = next(iter(child.suspended.items()))
        ex.nested_paths[step_id] = [inner_id, *child.nested_paths.get(inner_id, ())]
        persister = ex.scope.persister
        ex.nested_snapshots[key] = build_snapshot(
            child,
            "suspended",
            WireCache(),
            now_ms(),
            by_reference=persister is not None and persister.live,  # the in-memory store
        )
        for label, where in child.labels.items():  # labels of inner steps name dotted paths
            ex.labels[label] = {**where, "stepId": f"{step_id}.{where['stepId']}"}
        return NestedSuspension(inner_payload)
    if status == "canceled":
        raise asyncio.CancelledError()
    assert child.error is not None
    raise child.error


async def _run_child(
    ex: ExecutionState,
    call: StepCall,
    program: Program,
    stored: dict[str, Any] | None,
    input_data: Any,
    prefix: str,
    run_id: str,
) -> ExecutionState:
    """Resume the stored child at the call's target, or run a fresh child."""
    if call.target is not None and stored is not None:
        child = restore_execution(
            stored, program=program, scope=ex.scope, run_id=run_id, prefix=prefix
        )
        target = call.target
        if not target.path:  # no inner path named (a foreach item): its single suspended one
            inner = suspended_paths(stored)
            target = ResumeTarget(inner[0], target.resume_data, None, target.resumed_at)
        await program.resume_drive(child, child.entry_index, target)
    else:
        child = ExecutionState(
            scope=ex.scope,
            program=program,
            run_id=run_id,
            input=input_data,
            state=ex.state,
            prefix=prefix,
        )
        await program.drive(child)
    return child
