"""Outcomes: a step's result into its execution, a block's results into its outcome, an entry's
output from stored results, the run's ``WorkflowResult``, and how a bail shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ..convert import conform
from ..errors import RxflowError
from ..graph import BranchEntry, Entry, ParallelEntry, SleepEntry, SleepUntilEntry, StepLike
from ..results import StepResult, TripwireInfo, WorkflowResult
from ..snapshot import nested_child, suspended_paths
from ..status import ExecutionStatus, ResultStatus, StepStatus
from .state import ExecutionState

__all__ = [
    "BlockTally",
    "block_output",
    "build_result",
    "end_entry",
    "entry_output",
    "result_status",
    "settle_siblings",
    "settle_step",
    "shown",
    "shown_status",
]


# -- the bail rule ------------------------------------------------------------------------------
# A step whose body returned ``ctx.bail(v)`` says ``bailed`` in its events and ends the whole
# workflow with ``v``; in ``WorkflowResult.steps`` and in snapshots its result says ``success``.
# That displayed result is a new object: results are shared (events, snapshots kept by
# reference, wire forms cached per object), so none is changed in place to change how it shows.


def shown_status(status: StepStatus) -> StepStatus:
    """The status a step's result shows in the run's steps: a bail shows as ``success``."""
    return "success" if status == "bailed" else status


def shown(result: StepResult) -> StepResult:
    """``result`` as the run's steps show it: for a bail, a copy that says ``success`` (the
    given result is left as it is); any other result is itself."""
    if result.status != "bailed":
        return result
    return attrs.evolve(result, status="success")


def result_status(status: ExecutionStatus) -> ResultStatus:
    """The status of the ``WorkflowResult`` of an execution that ended with ``status``: a bail
    ends the run successfully."""
    if status == "bailed":
        return "success"
    assert status != "running", "an execution has a result once it has ended"
    return status


# -- one step -----------------------------------------------------------------------------------


def settle_step(
    ex: ExecutionState, step_id: str, result: StepResult, *, again: bool = False
) -> None:
    """Record a single step's result and carry its outcome into the execution (``again``: the
    step is already on the execution path, as when it resumes).

    Runs once per step: the success path does no more than it must.
    """
    if result.status == "success":
        ex.value = result.output
        ex.suspended.pop(step_id, None)
    else:
        result = _settle_unsuccessful(ex, step_id, result)
    ex.record(step_id, result, again=again)


def _settle_unsuccessful(ex: ExecutionState, step_id: str, result: StepResult) -> StepResult:
    """``settle_step`` for every status but success; returns the result to record."""
    status = result.status
    if status == "suspended":
        ex.suspended[step_id] = result.suspend_payload
    else:
        ex.suspended.pop(step_id, None)
    end_entry(ex, status, result.output, result.error, result.tripwire)
    return shown(result)


def end_entry(
    ex: ExecutionState,
    status: StepStatus,
    output: Any = None,
    error: Any = None,
    tripwire: TripwireInfo | None = None,
) -> None:
    """Carry how an entry (a step, a block, a sleep) ended into its execution.

    ``success`` passes ``output`` on to the next entry; ``bailed`` ends the workflow with
    ``output`` (the bail value); ``failed`` ends it with ``error`` (``tripwire`` when a
    guardrail raised it); ``suspended`` and ``canceled`` end it so.
    """
    if status == "success":
        ex.value = output
    elif status == "bailed":
        ex.value = output
        ex.status = "bailed"
    elif status == "suspended":
        ex.status = "suspended"
    elif status == "canceled":
        ex.status = "canceled"
    else:
        assert isinstance(error, BaseException)
        ex.fail(error, tripwire)


# -- blocks -------------------------------------------------------------------------------------


@attrs.define(slots=True)
class BlockTally:
    """What the members of a block (parallel, branch, foreach items) did, folded in as each
    settles: the first failure, the first bail, and whether one was canceled."""

    failed: StepResult | None = None
    bailed: StepResult | None = None  # ends the whole workflow once the block has settled
    canceled: bool = False

    def add(self, result: StepResult, *, allow_failure: bool = False) -> StepStatus:
        """Fold in one member's result; returns the status the member shows (a bail shows as
        ``success``: the member itself succeeded, with the bail value). With
        ``allow_failure`` a failed member does not fail the block."""
        status = result.status
        if status == "bailed":
            if self.bailed is None:
                self.bailed = result
            return "success"
        if status == "failed":
            if self.failed is None and not allow_failure:
                self.failed = result
        elif status != "success" and status != "suspended":
            self.canceled = True
        return status

    def status(self, *, suspended: bool, aborted: bool) -> StepStatus:
        """How the block ends once every member has settled: a failure first, then a
        suspension, then a bail, then a cancel (a member's, or the run's); else success."""
        if self.failed is not None:
            return "failed"
        if suspended:
            return "suspended"
        if self.bailed is not None:
            return "bailed"
        if self.canceled or aborted:
            return "canceled"
        return "success"

    def output(self, status: StepStatus, success_output: Any) -> Any:
        """The block's output when it ended with ``status``: ``success_output`` on success,
        the bail value on a bail, else nothing."""
        if status == "success":
            return success_output
        if status == "bailed":
            assert self.bailed is not None
            return self.bailed.output
        return None

    def end(self, ex: ExecutionState, status: StepStatus, success_output: Any) -> None:
        """Carry the block's end into its execution (see ``end_entry``)."""
        failed = self.failed
        if failed is not None:
            end_entry(ex, status, None, failed.error, failed.tripwire)
        else:
            end_entry(ex, status, self.output(status, success_output))


def block_output(
    steps: Sequence[StepLike], results: dict[str, StepResult], allow_failure: bool
) -> dict[str, Any]:
    """A parallel or branch block's output: each member's output by step id (``None`` for a
    failed member when ``allow_failure``); members with no stored result are left out."""
    output: dict[str, Any] = {}
    for step in steps:
        result = results.get(step.id)
        if result is None:
            continue
        if result.status == "success":
            output[step.id] = result.output
        elif result.status == "failed" and allow_failure:
            output[step.id] = None
    return output


def settle_siblings(
    ex: ExecutionState, steps: Sequence[StepLike], *, allow_failure: bool = False
) -> None:
    """Decide a parallel or branch block from every member's recorded result and carry it into
    the execution. A bailed member's recorded result is replaced by its displayed one."""
    results = ex.step_results
    tally = BlockTally()
    suspended: dict[str, Any] = {}
    for step in steps:
        step_id = step.id
        result = results[step_id]
        ex.suspended.pop(step_id, None)
        if tally.add(result, allow_failure=allow_failure) == "suspended":
            suspended[step_id] = result.suspend_payload
        elif result.status == "bailed":
            results[step_id] = shown(result)
    status = tally.status(suspended=bool(suspended), aborted=ex.scope.aborted)
    if status == "suspended":
        ex.suspended.update(suspended)
    output = block_output(steps, results, allow_failure) if status == "success" else None
    tally.end(ex, status, output)


# -- entries and runs ---------------------------------------------------------------------------


def entry_output(entry: Entry, ex: ExecutionState) -> Any:
    """What a finished entry produced, read back from the stored step results."""
    results = ex.step_results
    if isinstance(entry, ParallelEntry):
        return block_output(entry.steps, results, entry.allow_failure)
    if isinstance(entry, BranchEntry):
        return block_output([step for _, step in entry.branches], results, False)
    step_id = entry.id if isinstance(entry, (SleepEntry, SleepUntilEntry)) else entry.step.id
    result = results.get(step_id)
    return result.output if result is not None else None


def build_result(ex: ExecutionState) -> WorkflowResult:
    """The ``WorkflowResult`` of an execution that has ended.

    A bail ends it successfully with the bail value as it is; a success has its output checked
    against the workflow's output schema (an output that does not fit fails the run).
    """
    status = result_status(ex.status)
    value = ex.value
    error = ex.error
    workflow = ex.workflow
    if ex.status == "success" and workflow.output_schema is not None:
        try:
            value = conform(
                value, workflow.output_schema, what=f"output of workflow '{workflow.id}'"
            )
        except RxflowError as exc:
            status, error = "failed", exc
    suspended = status == "suspended"
    return WorkflowResult(
        status=status,
        run_id=ex.run_id,
        input=ex.input,
        # A finished execution is never changed again (a resume rebuilds one from its
        # snapshot), so the result shares its containers instead of copying them.
        steps=ex.step_results,
        step_execution_path=ex.execution_path,
        state=ex.state,
        result=value if status == "success" else None,
        error=error if status == "failed" else None,
        tripwire=ex.tripwire if status == "tripwire" else None,
        suspended=[[sid, *_inner_path(ex, sid)] for sid in ex.suspended] if suspended else None,
        suspend_payload=dict(ex.suspended) if suspended else None,
    )


def _inner_path(ex: ExecutionState, step_id: str) -> list[str]:
    """The suspended path inside ``step_id`` when it is a nested workflow (else empty)."""
    path = ex.nested_paths.get(step_id)
    if path is None:
        child = nested_child({"nestedRuns": ex.nested_snapshots}, step_id)
        inner = suspended_paths(child) if child is not None else []
        path = inner[0] if inner else []
    return list(path)
