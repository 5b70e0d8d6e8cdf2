"""Checking a stored snapshot before a stored run is continued: every field's type and range,
against the graph that wrote it. Only reads JSON data; nothing stored is ever executed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, get_args

import attrs

from .errors import SnapshotError
from .graph import EntryShape, WorkflowGraph, graph_shape
from .results import StepResult
from .snapshot import SNAPSHOT_VERSION
from .status import RunStatus

__all__ = ["CheckedSnapshot", "check_stored_snapshot"]

_RUN_STATUSES = frozenset(get_args(RunStatus))


@attrs.frozen(slots=True)
class CheckedSnapshot:
    """A stored snapshot whose every field was checked, and the structure of the graph that
    wrote it (``same_graph``: that graph is the workflow's current one)."""

    snapshot: Mapping[str, Any]
    shape: tuple[EntryShape, ...]
    same_graph: bool


def check_stored_snapshot(snapshot: Any, graph: WorkflowGraph, run_id: str) -> CheckedSnapshot:
    """Check every field of a stored snapshot of a run of ``graph``; ``SnapshotError`` naming
    the run and the field otherwise.

    Positions (``activePaths``, ``suspendedPaths``, ``nestedRuns``) are checked against the
    graph that wrote the snapshot: the workflow's own, or the stored ``serializedStepGraph``
    when the snapshot's ``graphFingerprint`` says the graph has changed since. A snapshot
    written before fingerprints existed is checked against the workflow's graph.
    """
    check = _Checker(run_id, "")
    check.format(snapshot)
    shape, same = _stored_shape(snapshot, graph, check)
    check.fields(snapshot, shape)
    return CheckedSnapshot(snapshot, shape, same)


def _stored_shape(
    snap: Mapping[str, Any], graph: WorkflowGraph, check: _Checker
) -> tuple[tuple[EntryShape, ...], bool]:
    fingerprint = snap.get("graphFingerprint")
    if fingerprint is None or fingerprint == graph.fingerprint:
        return graph.shape, True
    if not isinstance(fingerprint, str):
        check.fail("graphFingerprint", f"expected a string, got {_kind(fingerprint)}")
    serialized = snap.get("serializedStepGraph")
    if not isinstance(serialized, list):
        check.fail("serializedStepGraph", f"expected a list, got {_kind(serialized)}")
    try:
        shape = graph_shape(serialized)
    except (KeyError, TypeError, AttributeError) as exc:
        check.fail("serializedStepGraph", f"not a serialised workflow graph ({exc!r})")
    if not shape:
        check.fail("serializedStepGraph", "a workflow graph without entries")
    return shape, shape == graph.shape


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _is_index(value: Any, size: int) -> bool:
    return type(value) is int and 0 <= value < size


@attrs.frozen(slots=True)
class _Checker:
    """Checks one snapshot (a nested run's under ``where``, like ``nestedRuns.review.``)."""

    run_id: str
    where: str

    def fail(self, field: str, problem: str) -> NoReturn:
        raise SnapshotError(self.run_id, self.where + field, problem)

    def format(self, snap: Any) -> None:
        if not isinstance(snap, Mapping):
            self.fail("", f"a snapshot must be a mapping, got {_kind(snap)}")
        version = snap.get("version")
        if version != SNAPSHOT_VERSION:
            self.fail(
                "version",
                f"format version {version!r}; this rxflow reads version {SNAPSHOT_VERSION}",
            )

    def fields(self, snap: Mapping[str, Any], shape: Sequence[EntryShape]) -> None:
        if not isinstance(snap.get("runId"), str):
            self.fail("runId", f"expected a string, got {_kind(snap.get('runId'))}")
        if snap.get("status") not in _RUN_STATUSES:
            self.fail("status", f"{snap.get('status')!r} is not a run status")
        self.mapping(snap, "value", optional=True)
        self.mapping(snap, "requestContext", optional=True)
        tracing = self.mapping(snap, "tracingContext", optional=True)
        if any(not isinstance(v, str) for v in tracing.values()):
            self.fail("tracingContext", "its values must be strings")
        timestamp = snap.get("timestamp")
        if timestamp is not None and type(timestamp) is not int:
            self.fail("timestamp", f"expected an int, got {_kind(timestamp)}")
        self.context(snap)
        for key, attempts in self.mapping(snap, "previousAttempts", optional=True).items():
            if not isinstance(attempts, list) or not all(isinstance(a, Mapping) for a in attempts):
                self.fail(f"previousAttempts.{key}", "expected a list of step results")
        path = snap.get("stepExecutionPath")
        if not isinstance(path, list) or not all(isinstance(s, str) for s in path):
            self.fail("stepExecutionPath", "expected a list of step ids (strings)")
        self.positions(snap, shape)
        self.labels(snap)
        self.nested(snap, shape)

    def mapping(self, snap: Mapping[str, Any], field: str, *, optional: bool) -> Mapping[str, Any]:
        value = snap.get(field)
        if value is None and optional:
            return {}
        if not isinstance(value, Mapping):
            self.fail(field, f"expected a mapping, got {_kind(value)}")
        if not all(isinstance(key, str) for key in value):
            self.fail(field, "its keys must be strings")
        return value

    def context(self, snap: Mapping[str, Any]) -> None:
        for key, wire in self.mapping(snap, "context", optional=False).items():
            if key == "input":
                continue
            try:
                result = StepResult.from_dict(wire)
            except (ValueError, TypeError) as exc:
                self.fail(f"context.{key}", str(exc))
            self.foreach_progress(f"context.{key}", result)

    def foreach_progress(self, field: str, result: StepResult) -> None:
        """The per-item progress a foreach keeps in its result, which a resume reads back."""
        metadata = result.metadata
        if not isinstance(metadata, Mapping) or "foreach" not in metadata:
            return
        progress, field = metadata["foreach"], f"{field}.metadata.foreach"
        if not isinstance(result.payload, list):
            self.fail(f"{field}", "a foreach's stored items (its payload) must be a list")
        size = len(result.payload)
        if not isinstance(progress, Mapping):
            self.fail(field, f"expected a mapping, got {_kind(progress)}")
        outputs, done = progress.get("outputs"), progress.get("done")
        if not isinstance(outputs, list) or len(outputs) != size:
            self.fail(f"{field}.outputs", f"expected a list of {size} outputs")
        if not isinstance(done, list) or not all(_is_index(i, size) for i in done):
            self.fail(f"{field}.done", f"expected a list of item indexes below {size}")
        suspended = progress.get("suspended")
        if not isinstance(suspended, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and _is_index(pair[0], size)
            for pair in suspended
        ):
            self.fail(f"{field}.suspended", f"expected [index, payload] pairs, index < {size}")

    def positions(self, snap: Mapping[str, Any], shape: Sequence[EntryShape]) -> None:
        """``activePaths``: the index of the active entry; ``suspendedPaths``: its suspended
        steps (a step leaves it as soon as it settles otherwise)."""
        size = len(shape)
        active = snap.get("activePaths")
        if not isinstance(active, list) or len(active) > 1:
            self.fail("activePaths", f"expected a list of at most one entry index, got {active!r}")
        if active and not _is_index(active[0], size):
            self.fail(
                "activePaths",
                f"entry index {active[0]!r} is not one of the graph's {size} entries "
                f"(0 to {size - 1})",
            )
        entry: int = active[0] if active else 0
        in_entry = {step_id for step_id, _ in shape[entry][1]}
        for step_id, where in self.mapping(snap, "suspendedPaths", optional=False).items():
            if step_id not in in_entry:
                self.fail(
                    f"suspendedPaths.{step_id}",
                    f"no step '{step_id}' in the active entry {entry} of the graph",
                )
            if not isinstance(where, list) or not all(_is_index(i, size) for i in where):
                self.fail(f"suspendedPaths.{step_id}", f"expected entry indexes below {size}")

    def labels(self, snap: Mapping[str, Any]) -> None:
        for label, where in self.mapping(snap, "resumeLabels", optional=True).items():
            field = f"resumeLabels.{label}"
            if not isinstance(where, Mapping) or not isinstance(where.get("stepId"), str):
                self.fail(field, 'expected {"stepId": <step id>} with an optional "foreachIndex"')
            index = where.get("foreachIndex")
            if index is not None and (type(index) is not int or index < 0):
                self.fail(f"{field}.foreachIndex", f"expected an int >= 0, got {index!r}")

    def nested(self, snap: Mapping[str, Any], shape: Sequence[EntryShape]) -> None:
        """Each nested run is the snapshot of a nested workflow of the graph."""
        inner = {step_id: sub for _, steps in shape for step_id, sub in steps if sub is not None}
        for key, child in self.mapping(snap, "nestedRuns", optional=True).items():
            step_id, mark, index = key.partition("#")
            if step_id not in inner or (mark and not index.isdigit()):
                self.fail(f"nestedRuns.{key}", f"no nested workflow '{step_id}' in the graph")
            check = _Checker(self.run_id, f"{self.where}nestedRuns.{key}.")
            check.format(child)
            check.fields(child, inner[step_id])
