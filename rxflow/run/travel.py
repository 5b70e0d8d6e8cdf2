"""Time travel: re-run a stored run from one of its steps.

The stored run is checked and trimmed first (``plan_travel``, which only reads): results of the
target step and of every entry after it move to ``previousAttempts``; ``context`` overrides,
checked against each step's output schema, replace earlier results. Then the run is claimed
from its stored status (``claim_travel``), the trimmed snapshot is stored, and the execution is
rebuilt with its target made to look suspended, so the resume machinery re-runs exactly that
step (its stored siblings in a block kept, one foreach item when ``for_each_index`` says so) and
the entries after it run as in a normal run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import attrs

from ..convert import conform, to_wire
from ..engine.program import Program
from ..engine.state import NO_INPUT, ExecutionState, ResumeTarget, RunScope, new_run_id, now_ms
from ..errors import (
    ResumeAlreadyClaimedError,
    ResumeError,
    RunInProgressError,
    UnknownStepError,
    WorkflowChangedError,
)
from ..graph import (
    Entry,
    ForeachEntry,
    LoopEntry,
    SleepEntry,
    SleepUntilEntry,
    WorkflowGraph,
    entry_steps,
)
from ..graph_changes import describe_changes
from ..results import StepResult
from ..resume import find_step
from ..snapshot import SNAPSHOT_VERSION, restore_execution
from ..snapshot_check import CheckedSnapshot
from ..status import RunStatus
from ..storage.protocol import Storage
from ..stored import persist_snapshot
from .executions import Claimed, claim_unchanged, give_back_claim

__all__ = ["TravelPlan", "TravelRequest", "claim_travel", "entry_of", "plan_travel", "trimmed"]


@attrs.frozen(slots=True)
class TravelRequest:
    """What a time travel asks for (``input_data`` is ``NO_INPUT`` when not given)."""

    path: list[str]
    input_data: Any = NO_INPUT
    resume_data: Any = None
    for_each_index: int | None = None
    context: Mapping[str, Any] | None = None
    initial_state: Mapping[str, Any] | None = None


@attrs.frozen(slots=True)
class TravelPlan:
    """A time travel that can go ahead: the trimmed snapshot to store and continue, the stored
    status it is claimed from, the target's entry, its stored result, and the context values
    for steps inside the nested workflow it travels into (path below it -> output)."""

    snapshot: dict[str, Any]
    previous: RunStatus
    index: int
    stored_target: Mapping[str, Any] | None
    nested_context: dict[tuple[str, ...], Any]
    planned_on: Mapping[str, Any]  # the stored snapshot as read: the claim checks it is unchanged


def entry_of(graph: WorkflowGraph, step_id: str) -> int | None:
    """The index of the top-level entry of ``graph`` that runs ``step_id``."""
    for index, entry in enumerate(graph.entries):
        if any(step.id == step_id for step in entry_steps(entry)):
            return index
    return None


def _keys(entry: Entry) -> list[str]:
    """The step-result keys an entry stores (a sleep stores one under its own id)."""
    if isinstance(entry, (SleepEntry, SleepUntilEntry)):
        return [entry.id]
    return [step.id for step in entry_steps(entry)]


def _unknown(graph: WorkflowGraph, path: Sequence[str], what: str) -> UnknownStepError:
    known = ", ".join(repr(step_id) for step_id in graph.steps)
    return UnknownStepError(
        f"{what} {'.'.join(path)!r} is not a step of workflow '{graph.id}' (its steps: {known})"
    )


def check_travel_target(graph: WorkflowGraph, run_id: str, checked: CheckedSnapshot | None) -> None:
    """Refuse what cannot be time-travelled: an unknown run, a run that is running, a run
    stored by a graph that has changed since."""
    if checked is None:
        raise ResumeError(f"no stored run '{run_id}' of workflow '{graph.id}' to time-travel")
    status = checked.snapshot.get("status")
    if status in ("running", "restarting"):
        raise RunInProgressError(
            f"run '{run_id}' is {status} (this or another process owns it); time travel "
            "needs a run that is not being executed"
        )
    if not checked.same_graph:
        changes = describe_changes(checked.shape, graph.shape)
        raise WorkflowChangedError(
            f"workflow '{graph.id}' changed since run '{run_id}' was stored: "
            f"{'; '.join(changes[:5])}; a time travel re-runs the stored run in the graph that "
            "stored it, so it needs that graph",
            workflow_id=graph.id,
            run_id=run_id,
            changes=changes,
        )


def plan_travel(
    graph: WorkflowGraph, run_id: str, checked: CheckedSnapshot | None, request: TravelRequest
) -> TravelPlan:
    """Check a time travel against the stored run (``ResumeError`` subclasses,
    ``ValidationError`` for ``context``) and trim its snapshot."""
    check_travel_target(graph, run_id, checked)
    assert checked is not None
    path = request.path
    if not path or find_step(graph, path) is None:
        raise _unknown(graph, path, "step")
    index = entry_of(graph, path[0])
    assert index is not None
    entry = graph.entries[index]
    if request.for_each_index is not None and (
        len(path) != 1 or not isinstance(entry, ForeachEntry)
    ):
        raise ResumeError(
            f"for_each_index given, but step {'.'.join(path)!r} is not a foreach of the "
            "workflow's own entries"
        )
    if request.resume_data is not None and isinstance(entry, LoopEntry) and len(path) == 1:
        raise ResumeError(f"resume_data cannot be given for the loop step {path[0]!r}")
    overrides, nested_context = _checked_context(graph, path, index, request.context or {})
    snapshot = trimmed(checked.snapshot, graph, index, path[0], overrides)
    stored_target = (checked.snapshot.get("context") or {}).get(path[0])
    return TravelPlan(
        snapshot,
        cast("RunStatus", checked.snapshot.get("status")),
        index,
        stored_target,
        nested_context,
        checked.snapshot,
    )


def _checked_context(
    graph: WorkflowGraph, path: list[str], index: int, context: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[tuple[str, ...], Any]]:
    """``context`` values checked against their steps' output schemas (``ValidationError``):
    those for earlier top-level steps (or siblings of the target), and those for steps inside
    the nested workflow the travel goes into."""
    if not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping of step id to output, got {context!r}")
    top: dict[str, Any] = {}
    nested: dict[tuple[str, ...], Any] = {}
    for key, value in context.items():
        key_path = [part for part in str(key).split(".") if part]
        step = find_step(graph, key_path)
        if step is None:
            raise _unknown(graph, key_path, "context names")
        schema = getattr(step, "output_schema", None)
        if schema is not None:
            value = conform(value, schema, what=f"context of step '{key}'")
        if len(key_path) > 1:
            if key_path[:-1] != path[: len(key_path) - 1] or key_path == path:
                raise ResumeError(
                    f"context names {key!r}, which is not before {'.'.join(path)!r} in the "
                    "nested workflow the time travel goes into"
                )
            nested[tuple(key_path[1:])] = value
            continue
        where = entry_of(graph, key)
        assert where is not None
        if where > index or key == path[0]:
            raise ResumeError(
                f"context names step {key!r}, which runs again in this time travel (from "
                f"{'.'.join(path)!r}); give only steps before it"
            )
        top[key] = value
    return top, nested


def trimmed(
    snapshot: Mapping[str, Any],
    graph: WorkflowGraph,
    index: int,
    target: str,
    overrides: Mapping[str, Any],
    *,
    keep_history: bool = True,
) -> dict[str, Any]:
    """A copy of ``snapshot`` without the results of ``target`` and of the entries after entry
    ``index``, with ``overrides`` as results of their steps. With ``keep_history`` each removed
    or replaced result is appended to ``previousAttempts``."""
    context = dict(snapshot.get("context") or {})
    history = {key: list(value) for key, value in (snapshot.get("previousAttempts") or {}).items()}
    removed = {target}
    for entry in graph.entries[index + 1 :]:
        removed.update(_keys(entry))
    for key in sorted(removed.union(overrides)):
        old = context.pop(key, None)
        if old is not None and keep_history:
            history.setdefault(key, []).append(old)
    for key, value in overrides.items():
        context[key] = to_wire(StepResult(status="success", output=value))
    result = dict(snapshot)
    result["context"] = context
    result["stepExecutionPath"] = [
        key for key in snapshot.get("stepExecutionPath") or [] if key in context
    ] + [key for key in overrides if key not in (snapshot.get("stepExecutionPath") or [])]
    result["suspendedPaths"] = {}
    result["nestedRuns"] = {}
    result["resumeLabels"] = {}
    result["activePaths"] = [index]
    result["result"] = None
    result["error"] = None
    if history:
        result["previousAttempts"] = history
    else:
        result.pop("previousAttempts", None)
    return result


async def claim_travel(
    storage: Storage,
    program: Program,
    run_id: str,
    plan: TravelPlan,
    request: TravelRequest,
    scope: RunScope,
) -> Claimed:
    """Claim the run from its stored status (``ResumeAlreadyClaimedError`` when another caller
    won), store its trimmed snapshot, and rebuild the execution to continue at the target; a
    failure after the claim gives the claim back."""
    graph = program.graph
    try:
        lease = await claim_unchanged(storage, graph.id, run_id, plan.previous, plan.planned_on)
    except ResumeAlreadyClaimedError:
        raise ResumeAlreadyClaimedError(
            f"run '{run_id}' was claimed by another caller first (a concurrent time travel, "
            "resume or restart); nothing ran for this time travel"
        ) from None
    try:
        snapshot = dict(plan.snapshot, status="running")
        await persist_snapshot(storage, graph.id, run_id, snapshot, resource_id=None)
        ex = restore_execution(snapshot, program=program, scope=scope, run_id=run_id)
        if request.initial_state is not None:
            ex.state = dict(request.initial_state)
        target = aim(ex, plan, request)
    except BaseException:
        await give_back_claim(storage, graph.id, run_id, lease, "running", plan.previous)
        raise
    tracing = plan.snapshot.get("tracingContext") or {}
    return Claimed(ex, (plan.index, target), tracing, lease)


def _input_of(program: Program, ex: ExecutionState, index: int, path: Sequence[str]) -> Any:
    """The input entry ``index`` would get from the stored results (``ResumeError`` when the
    entry before it has none)."""
    if index > 0:
        before = program.graph.entries[index - 1]
        if not any(key in ex.step_results for key in _keys(before)):
            raise ResumeError(
                f"step {'.'.join(path)!r} has no stored input: the entry before it "
                f"({', '.join(repr(k) for k in _keys(before))}) has no stored result; give "
                "input_data, or context for that step"
            )
    return program.input_of(index, ex)


def aim(ex: ExecutionState, plan: TravelPlan, request: TravelRequest) -> ResumeTarget:
    """Make the target of the time travel look suspended in ``ex`` (or, for a loop, a foreach
    or a sleep, absent, with the entry's input given): the resume target that re-runs it."""
    path = request.path
    step_id = path[0]
    entry = ex.workflow.entries[plan.index]
    given = request.input_data
    resumed_at = None if request.resume_data is None else now_ms()
    entry_input = NO_INPUT
    if request.for_each_index is not None:
        ex.step_results[step_id] = _foreach_progress(plan.stored_target, step_id, request)
    elif len(path) == 1 and isinstance(entry, (LoopEntry, ForeachEntry)):
        entry_input = _input_of(ex.program, ex, plan.index, path) if given is NO_INPUT else given
    else:
        if len(path) > 1:  # the nested workflow's own input: its stored one, else derived
            stored = plan.stored_target
            value = (
                stored.get("payload")
                if isinstance(stored, Mapping) and "payload" in stored
                else _input_of(ex.program, ex, plan.index, path)
            )
            ex.nested_snapshots[step_id] = _child_snapshot(
                ex.program.nested[step_id], ex.scope, value, path[1:], request, plan, ex.state
            )
        elif given is NO_INPUT:
            value = _input_of(ex.program, ex, plan.index, path)
        else:
            value = given
        ex.step_results[step_id] = StepResult(status="suspended", payload=value)
    if step_id in ex.step_results:  # it re-runs as a resumed step: it keeps its place
        ex.execution_path.append(step_id)
    return ResumeTarget(path, request.resume_data, request.for_each_index, resumed_at, entry_input)


def _foreach_progress(
    stored: Mapping[str, Any] | None, step_id: str, request: TravelRequest
) -> StepResult:
    """The foreach's stored result as per-item progress with one item left to run."""
    index = request.for_each_index
    assert index is not None
    result = StepResult.from_dict(stored) if isinstance(stored, Mapping) else None
    if result is None or result.status != "success" or not isinstance(result.output, list):
        raise ResumeError(
            f"for_each_index given, but foreach {step_id!r} has no stored item outputs (it "
            f"{'never ran' if result is None else 'ended ' + result.status}); time-travel to "
            "the whole step instead"
        )
    items = list(result.payload) if isinstance(result.payload, list) else []
    if not 0 <= index < len(items):
        raise ResumeError(f"foreach {step_id!r} has {len(items)} items; no item {index}")
    if request.input_data is not NO_INPUT:
        items[index] = request.input_data
    suspended = [[index, None]] if request.resume_data is not None else []
    progress = {
        "outputs": list(result.output),
        "done": [i for i in range(len(items)) if i != index],
        "suspended": suspended,
    }
    return StepResult(
        status="running",
        payload=items,
        started_at=result.started_at,
        metadata={"foreach": progress},
    )


def _child_snapshot(
    program: Program,
    scope: RunScope,
    child_input: Any,
    path: list[str],
    request: TravelRequest,
    plan: TravelPlan,
    state: dict[str, Any],
) -> dict[str, Any]:
    """The snapshot a nested workflow continues from to re-run its step ``path[0]``: the
    nested workflow's input, and the ``context`` values given for its earlier steps."""
    graph = program.graph
    index = entry_of(graph, path[0])
    assert index is not None
    depth = len(request.path) - len(path)
    context: dict[str, Any] = {"input": to_wire(child_input)}
    for key, value in plan.nested_context.items():
        if key[:-1] == tuple(request.path[1:depth]):  # a step of this nested workflow
            context[key[-1]] = to_wire(StepResult(status="success", output=value))
    snapshot: dict[str, Any] = {
        "runId": new_run_id(),
        "status": "suspended",
        "value": to_wire(state),
        "context": context,
        "activePaths": [index],
        "suspendedPaths": {},
        "resumeLabels": {},
        "stepExecutionPath": [key for key in context if key != "input"],
        "nestedRuns": {},
        "version": SNAPSHOT_VERSION,
    }
    entry = graph.entries[index]
    if len(path) == 1 and isinstance(entry, (LoopEntry, ForeachEntry)):
        return snapshot  # the entry runs again on the input the target carries, or its own
    child = restore_execution(snapshot, program=program, scope=scope, run_id=snapshot["runId"])
    if len(path) > 1:
        value = _input_of(program, child, index, request.path)
        snapshot["nestedRuns"][path[0]] = _child_snapshot(
            program.nested[path[0]], scope, value, path[1:], request, plan, state
        )
    elif request.input_data is NO_INPUT:
        value = _input_of(program, child, index, request.path)
    else:
        value = request.input_data
    context[path[0]] = to_wire(StepResult(status="suspended", payload=value))
    snapshot["stepExecutionPath"].append(path[0])
    return snapshot
