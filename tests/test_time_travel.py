"""Time travel: re-running a stored run from one step, with exact events and stored results."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import collect, kinds

from rxflow import (
    InMemoryStorage,
    ResumeAlreadyClaimedError,
    ResumeError,
    RunInProgressError,
    StepContext,
    UnknownStepError,
    ValidationError,
    WorkflowChangedError,
    create_step,
    create_workflow,
)

START, STEP, RESULT, FINISH = (
    "workflow-start",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-finish",
)


class Calls:
    """The step bodies that ran, in order."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def add(self, step_id: str, n: int) -> Any:
        async def body(ctx: StepContext) -> int:
            self.ran.append(step_id)
            return int(ctx.input_data) + n

        return create_step(id=step_id, execute=body, input_schema=int, output_schema=int)


def outputs(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Step id -> stored output (the workflow input under ``input``)."""
    return {
        key: value if key == "input" else value.get("output")
        for key, value in snapshot["context"].items()
    }


def history(snapshot: dict[str, Any]) -> dict[str, list[Any]]:
    """Step id -> outputs of the stored previous attempts, oldest first."""
    return {
        key: [attempt.get("output") for attempt in attempts]
        for key, attempts in (snapshot.get("previousAttempts") or {}).items()
    }


async def chain_run() -> tuple[Any, Any, Calls, InMemoryStorage]:
    storage = InMemoryStorage()
    calls = Calls()
    wf = (
        create_workflow(id="chain", storage=storage, input_schema=int)
        .then(calls.add("s1", 1))
        .then(calls.add("s2", 10))
        .then(calls.add("s3", 100))
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=0)).result == 111
    calls.ran.clear()
    return wf, run, calls, storage


# --- a chain ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "given", "ran", "expected", "replaced"),
    [
        ("s1", 5, ["s1", "s2", "s3"], {"s1": 6, "s2": 16, "s3": 116}, ["s1", "s2", "s3"]),
        ("s2", None, ["s2", "s3"], {"s1": 1, "s2": 11, "s3": 111}, ["s2", "s3"]),
        ("s2", 7, ["s2", "s3"], {"s1": 1, "s2": 17, "s3": 117}, ["s2", "s3"]),
        ("s3", None, ["s3"], {"s1": 1, "s2": 11, "s3": 111}, ["s3"]),
    ],
)
async def test_chain_from_first_middle_and_last_step(
    step: str, given: int | None, ran: list[str], expected: dict[str, int], replaced: list[str]
) -> None:
    wf, run, calls, storage = await chain_run()
    output = run.time_travel_stream(step=step, input_data=given)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        *[pair for s in ran for pair in ((STEP, s), (RESULT, s))],
        (FINISH, None),
    ]
    result = await output.result
    assert (result.status, result.result) == ("success", expected["s3"])
    assert calls.ran == ran
    assert result.step_execution_path == ["s1", "s2", "s3"]
    stored = await storage.load_snapshot("chain", run.run_id)
    assert stored["status"] == "success"
    assert outputs(stored) == {"input": 0, **expected}
    old = {"s1": 1, "s2": 11, "s3": 111}
    assert history(stored) == {key: [old[key]] for key in replaced}
    start = chunks[1].to_dict()["payload"]
    assert "resumePayload" not in start and "resumedAt" not in start
    assert start["payload"] == (given if given is not None else {"s1": 0, "s2": 1, "s3": 11}[step])


async def test_a_second_time_travel_adds_to_the_previous_attempts() -> None:
    wf, run, calls, storage = await chain_run()
    assert (await run.time_travel(step="s3", input_data=1)).result == 101
    assert (await run.time_travel(step="s3", input_data=2)).result == 102
    stored = await storage.load_snapshot("chain", run.run_id)
    assert history(stored) == {"s3": [111, 101]}
    assert outputs(stored)["s3"] == 102
    assert calls.ran == ["s3", "s3"]


async def test_time_travel_from_a_new_run_object_and_resume_data() -> None:
    storage = InMemoryStorage()
    seen: list[Any] = []

    async def ask(ctx: StepContext) -> Any:
        seen.append(ctx.resume_data)
        if ctx.resume_data is None:
            return await ctx.suspend({"why": "approve"})
        return {"approved": ctx.resume_data}

    def build() -> Any:
        return (
            create_workflow(id="ask", storage=storage)
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    run = await build().create_run()
    assert (await run.start(input_data=1)).status == "suspended"
    other = await build().get_run(run.run_id)
    assert other is not None
    output = other.time_travel_stream(step="ask", resume_data="yes")
    chunks = await collect(output)
    assert kinds(chunks) == [(START, None), (STEP, "ask"), (RESULT, "ask"), (FINISH, None)]
    payload = chunks[1].to_dict()["payload"]
    assert payload["resumePayload"] == "yes" and isinstance(payload["resumedAt"], int)
    assert (await output.result).result == {"approved": "yes"}
    assert seen == [None, "yes"]


# --- blocks -----------------------------------------------------------------------------------


async def test_one_step_of_a_parallel_block_reruns_its_siblings_kept() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    wf = (
        create_workflow(id="par", storage=storage, input_schema=int)
        .then(calls.add("a", 1))
        .parallel([calls.add("b", 10), calls.add("c", 100)])
        .then(
            create_step(id="total", execute=lambda ctx: ctx.input_data["b"] + ctx.input_data["c"])
        )
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=1)).result == 12 + 102
    calls.ran.clear()
    output = run.time_travel_stream(step="c", input_data=5)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        (STEP, "c"),
        (RESULT, "c"),
        (STEP, "total"),
        (RESULT, "total"),
        (FINISH, None),
    ]
    result = await output.result
    assert (result.status, result.result) == ("success", 12 + 105)
    assert calls.ran == ["c"]
    stored = await storage.load_snapshot("par", run.run_id)
    assert outputs(stored) == {"input": 1, "a": 2, "b": 12, "c": 105, "total": 117}
    assert history(stored) == {"c": [102], "total": [114]}


async def test_one_branch_step_reruns() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    wf = (
        create_workflow(id="br", storage=storage, input_schema=int)
        .branch(
            [
                (lambda ctx: ctx.input_data > 0, calls.add("pos", 1)),
                (lambda ctx: ctx.input_data <= 0, calls.add("neg", -1)),
            ]
        )
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=3)).result == {"pos": 4}
    calls.ran.clear()
    output = run.time_travel_stream(step="pos", input_data=40)
    assert kinds(await collect(output)) == [
        (START, None),
        (STEP, "pos"),
        (RESULT, "pos"),
        (FINISH, None),
    ]
    assert (await output.result).result == {"pos": 41}
    assert calls.ran == ["pos"]


async def test_one_foreach_item_reruns() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    wf = (
        create_workflow(id="fe", storage=storage)
        .foreach(calls.add("item", 1), concurrency=2)
        .then(create_step(id="sum", execute=lambda ctx: sum(ctx.input_data)))
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=[1, 2, 3])).result == 9
    calls.ran.clear()
    output = run.time_travel_stream(step="item", for_each_index=1, input_data=20)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        (STEP, "item"),
        ("workflow-step-progress", "item"),
        (RESULT, "item"),
        (STEP, "sum"),
        (RESULT, "sum"),
        (FINISH, None),
    ]
    progress = chunks[2].to_dict()["payload"]
    assert (progress["currentIndex"], progress["iterationOutput"]) == (1, 21)
    assert (progress["completedCount"], progress["totalCount"]) == (3, 3)
    assert chunks[1].to_dict()["payload"]["payload"] == [1, 20, 3]
    assert chunks[3].to_dict()["payload"]["output"] == [2, 21, 4]
    result = await output.result
    assert (result.status, result.result) == ("success", 27)
    assert calls.ran == ["item"]
    stored = await storage.load_snapshot("fe", run.run_id)
    assert outputs(stored) == {"input": [1, 2, 3], "item": [2, 21, 4], "sum": 27}
    assert history(stored) == {"item": [[2, 3, 4]], "sum": [9]}


async def test_a_whole_foreach_and_a_loop_rerun_from_their_input() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    wf = (
        create_workflow(id="lp", storage=storage, input_schema=int)
        .then(calls.add("x", 1))
        .dountil(calls.add("inc", 1), lambda ctx: ctx.input_data >= 5)
        .then(calls.add("y", 0))
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=0)).result == 5
    calls.ran.clear()
    output = run.time_travel_stream(step="inc", input_data=3)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        (STEP, "inc"),
        (RESULT, "inc"),
        (STEP, "inc"),
        (RESULT, "inc"),
        (STEP, "y"),
        (RESULT, "y"),
        (FINISH, None),
    ]
    iterations = [c.to_dict()["payload"]["metadata"]["iterationCount"] for c in chunks[1:5:2]]
    assert iterations == [1, 2]
    assert (await output.result).result == 5
    assert calls.ran == ["inc", "inc", "y"]
    stored = await storage.load_snapshot("lp", run.run_id)
    assert outputs(stored) == {"input": 0, "x": 1, "inc": 5, "y": 5}
    assert history(stored) == {"inc": [5], "y": [5]}
    calls.ran.clear()
    assert (await run.time_travel(step="inc")).result == 5  # from x's stored output: 1
    assert calls.ran == ["inc"] * 4 + ["y"]


# --- nested workflows -------------------------------------------------------------------------


def nested_workflow(calls: Calls, storage: InMemoryStorage) -> Any:
    inner = (
        create_workflow(id="inner", input_schema=int, output_schema=int)
        .then(calls.add("i1", 1))
        .then(calls.add("i2", 10))
        .commit()
    )
    return (
        create_workflow(id="nest", storage=storage, input_schema=int)
        .then(calls.add("pre", 1))
        .then(inner)
        .then(calls.add("post", 100))
        .commit()
    )


async def test_a_step_inside_a_nested_workflow() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    run = await nested_workflow(calls, storage).create_run()
    assert (await run.start(input_data=0)).result == 112
    calls.ran.clear()
    output = run.time_travel_stream(step="inner.i1", input_data=5)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        (STEP, "inner"),
        (STEP, "inner.i1"),
        (RESULT, "inner.i1"),
        (STEP, "inner.i2"),
        (RESULT, "inner.i2"),
        (RESULT, "inner"),
        (STEP, "post"),
        (RESULT, "post"),
        (FINISH, None),
    ]
    assert (await output.result).result == 116
    assert calls.ran == ["i1", "i2", "post"]
    stored = await storage.load_snapshot("nest", run.run_id)
    assert outputs(stored) == {"input": 0, "pre": 1, "inner": 16, "post": 116}
    assert history(stored) == {"inner": [12], "post": [112]}
    assert stored["nestedRuns"] == {}


async def test_a_later_step_of_a_nested_workflow_with_context_for_the_earlier_one() -> None:
    storage = InMemoryStorage()
    calls = Calls()
    run = await nested_workflow(calls, storage).create_run()
    await run.start(input_data=0)
    calls.ran.clear()
    output = run.time_travel_stream(step=["inner", "i2"], context={"inner.i1": 50})
    assert kinds(await collect(output)) == [
        (START, None),
        (STEP, "inner"),
        (STEP, "inner.i2"),
        (RESULT, "inner.i2"),
        (RESULT, "inner"),
        (STEP, "post"),
        (RESULT, "post"),
        (FINISH, None),
    ]
    assert (await output.result).result == 160
    assert calls.ran == ["i2", "post"]
    with pytest.raises(ResumeError, match="'inner.i2' has no stored input"):
        await run.time_travel(step="inner.i2")


# --- context overrides ------------------------------------------------------------------------


async def test_context_overrides_replace_earlier_results() -> None:
    wf, run, calls, storage = await chain_run()
    output = run.time_travel_stream(step="s3", context={"s1": 0, "s2": 40})
    assert kinds(await collect(output)) == [
        (START, None),
        (STEP, "s3"),
        (RESULT, "s3"),
        (FINISH, None),
    ]
    assert (await output.result).result == 140
    assert calls.ran == ["s3"]
    stored = await storage.load_snapshot("chain", run.run_id)
    assert outputs(stored) == {"input": 0, "s1": 0, "s2": 40, "s3": 140}
    assert history(stored) == {"s1": [1], "s2": [11], "s3": [111]}


async def test_context_values_are_checked_against_output_schemas() -> None:
    wf, run, calls, storage = await chain_run()
    before = await storage.load_snapshot("chain", run.run_id)
    with pytest.raises(ValidationError) as caught:
        await run.time_travel(step="s3", context={"s2": "forty"})
    assert caught.value.errors == ["$: expected int, got 'forty'"]
    assert "context of step 's2'" in str(caught.value)
    with pytest.raises(UnknownStepError, match="'nope' is not a step of workflow 'chain'"):
        await run.time_travel(step="s3", context={"nope": 1})
    with pytest.raises(ResumeError, match="runs again"):
        await run.time_travel(step="s2", context={"s3": 1})
    assert await storage.load_snapshot("chain", run.run_id) == before
    assert calls.ran == []


# --- refusals ---------------------------------------------------------------------------------


async def test_refusals_name_the_problem_and_change_nothing() -> None:
    wf, run, calls, storage = await chain_run()
    before = await storage.load_snapshot("chain", run.run_id)
    with pytest.raises(UnknownStepError, match="step 'zz' is not a step of workflow 'chain'"):
        await run.time_travel(step="zz")
    with pytest.raises(UnknownStepError, match="'s1.x'"):
        await run.time_travel(step="s1.x")
    with pytest.raises(ResumeError, match="is not a foreach"):
        await run.time_travel(step="s2", for_each_index=0)
    changed = (
        create_workflow(id="chain", storage=storage, input_schema=int)
        .then(calls.add("s1", 1))
        .then(calls.add("s9", 10))
        .commit()
    )
    moved = await changed.get_run(run.run_id)
    assert moved is not None
    with pytest.raises(WorkflowChangedError, match="changed since run") as caught:
        await moved.time_travel(step="s1")
    assert caught.value.changes == [
        "entry 2 was step 's2', is now step 's9'",
        "entry 3 (step 's3') was removed",
    ]
    output = moved.time_travel_stream(step="s1")
    chunks = await collect(output)
    assert [c.type for c in chunks] == [START, FINISH]
    with pytest.raises(WorkflowChangedError):
        await output.result
    assert await storage.load_snapshot("chain", run.run_id) == before
    assert calls.ran == []
    for error in (UnknownStepError, WorkflowChangedError, RunInProgressError):
        assert issubclass(error, ResumeError)


async def test_a_running_run_is_refused() -> None:
    storage = InMemoryStorage()
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def slow(ctx: StepContext) -> int:
        entered.set()
        await gate.wait()
        return 1

    wf = (
        create_workflow(id="slow", storage=storage)
        .then(create_step(id="slow", execute=slow))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=0)
    await asyncio.wait_for(entered.wait(), 10)
    with pytest.raises(RunInProgressError, match="is running"):
        await run.time_travel(step="slow")
    gate.set()
    assert (await output.result).status == "success"


async def test_concurrent_time_travels_one_wins() -> None:
    wf, run, calls, storage = await chain_run()
    outcomes = await asyncio.gather(
        run.time_travel(step="s2", input_data=1),
        run.time_travel(step="s2", input_data=2),
        return_exceptions=True,
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], ResumeAlreadyClaimedError)
    assert calls.ran == ["s2", "s3"]
    stored = await storage.load_snapshot("chain", run.run_id)
    assert stored["status"] == "success"
    assert outputs(stored)["s3"] == won[0].result
    assert history(stored) == {"s2": [11], "s3": [111]}


async def test_a_failed_step_fixed_through_a_changed_input() -> None:
    storage = InMemoryStorage()
    ran: list[str] = []

    async def parse(ctx: StepContext) -> int:
        ran.append("parse")
        return int(ctx.input_data)

    async def fetch(ctx: StepContext) -> str:
        ran.append("fetch")
        return ctx.input_data

    wf = (
        create_workflow(id="fix", storage=storage)
        .then(create_step(id="fetch", execute=fetch))
        .then(create_step(id="parse", execute=parse))
        .commit()
    )
    run = await wf.create_run()
    failed = await run.start(input_data="x1")
    assert failed.status == "failed"
    output = run.time_travel_stream(step="parse", input_data="41")
    chunks = await collect(output)
    assert kinds(chunks) == [(START, None), (STEP, "parse"), (RESULT, "parse"), (FINISH, None)]
    assert chunks[-1].to_dict()["payload"]["workflowStatus"] == "success"
    assert (await output.result).result == 41
    assert ran == ["fetch", "parse", "parse"]
    stored = await storage.load_snapshot("fix", run.run_id)
    assert stored["status"] == "success" and stored["error"] is None
    assert [a["status"] for a in stored["previousAttempts"]["parse"]] == ["failed"]
