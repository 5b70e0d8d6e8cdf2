"""Planning a resume from a stored snapshot: which suspended path, which step, is the data valid.

Everything here only reads; a plan that raises (``ResumeError``, ``ValidationError``,
``StorageError``) leaves the run as it was. Claiming the run is the caller's next step, and
``release_claim`` gives a claim back when what follows it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from .convert import conform
from .errors import (
    ResumeAlreadyClaimedError,
    ResumeError,
    SnapshotError,
    StorageError,
    WorkflowChangedError,
)
from .graph import StepLike, WorkflowGraph
from .graph_changes import snapshot_for_graph
from .snapshot import nested_child, suspended_paths
from .snapshot_check import CheckedSnapshot, check_stored_snapshot
from .status import RunStatus
from .storage.protocol import Storage
from .stored import load_snapshot, update_status

__all__ = [
    "ResumePlan",
    "StepSelector",
    "find_step",
    "load_checked",
    "path_of",
    "plan_resume",
    "release_claim",
]

_log = logging.getLogger("rxflow")


class _Named(Protocol):
    """A step or a workflow, as a caller names it: anything with an ``id``."""

    @property
    def id(self) -> str: ...


StepSelector = _Named | str | Sequence["_Named | str"] | None


def path_of(step: StepSelector) -> list[str] | None:
    """A step, a step id, a dotted ``"outer.inner"`` or a list of those, as a path of ids."""
    if step is None:
        return None
    if isinstance(step, str):
        return [part for part in step.split(".") if part]
    if isinstance(step, Sequence):
        path: list[str] = []
        for part in step:
            inner = path_of(part)
            if inner:
                path.extend(inner)
        return path
    step_id = getattr(step, "id", None)
    if not isinstance(step_id, str):
        raise TypeError(f"step must be a Step, a step id or a list of those, got {step!r}")
    return [step_id]


def find_step(graph: WorkflowGraph, path: Sequence[str]) -> StepLike | None:
    """The step (or nested workflow) at ``path`` in the workflow graph, or ``None``."""
    found: StepLike | None = None
    current: StepLike = graph
    for step_id in path:
        if not isinstance(current, WorkflowGraph):
            return None
        found = current.steps.get(step_id)
        if found is None:
            return None
        current = found
    return found


def _show(paths: Sequence[Sequence[str]]) -> str:
    return ", ".join("[" + ", ".join(repr(p) for p in path) + "]" for path in paths) or "none"


def _foreach_items(snapshot: Mapping[str, Any], path: Sequence[str]) -> list[int] | None:
    """Suspended item indexes of the foreach on ``path`` (the outermost one), or ``None``."""
    snap: Mapping[str, Any] | None = snapshot
    for step_id in path:
        if snap is None:
            return None
        stored = (snap.get("context") or {}).get(step_id) or {}
        metadata = stored.get("metadata") if isinstance(stored, Mapping) else None
        progress = metadata.get("foreach") if isinstance(metadata, Mapping) else None
        if isinstance(progress, Mapping):
            return [int(pair[0]) for pair in progress.get("suspended") or []]
        snap = nested_child(snap, step_id)
    return None


def _was_resumed(snapshot: Mapping[str, Any]) -> bool:
    """Whether some step of the stored run was resumed (its suspension was consumed)."""
    context = snapshot.get("context") or {}
    return any(
        isinstance(result, Mapping) and result.get("resumedAt") is not None
        for step_id, result in context.items()
        if step_id != "input"
    )


async def load_checked(
    storage: Storage, graph: WorkflowGraph, run_id: str
) -> CheckedSnapshot | None:
    """The stored snapshot of the run, every field checked (``SnapshotError`` naming the
    field), or ``None`` for an unknown run. A store's own failure is a ``StorageError``."""
    snapshot = await load_snapshot(storage, graph.id, run_id)
    if snapshot is None:
        return None
    return check_stored_snapshot(snapshot, graph, run_id)


async def release_claim(
    storage: Storage, workflow_id: str, run_id: str, *, claimed: RunStatus, previous: RunStatus
) -> None:
    """Give back a claim (status ``claimed``, set by this caller) after what followed it
    failed: the run gets its ``previous`` status again, so it can be continued later."""
    try:
        await update_status(storage, workflow_id, run_id, previous, expected=claimed)
    except StorageError as error:
        _log.error("run '%s': could not give back its claim: %s", run_id, error)


@attrs.frozen(slots=True)
class ResumePlan:
    """A resume that can go ahead: the snapshot to continue (its positions in the workflow's
    current graph), the full suspended path, the foreach item and the resume data; or, with
    ``paused``, a step-by-step run that goes on with its next entry."""

    snapshot: Mapping[str, Any]
    path: list[str]
    for_each_index: int | None
    resume_data: Any
    paused: bool = False


def plan_resume(
    workflow: WorkflowGraph,
    run_id: str,
    checked: CheckedSnapshot | None,
    *,
    step: StepSelector,
    label: str | None,
    for_each_index: int | None,
    resume_data: Any,
    allow_changed_graph: bool = False,
) -> ResumePlan:
    """Check a resume against the stored run (``ResumeError``, ``WorkflowChangedError``,
    ``ValidationError``); what the resume continues, and with what."""
    if checked is None:
        raise ResumeError(f"no stored run '{run_id}' of workflow '{workflow.id}' to resume")
    snapshot = checked.snapshot
    status = snapshot.get("status")
    if status in ("running", "restarting"):
        raise ResumeAlreadyClaimedError(
            f"run '{run_id}' is running (another caller holds it); only a suspended run "
            "can be resumed"
        )
    if status == "paused":
        if step is not None or label is not None or resume_data is not None:
            raise ResumeError(
                f"run '{run_id}' is paused between two steps (step by step): resume it with "
                "no step, label or resume data to run its next entry"
            )
        snapshot = snapshot_for_graph(
            checked, workflow, run_id, allow_changed_graph=allow_changed_graph
        )
        return ResumePlan(snapshot, [], None, None, paused=True)
    if status != "suspended":
        if _was_resumed(snapshot):  # a resume of it won (and may have finished) first
            raise ResumeAlreadyClaimedError(
                f"run '{run_id}' is not suspended (status: {status}); another caller "
                "resumed it first"
            )
        raise ResumeError(f"run '{run_id}' is not suspended (status: {status})")
    snapshot = snapshot_for_graph(
        checked, workflow, run_id, allow_changed_graph=allow_changed_graph
    )
    available = suspended_paths(snapshot)
    if not available:
        raise SnapshotError(
            run_id, "suspendedPaths", "the run is stored as suspended but names no suspended step"
        )
    if label is not None:
        where = (snapshot.get("resumeLabels") or {}).get(label)
        if where is None:
            known = sorted(snapshot.get("resumeLabels") or {})
            raise ResumeError(f"run '{run_id}' has no resume label {label!r} (labels: {known})")
        if step is None:
            step = where["stepId"]
        if for_each_index is None and where.get("foreachIndex") is not None:
            for_each_index = int(where["foreachIndex"])
    wanted = path_of(step)
    if wanted is None:
        if len(available) != 1:
            raise ResumeError(
                f"run '{run_id}' has several suspended steps: {_show(available)}; "
                "pass step= to choose one"
            )
        path = available[0]
    else:
        matches = [p for p in available if p[: len(wanted)] == wanted]
        if not matches:
            raise ResumeError(
                f"step {'.'.join(wanted)!r} of run '{run_id}' is not suspended; "
                f"suspended steps: {_show(available)}"
            )
        if len(matches) > 1:
            raise ResumeError(
                f"step {'.'.join(wanted)!r} of run '{run_id}' has several suspended steps inside: "
                f"{_show(matches)}; name the inner one"
            )
        path = matches[0]
    if for_each_index is not None:
        items = _foreach_items(snapshot, path)
        if items is None:
            raise ResumeError(f"for_each_index given, but step {'.'.join(path)!r} is not a foreach")
        if for_each_index not in items:
            raise ResumeError(
                f"item {for_each_index} of foreach {'.'.join(path)!r} is not suspended; "
                f"suspended items: {items}"
            )
    target = find_step(workflow, path)
    if target is None:
        shown = ".".join(path)
        raise WorkflowChangedError(
            f"step {shown!r} of run '{run_id}' is not in workflow '{workflow.id}' (was the "
            "workflow changed since the run was stored?)",
            workflow_id=workflow.id,
            run_id=run_id,
            changes=[f"step {shown!r} is not in the workflow"],
        )
    schema = target.resume_schema
    if schema is not None:
        resume_data = conform(resume_data, schema, what=f"resume data of step '{target.id}'")
    return ResumePlan(snapshot, path, for_each_index, resume_data)
