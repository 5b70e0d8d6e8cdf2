"""Snapshots: an execution as the camelCase dict that storage keeps, and back.

A snapshot holds ``runId, status, value (the run state), context (input + step results),
activePaths, suspendedPaths, resumeLabels, stepExecutionPath, serializedStepGraph, result,
error, requestContext, tracingContext, timestamp, version``, plus ``nestedRuns``: the snapshots
of nested workflows that are suspended inside a step, keyed by that step's id, and
``graphFingerprint``: the fingerprint of the graph that wrote it. A run that was time-travelled
also has ``previousAttempts``: step id -> the results (wire form) its re-runs replaced, oldest
first. The ``serializedStepGraph``
and the fingerprint are the workflow graph's own, made once when it was committed.

Each finished step result is converted once and reused by every later snapshot of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .convert import conform, error_to_wire, to_wire
from .errors import NotJSONError, SnapshotError, StorageError, ValidationError
from .graph import ForeachEntry, WorkflowGraph, entry_steps
from .results import StepResult
from .schema import field_types
from .status import RunStatus

if TYPE_CHECKING:
    from .engine.program import Program
    from .engine.state import ExecutionState, RunScope

__all__ = [
    "SNAPSHOT_VERSION",
    "WireCache",
    "build_control",
    "build_snapshot",
    "input_wire",
    "results_wire",
    "check_snapshot",
    "nested_child",
    "nested_key",
    "pending_snapshot",
    "restore_execution",
    "suspended_paths",
]

SNAPSHOT_VERSION = 1


@attrs.define(slots=True, eq=False)
class WireCache:
    """Wire forms of step results, converted once per result object: in a durable run as
    each step ends (a result JSON cannot carry fails its step there), else when a snapshot
    first needs them. ``wire`` raises ``NotJSONError`` for such a result.

    A running block (a foreach whose items are still settling) changes in place, so it is
    converted again on every snapshot until it ends.
    """

    _wire: dict[str, tuple[StepResult, dict[str, Any]]] = attrs.field(factory=dict, init=False)

    def wire(self, step_id: str, result: StepResult) -> dict[str, Any]:
        cached = self._wire.get(step_id)
        if cached is not None and cached[0] is result and result.status != "running":
            return cached[1]
        wire: dict[str, Any] = to_wire(result)
        self._wire[step_id] = (result, wire)
        return wire


def pending_snapshot(graph: WorkflowGraph, run_id: str, timestamp: int) -> dict[str, Any]:
    """The snapshot ``create_run`` writes: nothing has run yet."""
    return {
        "runId": run_id,
        "status": "pending",
        "value": {},
        "context": {},
        "activePaths": [],
        "suspendedPaths": {},
        "resumeLabels": {},
        "stepExecutionPath": [],
        "serializedStepGraph": graph.serialized,
        "graphFingerprint": graph.fingerprint,
        "result": None,
        "error": None,
        "requestContext": {},
        "tracingContext": None,
        "nestedRuns": {},
        "timestamp": timestamp,
        "version": SNAPSHOT_VERSION,
    }


def build_snapshot(
    ex: ExecutionState,
    status: RunStatus,
    cache: WireCache,
    timestamp: int,
    *,
    result: Any = None,
    error: BaseException | None = None,
    tracing_context: Mapping[str, Any] | None = None,
    live: bool = False,
    by_reference: bool = False,
) -> dict[str, Any]:
    """The snapshot of ``ex`` with ``status`` (a fresh dict: storage may keep it as is).

    With ``live`` the step results stay objects (for the in-memory store, which converts
    them when the snapshot is first read). With ``live`` or ``by_reference`` (a store that
    keeps values by reference) a value JSON cannot carry is kept as it is; otherwise it
    raises ``StorageError`` naming the run, the value and the path.
    """
    keep = live or by_reference
    run_id = ex.run_id
    context: dict[str, Any] = {"input": _wire(ex.input, "the workflow input", run_id, keep)}
    if live:
        context.update(ex.step_results)
    else:
        _add_results(context, ex.step_results, cache, run_id, keep)
    snapshot = build_control(
        ex,
        status,
        timestamp,
        result=result,
        error=error,
        tracing_context=tracing_context,
        live=live,
        by_reference=by_reference,
    )
    snapshot["context"] = context
    return snapshot


def build_control(
    ex: ExecutionState,
    status: RunStatus,
    timestamp: int,
    *,
    result: Any = None,
    error: BaseException | None = None,
    tracing_context: Mapping[str, Any] | None = None,
    live: bool = False,
    by_reference: bool = False,
) -> dict[str, Any]:
    """:func:`build_snapshot` without its ``context`` (the step results): the control state a
    checkpoint writes, which does not grow with the results."""
    keep = live or by_reference
    run_id = ex.run_id
    suspended = {step_id: [ex.entry_index] for step_id in ex.suspended}
    snapshot = {
        "runId": run_id,
        "status": status,
        "value": _wire(ex.state, "the run state", run_id, keep),
        "activePaths": [ex.entry_index],
        "suspendedPaths": suspended,
        "resumeLabels": dict(ex.labels),
        # A live (in-memory) final snapshot may share the finished execution's path; one taken
        # mid-run must not, the path grows.
        "stepExecutionPath": ex.execution_path
        if live and status != "running"
        else list(ex.execution_path),
        "serializedStepGraph": ex.workflow.serialized,
        "graphFingerprint": ex.workflow.fingerprint,
        "result": _wire(result, "the workflow result", run_id, keep)
        if status == "success"
        else None,
        "error": error_to_wire(error) if error is not None else None,
        "requestContext": _wire(
            ex.scope.request_context.to_dict(), "the request context", run_id, keep
        ),
        "tracingContext": dict(tracing_context) if tracing_context else None,
        "nestedRuns": dict(ex.nested_snapshots),
        "timestamp": timestamp,
        "version": SNAPSHOT_VERSION,
    }
    if ex.previous_attempts:  # only a run that was time-travelled has any
        snapshot["previousAttempts"] = {k: list(v) for k, v in ex.previous_attempts.items()}
    return snapshot


def _wire(value: Any, what: str, run_id: str, keep: bool) -> Any:
    """``value`` as JSON data; as it is when ``keep`` and JSON cannot carry it."""
    try:
        return to_wire(value)
    except NotJSONError as error:
        if keep:
            return value
        raise _not_storable(run_id, what, error) from error


def _add_results(
    context: dict[str, Any],
    results: Mapping[str, StepResult],
    cache: WireCache,
    run_id: str,
    keep: bool,
) -> None:
    """Each step result's wire form into ``context`` (converted once per result object)."""
    try:
        for step_id, step_result in results.items():
            context[step_id] = cache.wire(step_id, step_result)
    except NotJSONError:
        # Only on failure: say which result; a store keeping objects keeps that one as is.
        for step_id, step_result in results.items():
            if step_id in context:
                continue
            try:
                context[step_id] = cache.wire(step_id, step_result)
            except NotJSONError as error:
                if not keep:
                    raise _not_storable(run_id, f"the result of step '{step_id}'", error) from error
                context[step_id] = step_result


def input_wire(ex: ExecutionState) -> Any:
    """The run input of ``ex`` as JSON data (``StorageError`` when JSON cannot carry it)."""
    return _wire(ex.input, "the workflow input", ex.run_id, False)


def results_wire(
    ex: ExecutionState, keys: Iterable[str], cache: WireCache
) -> dict[str, dict[str, Any]]:
    """The wire forms of the step results of ``ex`` under ``keys`` (a key without a result
    is skipped); ``StorageError`` naming the step for one JSON cannot carry."""
    results = ex.step_results
    wires: dict[str, dict[str, Any]] = {}
    for key in keys:
        step_result = results.get(key)
        if step_result is None:
            continue
        try:
            wires[key] = cache.wire(key, step_result)
        except NotJSONError as error:
            raise _not_storable(ex.run_id, f"the result of step '{key}'", error) from error
    return wires


def _not_storable(run_id: str, what: str, error: NotJSONError) -> StorageError:
    return StorageError(
        f"snapshot of run '{run_id}' cannot be stored: {what}: {error.path}: {error.problem}"
    )


def nested_key(step_id: str, foreach_index: int | None) -> str:
    """Where a suspended nested workflow's snapshot is kept: by step id, and by item index for
    a nested workflow run by a foreach (``"<id>#<index>"``)."""
    return step_id if foreach_index is None else f"{step_id}#{foreach_index}"


def nested_child(snapshot: Mapping[str, Any], step_id: str) -> Mapping[str, Any] | None:
    """The stored snapshot of a nested workflow suspended in ``step_id`` (for a foreach of
    nested workflows, the first suspended item's)."""
    nested = snapshot.get("nestedRuns") or {}
    child = nested.get(step_id)
    if child is None:
        items = sorted(
            (int(key.rpartition("#")[2]), value)
            for key, value in nested.items()
            if key.rpartition("#")[0] == step_id
        )
        child = items[0][1] if items else None
    return child


def suspended_paths(snapshot: Mapping[str, Any]) -> list[list[str]]:
    """Every suspended path of a stored run: ``[["approve"]]``, ``[["outer", "inner"]]``."""
    paths: list[list[str]] = []
    for step_id in snapshot.get("suspendedPaths") or {}:
        child = nested_child(snapshot, step_id)
        if child is not None:
            paths.extend([step_id, *inner] for inner in suspended_paths(child))
        else:
            paths.append([step_id])
    return paths


def _typed(value: Any, schema: Any) -> Any:
    """``value`` structured into ``schema`` again; as it is when it does not fit (stored data
    is never refused here: the step that reads it validates it)."""
    if schema is None or value is None:
        return value
    try:
        return conform(value, schema)
    except (ValidationError, TypeError, ValueError):
        return value


def _retype(ex: ExecutionState) -> None:
    """Give restored values their schema types back (snapshots hold plain JSON data): the
    workflow input, the run state key by key, and every stored step output, item by item for a
    foreach (a ``Decimal`` field reads back as a ``Decimal``, not its string)."""
    workflow = ex.workflow
    ex.input = _typed(ex.input, workflow.input_schema)
    types = field_types(workflow.state_schema) if workflow.state_schema is not None else None
    if types is not None:
        ex.state = {
            key: _typed(value, types.get(key)) if key in types else value
            for key, value in ex.state.items()
        }
    for entry in workflow.entries:
        for step in entry_steps(entry):
            result = ex.step_results.get(step.id)
            schema = getattr(step, "output_schema", None)
            if result is None or schema is None or result.status != "success":
                continue
            if isinstance(entry, ForeachEntry) and isinstance(result.output, list):
                result.output = [_typed(item, schema) for item in result.output]
            else:
                result.output = _typed(result.output, schema)


def check_snapshot(snapshot: Any, run_id: str) -> Mapping[str, Any]:
    """The snapshot, if this rxflow can read its format; else ``SnapshotError`` saying why (a
    snapshot is never half-read into a silently wrong state). ``snapshot_check`` checks every
    field before a stored run is continued."""
    if not isinstance(snapshot, Mapping):
        raise SnapshotError(run_id, "", f"not a mapping but {type(snapshot).__name__}")
    version = snapshot.get("version")
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(
            run_id,
            "version",
            f"format version {version!r}; this rxflow reads version {SNAPSHOT_VERSION}",
        )
    shapes = {
        "context": Mapping,
        "stepExecutionPath": list,
        "activePaths": list,
        "suspendedPaths": Mapping,
    }
    for key, shape in shapes.items():
        if not isinstance(snapshot.get(key), shape):
            raise SnapshotError(
                run_id, key, f"expected {shape.__name__}, got {type(snapshot.get(key)).__name__}"
            )
    return snapshot


def restore_execution(
    snapshot: Any,
    *,
    program: Program,
    scope: RunScope,
    run_id: str,
    prefix: str = "",
) -> ExecutionState:
    """Rebuild an execution from its snapshot; a snapshot that cannot be read raises
    ``StorageError`` (never a silent partial state)."""
    from .engine.state import ExecutionState

    snap = check_snapshot(snapshot, run_id)
    context = dict(snap["context"])
    try:
        steps = {
            step_id: StepResult.from_dict(wire)
            for step_id, wire in context.items()
            if step_id != "input"
        }
    except (ValueError, TypeError) as exc:
        raise StorageError(
            f"snapshot of run '{run_id}' has unreadable step results: {exc}"
        ) from exc
    state = snap.get("value") or {}
    ex = ExecutionState(
        scope=scope,
        program=program,
        run_id=run_id,
        input=context.get("input"),
        state=dict(state),
        prefix=prefix,
    )
    ex.step_results = steps
    ex.execution_path = list(snap["stepExecutionPath"])
    active = snap["activePaths"]
    ex.entry_index = int(active[0]) if active else 0
    for step_id in snap["suspendedPaths"]:
        stored = steps.get(step_id)
        ex.suspended[step_id] = stored.suspend_payload if stored is not None else None
    ex.labels = dict(snap.get("resumeLabels") or {})
    _retype(ex)
    ex.nested_snapshots = dict(snap.get("nestedRuns") or {})
    previous = snap.get("previousAttempts")
    if previous:
        ex.previous_attempts = {key: list(attempts) for key, attempts in previous.items()}
    for step_id in ex.suspended:
        child = nested_child(snap, step_id)
        inner = suspended_paths(child) if child is not None else []
        if inner:
            ex.nested_paths[step_id] = inner[0]
    return ex
