"""Outcome rules: a step's result into its execution, a block's results into the block's outcome,
an entry's output from stored results, the run's result, and how a bail shows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs
import pytest

from rxflow import RequestContext, SQLiteStorage, StepContext, create_step, create_workflow
from rxflow.engine.outcome import (
    BlockTally,
    block_output,
    build_result,
    entry_output,
    result_status,
    settle_siblings,
    settle_step,
    shown,
    shown_status,
)
from rxflow.engine.state import ExecutionState, RunScope
from rxflow.errors import ValidationError
from rxflow.results import StepResult, TripwireInfo
from rxflow.status import ExecutionStatus, StepStatus


async def _const(ctx: StepContext) -> Any:
    return ctx.input_data


def _workflow(**options: Any) -> Any:
    a = create_step(id="a", execute=_const)
    b = create_step(id="b", execute=_const)
    c = create_step(id="c", execute=_const)
    d = create_step(id="d", execute=_const)
    return create_workflow(id="wf", **options).parallel([a, b, c]).then(d).commit()


def _execution(workflow: Any, value: Any = None) -> ExecutionState:
    scope = RunScope(
        run_id="run-1",
        workflow_id=workflow.id,
        resource_id=None,
        emit=lambda event: None,
        request_context=RequestContext(),
        loop=asyncio.get_running_loop(),
        on_abort_request=lambda: None,
    )
    return ExecutionState(scope=scope, program=workflow.program, run_id="run-1", input=value)


def _bailed(output: Any = "early") -> StepResult:
    return StepResult(status="bailed", payload=1, output=output, started_at=10, ended_at=20)


# --- the bail rule ----------------------------------------------------------------------------


def test_a_bail_shows_as_success_and_nothing_else_changes() -> None:
    statuses: list[StepStatus] = [
        "running",
        "waiting",
        "success",
        "failed",
        "suspended",
        "bailed",
        "canceled",
    ]
    assert [shown_status(s) for s in statuses] == [
        "running",
        "waiting",
        "success",
        "failed",
        "suspended",
        "success",
        "canceled",
    ]
    ended: list[ExecutionStatus] = [
        "success",
        "failed",
        "suspended",
        "canceled",
        "tripwire",
        "bailed",
    ]
    assert [result_status(s) for s in ended] == [
        "success",
        "failed",
        "suspended",
        "canceled",
        "tripwire",
        "success",
    ]


def test_the_shown_result_of_a_bail_is_a_copy_and_the_original_is_left_as_it_is() -> None:
    original = _bailed({"early": True})
    displayed = shown(original)
    assert displayed is not original
    assert original.status == "bailed"
    assert displayed == StepResult(
        status="success", payload=1, output={"early": True}, started_at=10, ended_at=20
    )
    assert displayed.output is original.output
    other = StepResult(status="failed", payload=1, error=ValueError("x"), started_at=1)
    assert shown(other) is other


# --- one step ---------------------------------------------------------------------------------


async def test_settling_a_success_records_the_result_itself() -> None:
    ex = _execution(_workflow(), 1)
    ex.suspended["a"] = "was suspended"
    result = StepResult(status="success", payload=1, output=2, started_at=1, ended_at=2)
    settle_step(ex, "a", result)
    assert ex.step_results == {"a": result}
    assert ex.step_results["a"] is result
    assert (ex.status, ex.value, ex.suspended, ex.execution_path) == ("running", 2, {}, ["a"])


async def test_settling_a_bail_records_a_success_copy_and_leaves_the_step_result_unchanged() -> (
    None
):
    ex = _execution(_workflow(), 1)
    original = _bailed("early")
    settle_step(ex, "a", original)
    assert original.status == "bailed"
    recorded = ex.step_results["a"]
    assert recorded is not original
    assert recorded == attrs.evolve(original, status="success")
    assert (ex.status, ex.value, ex.execution_path) == ("bailed", "early", ["a"])


async def test_settling_each_other_status() -> None:
    error = ValueError("bad")
    tripwire = TripwireInfo(reason="guard")
    cases = [
        (StepResult(status="suspended", payload=1, suspend_payload={"ask": 1}, started_at=1),
         "suspended", {"a": {"ask": 1}}, None, None),
        (StepResult(status="canceled", payload=1, started_at=1), "canceled", {}, None, None),
        (StepResult(status="failed", payload=1, error=error, started_at=1),
         "failed", {}, error, None),
        (StepResult(status="failed", payload=1, error=error, started_at=1, tripwire=tripwire),
         "tripwire", {}, error, tripwire),
    ]  # fmt: skip
    for result, status, suspended, ex_error, ex_tripwire in cases:
        ex = _execution(_workflow(), 1)
        settle_step(ex, "a", result, again=True)
        assert ex.step_results["a"] is result
        assert (ex.status, ex.value, ex.suspended) == (status, 1, suspended)
        assert (ex.error, ex.tripwire, ex.execution_path) == (ex_error, ex_tripwire, [])


# --- blocks -----------------------------------------------------------------------------------


def test_a_block_ends_with_its_first_failure_then_suspension_then_bail_then_cancel() -> None:
    failed = StepResult(status="failed", payload=None, error=ValueError("x"), started_at=1)
    bailed = _bailed()
    canceled = StepResult(status="canceled", payload=None, started_at=1)
    success = StepResult(status="success", payload=None, output=1, started_at=1)

    def end(results: list[StepResult], suspended: bool = False, aborted: bool = False) -> str:
        tally = BlockTally()
        for result in results:
            tally.add(result)
        return tally.status(suspended=suspended, aborted=aborted)

    assert end([success, bailed, canceled, failed], suspended=True) == "failed"
    assert end([success, bailed, canceled], suspended=True) == "suspended"
    assert end([success, canceled, bailed]) == "bailed"
    assert end([success, canceled]) == "canceled"
    assert end([success], aborted=True) == "canceled"
    assert end([success, success]) == "success"
    assert end([]) == "success"


def test_a_tally_keeps_the_first_failure_and_the_first_bail_and_shows_a_bail_as_success() -> None:
    first, second = _bailed("one"), _bailed("two")
    error = StepResult(status="failed", payload=None, error=ValueError("x"), started_at=1)
    tally = BlockTally()
    assert [tally.add(r) for r in (first, second, error)] == ["success", "success", "failed"]
    assert (tally.bailed, tally.failed, tally.canceled) == (first, error, False)
    assert first.status == second.status == "bailed"
    allowed = BlockTally()
    assert allowed.add(error, allow_failure=True) == "failed"
    assert allowed.failed is None
    assert allowed.status(suspended=False, aborted=False) == "success"
    assert tally.output("success", {"x": 1}) == {"x": 1}
    assert tally.output("bailed", {"x": 1}) == "one"
    assert tally.output("failed", {"x": 1}) is None


async def test_a_block_with_a_bailed_member_ends_the_workflow_and_the_member_shows_success() -> (
    None
):
    workflow = _workflow()
    ex = _execution(workflow, 1)
    steps = workflow.entries[0].steps
    original = _bailed("stop")
    ex.step_results = {
        "a": StepResult(status="success", payload=1, output="A", started_at=1),
        "b": original,
        "c": StepResult(status="success", payload=1, output="C", started_at=1),
    }
    settle_siblings(ex, steps)
    assert original.status == "bailed"
    assert ex.step_results["b"] == attrs.evolve(original, status="success")
    assert ex.step_results["b"] is not original
    assert (ex.status, ex.value) == ("bailed", "stop")


async def test_a_block_of_successes_passes_on_its_members_outputs_by_step_id() -> None:
    workflow = _workflow()
    steps = workflow.entries[0].steps
    for allow_failure, value in ((True, {"a": "A", "b": None, "c": "C"}), (False, None)):
        ex = _execution(workflow, 1)
        ex.suspended = {"a": "old", "b": "old"}
        error = ValueError("b failed")
        ex.step_results = {
            "a": StepResult(status="success", payload=1, output="A", started_at=1),
            "b": StepResult(status="failed", payload=1, error=error, started_at=1),
            "c": StepResult(status="success", payload=1, output="C", started_at=1),
        }
        settle_siblings(ex, steps, allow_failure=allow_failure)
        assert ex.suspended == {}
        if allow_failure:
            assert (ex.status, ex.value, ex.error) == ("running", value, None)
        else:
            assert (ex.status, ex.value, ex.error) == ("failed", 1, error)


async def test_a_block_suspends_on_every_suspended_member() -> None:
    workflow = _workflow()
    ex = _execution(workflow, 1)
    ex.step_results = {
        "a": StepResult(status="suspended", payload=1, suspend_payload="pa", started_at=1),
        "b": _bailed(),
        "c": StepResult(status="suspended", payload=1, suspend_payload="pc", started_at=1),
    }
    settle_siblings(ex, workflow.entries[0].steps)
    assert (ex.status, ex.suspended) == ("suspended", {"a": "pa", "c": "pc"})
    assert ex.step_results["b"].status == "success"


# --- entries and runs -------------------------------------------------------------------------


async def test_an_entry_output_is_read_back_from_the_stored_results() -> None:
    workflow = _workflow()
    parallel, then = workflow.entries
    ex = _execution(workflow, 1)
    ex.step_results = {
        "a": StepResult(status="success", payload=1, output="A", started_at=1),
        "b": StepResult(status="failed", payload=1, error=ValueError("x"), started_at=1),
    }
    assert entry_output(parallel, ex) == {"a": "A"}
    assert block_output(parallel.steps, ex.step_results, True) == {"a": "A", "b": None}
    assert entry_output(then, ex) is None
    ex.step_results["d"] = StepResult(status="success", payload=1, output="D", started_at=1)
    assert entry_output(then, ex) == "D"


async def test_a_bailed_run_result_is_success_with_the_bail_value_unchecked_by_the_schema() -> None:
    workflow = _workflow(output_schema=int)
    ex = _execution(workflow, 1)
    ex.status, ex.value = "bailed", "not an int"
    result = build_result(ex)
    assert (result.status, result.result, result.error) == ("success", "not an int", None)
    ex.status = "success"
    result = build_result(ex)
    assert (result.status, result.result) == ("failed", None)
    assert isinstance(result.error, ValidationError)
    assert str(result.error).splitlines() == [
        "output of workflow 'wf'",
        "$: expected int, got 'not an int'",
    ]
    ex.value = 7
    result = build_result(ex)
    assert (result.status, result.result, result.run_id, result.steps) == (
        "success",
        7,
        "run-1",
        {},
    )


# --- end to end -------------------------------------------------------------------------------


async def _bail(ctx: StepContext) -> Any:
    return ctx.bail("stop")


async def _slow(ctx: StepContext) -> Any:
    await asyncio.sleep(0.05)
    return 1


async def test_a_bailed_block_member_is_stored_as_success_in_the_final_snapshot(
    tmp_path: Path,
) -> None:
    # The member's result is stored while the other member still runs; the final snapshot
    # must show it as the run's steps do.
    store = SQLiteStorage(tmp_path / "runs.db")
    wf = (
        create_workflow(id="pb", storage=store)
        .parallel([create_step(id="bailer", execute=_bail), create_step(id="slow", execute=_slow)])
        .commit()
    )
    run = await wf.create_run()
    events: list[Any] = []
    run.watch(events.append)
    result = await run.start(input_data=0)
    snapshot = await store.load_snapshot("pb", run.run_id)
    await store.close()
    assert snapshot is not None
    assert (result.status, result.result) == ("success", "stop")
    assert {k: v.status for k, v in result.steps.items()} == {
        "bailer": "success",
        "slow": "success",
    }
    assert snapshot["status"] == "success"
    assert {k: v["status"] for k, v in snapshot["context"].items() if k != "input"} == {
        "bailer": "success",
        "slow": "success",
    }
    step_results = [e.payload for e in events if e.type == "workflow-step-result"]
    assert [(p.id, p.status) for p in step_results] == [("bailer", "bailed"), ("slow", "success")]


async def test_a_bailed_foreach_item_shows_success_and_ends_the_workflow_with_its_value() -> None:
    async def item(ctx: StepContext) -> Any:
        if ctx.input_data == 1:
            return ctx.bail(f"bailed at {ctx.input_data}")
        return ctx.input_data * 10

    wf = (
        create_workflow(id="fe")
        .foreach(create_step(id="item", execute=item), concurrency=1)
        .then(create_step(id="after", execute=_const))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=[0, 1, 2])
    chunks = [chunk async for chunk in output]
    result = await output.result
    progress = [c.payload for c in chunks if c.type == "workflow-step-progress"]
    assert [(p.current_index, p.iteration_status, p.iteration_output) for p in progress] == [
        (0, "success", 0),
        (1, "success", "bailed at 1"),
    ]
    ends = [c.payload for c in chunks if c.type == "workflow-step-result"]
    assert [(p.id, p.status, p.output) for p in ends] == [("item", "bailed", "bailed at 1")]
    assert (result.status, result.result) == ("success", "bailed at 1")
    assert result.steps["item"].status == "success"
    assert result.steps["item"].output == "bailed at 1"
    assert result.step_execution_path == ["item"]


@pytest.mark.parametrize("bail_first", [True, False])
async def test_a_bailed_chain_step_shows_success_in_steps_and_bailed_in_its_event(
    bail_first: bool,
) -> None:
    steps = [create_step(id="bailer", execute=_bail), create_step(id="next", execute=_const)]
    if not bail_first:
        steps.insert(0, create_step(id="first", execute=_const))
    builder = create_workflow(id="chain")
    for step in steps:
        builder = builder.then(step)
    output = (await builder.commit().create_run()).stream(input_data=5)
    chunks = [chunk.to_dict() async for chunk in output]
    result = await output.result
    statuses = [c["payload"]["status"] for c in chunks if c["type"] == "workflow-step-result"]
    assert statuses == (["bailed"] if bail_first else ["success", "bailed"])
    assert result.to_dict()["steps"]["bailer"] == {
        "status": "success",
        "payload": 5,
        "output": "stop",
        "startedAt": result.steps["bailer"].started_at,
        "endedAt": result.steps["bailer"].ended_at,
    }
    assert (result.status, result.result) == ("success", "stop")
