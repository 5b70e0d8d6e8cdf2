"""When a stored run's workflow has changed: what changed, entry by entry, and (when the caller
allows it) the stored run's positions moved onto the new graph by step id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import WorkflowChangedError
from .graph import EntryShape, WorkflowGraph
from .snapshot_check import CheckedSnapshot

__all__ = ["describe_changes", "snapshot_for_graph"]

_SHOWN = 5  # changes named in an error's message; ``WorkflowChangedError.changes`` has all


def snapshot_for_graph(
    checked: CheckedSnapshot, graph: WorkflowGraph, run_id: str, *, allow_changed_graph: bool
) -> Mapping[str, Any]:
    """The checked snapshot, to continue in ``graph``.

    When the graph that wrote it differs, raises ``WorkflowChangedError`` naming the changes,
    unless ``allow_changed_graph``: then the snapshot's positions are moved onto ``graph`` by
    step id (the run continues at the entry of ``graph`` that holds the step it stopped in).
    """
    if checked.same_graph:
        return checked.snapshot
    changes = describe_changes(checked.shape, graph.shape)
    if not allow_changed_graph:
        shown = "; ".join(changes[:_SHOWN])
        more = f"; and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else ""
        raise WorkflowChangedError(
            f"workflow '{graph.id}' changed since run '{run_id}' was stored: {shown}{more}. "
            "Pass allow_changed_graph=True to continue the run in the new graph (stored step "
            "results are matched by step id)",
            workflow_id=graph.id,
            run_id=run_id,
            changes=changes,
        )
    return _moved(checked.snapshot, checked.shape, graph.shape, graph.id, run_id, changes)


def describe_changes(
    old: Sequence[EntryShape], new: Sequence[EntryShape], where: str = ""
) -> list[str]:
    """One line per entry that differs: ``entry 2 was step 'approve', is now step 'enrich'``
    (entries counted from 1; a nested workflow's own entries under its name)."""
    changes: list[str] = []
    for index in range(max(len(old), len(new))):
        label = f"{where}entry {index + 1}"
        if index >= len(new):
            changes.append(f"{label} ({describe_entry(old[index])}) was removed")
        elif index >= len(old):
            changes.append(f"{label} is new: {describe_entry(new[index])}")
        elif old[index] != new[index]:
            changes.extend(_entry_changes(label, old[index], new[index]))
    return changes


def _entry_changes(label: str, before: EntryShape, after: EntryShape) -> list[str]:
    ids_before = [(step_id, sub is None) for step_id, sub in before[1]]
    ids_after = [(step_id, sub is None) for step_id, sub in after[1]]
    if before[0] != after[0] or ids_before != ids_after:
        return [f"{label} was {describe_entry(before)}, is now {describe_entry(after)}"]
    changes: list[str] = []  # the same steps: what changed is inside nested workflows
    for (step_id, sub_before), (_, sub_after) in zip(before[1], after[1], strict=True):
        if sub_before is not None and sub_after is not None and sub_before != sub_after:
            inside = f"{label}, inside nested workflow '{step_id}': "
            changes.extend(describe_changes(sub_before, sub_after, inside))
    return changes


_BLOCKS = {"parallel": "parallel", "conditional": "branch", "loop": "loop", "foreach": "foreach"}


def describe_entry(entry: EntryShape) -> str:
    """An entry as a message names it: ``step 'a'``, ``parallel of step 'a', step 'b'``..."""
    kind, steps = entry
    names = ", ".join(
        f"{'nested workflow' if sub is not None else 'step'} '{step_id}'" for step_id, sub in steps
    )
    if kind == "mapping":
        return f"map '{steps[0][0]}'"
    if kind in ("sleep", "sleepUntil"):
        return f"{'sleep' if kind == 'sleep' else 'sleep_until'} '{steps[0][0]}'"
    if kind in _BLOCKS:
        return f"{_BLOCKS[kind]} of {names}"
    return names if kind == "step" else f"{kind} of {names}"


def _moved(
    snap: Mapping[str, Any],
    old: Sequence[EntryShape],
    new: Sequence[EntryShape],
    workflow_id: str,
    run_id: str,
    changes: list[str],
) -> dict[str, Any]:
    """``snap`` with its positions moved from graph ``old`` onto ``new``, by step id."""
    active = snap["activePaths"]
    entry = old[active[0] if active else 0]
    suspended = list(snap["suspendedPaths"])
    moved = _holding(new, entry[0], suspended or [step_id for step_id, _ in entry[1]], suspended)
    if moved is None:
        where = (
            f"suspended in {', '.join(repr(s) for s in suspended)}"
            if suspended
            else f"stopped in {describe_entry(entry)}"
        )
        raise WorkflowChangedError(
            f"run '{run_id}' cannot continue in the changed workflow '{workflow_id}': it is "
            f"{where}, and the new graph has no {entry[0]} entry holding "
            f"{'them' if len(suspended) > 1 else 'it'}",
            workflow_id=workflow_id,
            run_id=run_id,
            changes=changes,
        )
    result = dict(snap)
    result["activePaths"] = [moved]
    result["suspendedPaths"] = {step_id: [moved] for step_id in suspended}
    nested = snap.get("nestedRuns") or {}
    if nested:
        old_inner = dict(entry[1])
        new_inner = dict(new[moved][1])
        result["nestedRuns"] = {
            key: _moved_child(key, child, old_inner, new_inner, workflow_id, run_id, changes)
            for key, child in nested.items()
        }
    return result


def _holding(
    graph: Sequence[EntryShape], kind: str, step_ids: list[str], suspended: list[str]
) -> int | None:
    """The index of the entry of ``kind`` holding every suspended step (or, for a run that was
    not suspended, any step of the entry it was in)."""
    for index, (entry_kind, steps) in enumerate(graph):
        ids = {step_id for step_id, _ in steps}
        holds = ids.issuperset(step_ids) if suspended else not ids.isdisjoint(step_ids)
        if entry_kind == kind and holds:
            return index
    return None


def _moved_child(
    key: str,
    child: Mapping[str, Any],
    old_inner: Mapping[str, Any],
    new_inner: Mapping[str, Any],
    workflow_id: str,
    run_id: str,
    changes: list[str],
) -> Mapping[str, Any]:
    step_id = key.partition("#")[0]
    before, after = old_inner[step_id], new_inner.get(step_id)
    if after is None:
        raise WorkflowChangedError(
            f"run '{run_id}' cannot continue in the changed workflow '{workflow_id}': "
            f"'{step_id}', where it is suspended, is no longer a nested workflow",
            workflow_id=workflow_id,
            run_id=run_id,
            changes=changes,
        )
    if before == after:
        return child
    return _moved(child, before, after, workflow_id, run_id, changes)
