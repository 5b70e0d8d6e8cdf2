"""foreach: sliding-window concurrency, completion-order progress, input-order output, failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _steps import const, inc
from conftest import GUARD, collect, finish, kinds, of, one, shape, wait_until

from rxflow import (
    ResumeError,
    StepContext,
    ValidationError,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)


def items_workflow(body: Any, concurrency: int, wf_id: str = "fe") -> Any:
    return (
        create_workflow(id=wf_id)
        .foreach(create_step(id="work", execute=body), concurrency=concurrency)
        .commit()
    )


async def test_in_flight_never_exceeds_concurrency_and_reaches_it() -> None:
    in_flight = 0
    peak = 0
    full = asyncio.Event()

    async def body(ctx: StepContext) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            full.set()
        await full.wait()
        await asyncio.sleep(0)
        in_flight -= 1
        return ctx.input_data * 10

    run = await items_workflow(body, 3).create_run()
    result = await run.start(input_data=list(range(12)))
    assert peak == 3
    assert result.result == [i * 10 for i in range(12)]


async def test_progress_in_completion_order_output_in_input_order() -> None:
    gates = [asyncio.Event() for _ in range(3)]
    after = {1: 0, 0: 2}  # item 1 finishes first, then 0, then 2
    gates[1].set()

    async def body(ctx: StepContext) -> str:
        index = ctx.input_data
        await gates[index].wait()
        await ctx.writer.write(f"item {index} done")
        if index in after:
            gates[after[index]].set()
        return f"out{index}"

    run = await items_workflow(body, 3).create_run()
    output = run.stream(input_data=[0, 1, 2])
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "work"),
        ("workflow-step-output", "work"),
        ("workflow-step-progress", "work"),
        ("workflow-step-output", "work"),
        ("workflow-step-progress", "work"),
        ("workflow-step-output", "work"),
        ("workflow-step-progress", "work"),
        ("workflow-step-result", "work"),
        ("workflow-finish", None),
    ]
    start = chunks[1].to_dict()["payload"]
    assert start == {
        "id": "work",
        "stepName": "work",
        "status": "running",
        "payload": [0, 1, 2],
        "startedAt": start["startedAt"],
    }
    progress = [c.to_dict()["payload"] for c in chunks if c.type == "workflow-step-progress"]
    assert progress == [
        {
            "id": "work",
            "stepName": "work",
            "completedCount": 1,
            "totalCount": 3,
            "currentIndex": 1,
            "iterationStatus": "success",
            "iterationOutput": "out1",
        },
        {
            "id": "work",
            "stepName": "work",
            "completedCount": 2,
            "totalCount": 3,
            "currentIndex": 0,
            "iterationStatus": "success",
            "iterationOutput": "out0",
        },
        {
            "id": "work",
            "stepName": "work",
            "completedCount": 3,
            "totalCount": 3,
            "currentIndex": 2,
            "iterationStatus": "success",
            "iterationOutput": "out2",
        },
    ]
    outputs = [c.payload.output for c in chunks if c.type == "workflow-step-output"]
    assert outputs == ["item 1 done", "item 0 done", "item 2 done"]
    block = chunks[-2].to_dict()["payload"]
    assert block == {
        "id": "work",
        "stepName": "work",
        "status": "success",
        "output": ["out0", "out1", "out2"],
        "endedAt": block["endedAt"],
    }
    assert (await output.result).result == ["out0", "out1", "out2"]


async def test_first_failure_stops_queued_items_in_flight_ones_finish() -> None:
    started: list[int] = []
    release_one = asyncio.Event()

    async def body(ctx: StepContext) -> int:
        index = ctx.input_data
        started.append(index)
        if index == 0:
            release_one.set()
            raise RuntimeError("item 0 broke")
        await release_one.wait()
        await asyncio.sleep(0)
        return index

    run = await items_workflow(body, 2).create_run()
    output = run.stream(input_data=list(range(10)))
    chunks = await collect(output)
    assert started == [0, 1]
    progress = [c.to_dict()["payload"] for c in chunks if c.type == "workflow-step-progress"]
    assert [(p["currentIndex"], p["iterationStatus"], p["completedCount"]) for p in progress] == [
        (0, "failed", 1),
        (1, "success", 2),
    ]
    assert "iterationOutput" not in progress[0]
    block = chunks[-2].to_dict()["payload"]
    assert block["status"] == "failed"
    assert block["error"] == {"message": "item 0 broke", "name": "RuntimeError"}
    assert "output" not in block
    result = await output.result
    assert result.status == "failed" and str(result.error) == "item 0 broke"


async def test_input_that_is_not_a_list_fails_with_validation_error() -> None:
    async def body(ctx: StepContext) -> int:
        return 1

    run = await items_workflow(body, 2).create_run()
    output = run.stream(input_data={"not": "a list"})
    chunks = await collect(output)
    assert kinds(chunks)[1:3] == [("workflow-step-start", "work"), ("workflow-step-result", "work")]
    result = await output.result
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "must be a list" in str(result.error)
    assert result.error.errors == ["$: expected list, got {'not': 'a list'}"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", True, None])
def test_invalid_concurrency_is_a_definition_error(bad: Any) -> None:
    step = create_step(id="s", execute=lambda ctx: 1)
    with pytest.raises(WorkflowDefinitionError, match="concurrency must be a positive int"):
        create_workflow(id="bad").foreach(step, concurrency=bad)


async def test_empty_list_gives_empty_output() -> None:
    async def body(ctx: StepContext) -> int:
        return 1

    run = await items_workflow(body, 4).create_run()
    output = run.stream(input_data=[])
    chunks = await collect(output)
    assert [c.type for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert (await output.result).result == []


async def test_nested_workflow_and_parallel_inside_foreach() -> None:
    async def left(ctx: StepContext) -> int:
        return ctx.input_data + 1

    async def right(ctx: StepContext) -> int:
        return ctx.input_data * 2

    inner = (
        create_workflow(id="inner")
        .parallel([create_step(id="left", execute=left), create_step(id="right", execute=right)])
        .commit()
    )
    wf = create_workflow(id="outer").foreach(inner, concurrency=2).commit()
    run = await wf.create_run()
    output = run.stream(input_data=[1, 2, 3])
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success"
    assert result.result == [
        {"left": 2, "right": 2},
        {"left": 3, "right": 4},
        {"left": 4, "right": 6},
    ]
    progress = [c for c in chunks if c.type == "workflow-step-progress"]
    assert [p.payload.completed_count for p in progress] == [1, 2, 3]
    inner_ids = {c.payload.id for c in chunks if c.type == "workflow-step-result"}
    assert {"inner.left", "inner.right", "inner"} <= inner_ids


async def test_foreach_over_many_items_with_history_limit() -> None:
    async def body(ctx: StepContext) -> int:
        await asyncio.sleep(0)
        return ctx.input_data + 1

    run = await items_workflow(body, 16).create_run()
    output = run.stream(input_data=list(range(2000)), history_limit=10)
    count = 0
    async for chunk in output:
        count += 1
        assert chunk.type in {
            "workflow-start",
            "workflow-step-start",
            "workflow-step-progress",
            "workflow-step-result",
            "workflow-finish",
        }
    assert count == 2004
    result = await output.result
    assert result.result == [i + 1 for i in range(2000)]
    assert len(output._log.events) <= 20  # bounded: at most twice the limit is ever kept


async def test_an_item_that_bails_ends_the_workflow_after_the_block_settles() -> None:
    started: list[int] = []

    async def body(ctx: StepContext) -> Any:
        started.append(ctx.input_data)
        if ctx.input_data == 1:
            return ctx.bail({"stopped at": 1})
        return ctx.input_data

    async def never(ctx: StepContext) -> None:
        raise AssertionError("runs after a bail")

    wf = (
        create_workflow(id="fe-bail")
        .foreach(create_step(id="work", execute=body), concurrency=1)
        .then(create_step(id="never", execute=never))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=[0, 1, 2, 3])
    chunks = await collect(output)
    assert started == [0, 1]  # the bail stopped the queue like any non-success
    block = chunks[-2].to_dict()["payload"]
    assert (block["status"], block["output"]) == ("bailed", {"stopped at": 1})
    result = await output.result
    assert result.status == "success" and result.result == {"stopped at": 1}
    assert result.steps["work"].status == "success"


# --- order, window, failure -------------------------------------------------------------------


async def test_foreach_output_in_input_order_progress_in_completion_order() -> None:
    gates = [asyncio.Event() for _ in range(3)]
    started = [asyncio.Event() for _ in range(3)]

    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        started[i].set()
        await gates[i].wait()
        return i * 10

    wf = (
        create_workflow(id="fe").foreach(create_step(id="it", execute=item), concurrency=3).commit()
    )
    output = (await wf.create_run()).stream(input_data=[0, 1, 2])

    settled: list[int] = []
    output.events.subscribe(
        on_next=lambda c: settled.append(1) if c.type == "workflow-step-progress" else None
    )

    async def release() -> None:
        for e in started:
            await e.wait()
        for n, i in enumerate((2, 0, 1), start=1):
            gates[i].set()
            await wait_until(lambda n=n: len(settled) == n)  # one completion at a time

    releaser = asyncio.create_task(release())
    chunks = await collect(output)
    await releaser
    result = await output.result
    assert result.result == [0, 10, 20]
    progress = of(chunks, "workflow-step-progress", "it")
    assert [p["currentIndex"] for p in progress] == [2, 0, 1]
    assert [p["completedCount"] for p in progress] == [1, 2, 3]
    assert all(p["totalCount"] == 3 for p in progress)
    assert all(p["iterationStatus"] == "success" for p in progress)
    assert [p["iterationOutput"] for p in progress] == [20, 0, 10]
    assert all(p["stepName"] == "it" for p in progress)
    assert len(of(chunks, "workflow-step-start", "it")) == 1
    assert len(of(chunks, "workflow-step-result", "it")) == 1
    assert progress[0] is not None
    s = shape(chunks)
    assert s.index(("workflow-step-start", "it")) < s.index(("workflow-step-progress", "it"))
    assert s[-2] == ("workflow-step-result", "it")


async def test_foreach_sliding_window_not_batches() -> None:
    gate0 = asyncio.Event()
    in_flight = 0
    max_in_flight = 0
    started: list[int] = []

    async def item(ctx: StepContext) -> Any:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        started.append(ctx.input_data)
        try:
            if ctx.input_data == 0:
                await gate0.wait()
            if ctx.input_data == 2:
                # item 2 can only start while item 0 is still in flight with a sliding window
                gate0.set()
            await asyncio.sleep(0)
            return ctx.input_data
        finally:
            in_flight -= 1

    wf = (
        create_workflow(id="win")
        .foreach(create_step(id="it", execute=item), concurrency=2)
        .commit()
    )
    result = await asyncio.wait_for((await wf.create_run()).start(input_data=[0, 1, 2, 3]), GUARD)
    assert result.result == [0, 1, 2, 3]
    assert max_in_flight == 2
    assert started.index(2) < 4 and started[:2] == [0, 1]


async def test_foreach_first_failure_stops_queued_items_in_flight_finish() -> None:
    started: list[int] = []
    one_started = asyncio.Event()
    release_one = asyncio.Event()

    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        started.append(i)
        if i == 0:
            await one_started.wait()
            release_one.set()
            raise ValueError("item 0 is bad")
        if i == 1:
            one_started.set()
            await release_one.wait()
            await asyncio.sleep(0)
            return 1
        return i

    wf = (
        create_workflow(id="fefail")
        .foreach(create_step(id="it", execute=item), concurrency=2)
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=list(range(6)))
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "item 0 is bad"
    assert started == [0, 1]
    progress = of(chunks, "workflow-step-progress", "it")
    by_index = {p["currentIndex"]: p for p in progress}
    assert by_index[0]["iterationStatus"] == "failed"
    assert "iterationOutput" not in by_index[0]
    assert by_index[1]["iterationStatus"] == "success"
    assert sorted(p["completedCount"] for p in progress) == [1, 2]
    res = one(chunks, "workflow-step-result", "it")
    assert res["status"] == "failed"
    assert res["error"] == {"message": "item 0 is bad", "name": "ValueError"}


async def test_foreach_empty_list() -> None:
    wf = create_workflow(id="feempty").foreach(inc("it"), concurrency=2).commit()
    output = (await wf.create_run()).stream(input_data=[])
    chunks = await collect(output)
    assert (await output.result).result == []
    assert of(chunks, "workflow-step-progress") == []
    assert one(chunks, "workflow-step-result", "it")["output"] == []


# --- the concurrency option -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "2", None])
def test_foreach_concurrency_must_be_positive_int(bad: Any) -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="bad").foreach(const("s", 1), concurrency=bad)


def test_foreach_concurrency_true_is_rejected() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="bad").foreach(const("s", 1), concurrency=True)


# --- suspended items and their resume ---------------------------------------------------------


async def test_foreach_progress_of_suspended_items_does_not_count_as_completed() -> None:
    async def item(ctx: StepContext) -> Any:
        if ctx.input_data % 2 == 1 and ctx.resume_data is None:
            return await ctx.suspend({"item": ctx.input_data})
        return ctx.input_data if ctx.resume_data is None else ctx.resume_data

    wf = (
        create_workflow(id="fesusp")
        .foreach(create_step(id="it", execute=item), concurrency=4)
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=[0, 1, 2, 3])
    chunks = await collect(output)
    progress = of(chunks, "workflow-step-progress", "it")
    assert len(progress) == 4
    settled = 0
    for p in progress:
        if p["iterationStatus"] in ("success", "failed"):
            settled += 1
        else:
            assert p["iterationStatus"] == "suspended"
            assert "iterationOutput" not in p
        assert p["completedCount"] == settled
    assert finish(chunks)["workflowStatus"] == "suspended"


async def test_foreach_suspended_item_stops_queued_items_until_resumed() -> None:
    started: list[tuple[Any, Any]] = []

    async def item(ctx: StepContext) -> Any:
        started.append((ctx.input_data, ctx.resume_data))
        if ctx.input_data == 1 and ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.input_data * 10

    wf = (
        create_workflow(id="fequeue")
        .foreach(create_step(id="it", execute=item), concurrency=1)
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data=[0, 1, 2, 3])
    assert first.status == "suspended"
    assert started == [(0, None), (1, None)]
    output = run.resume_stream(resume_data="go")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", [0, 10, 20, 30])
    assert started == [(0, None), (1, None), (1, "go"), (2, None), (3, None)]
    progress = of(chunks, "workflow-step-progress", "it")
    assert [p["currentIndex"] for p in progress] == [1, 2, 3]
    assert [p["completedCount"] for p in progress] == [2, 3, 4]


def suspending_items(calls: dict[int, int]) -> Any:
    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        calls[i] = calls.get(i, 0) + 1
        if i % 2 == 1 and ctx.resume_data is None:
            return await ctx.suspend({"item": i})
        return i if ctx.resume_data is None else f"{i}:{ctx.resume_data}"

    return create_step(id="it", execute=item)


async def test_foreach_resume_by_index_then_rest() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feres").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    first = await run.start(input_data=[0, 1, 2, 3])
    assert first.status == "suspended"
    mid = await run.resume(for_each_index=1, resume_data="x")
    assert mid.status == "suspended"
    assert calls == {0: 1, 1: 2, 2: 1, 3: 1}
    done = await run.resume(for_each_index=3, resume_data="y")
    assert done.status == "success"
    assert done.result == [0, "1:x", 2, "3:y"]
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2}


async def test_foreach_resume_without_index_resumes_every_suspended_item() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feall").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    await run.start(input_data=[0, 1, 2, 3])
    done = await run.resume(resume_data="z")
    assert done.status == "success"
    assert done.result == [0, "1:z", 2, "3:z"]
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2}


async def test_for_each_index_of_item_that_is_not_suspended_is_rejected() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feidx").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    await run.start(input_data=[0, 1, 2, 3])
    with pytest.raises(ResumeError):
        await run.resume(for_each_index=0, resume_data="x")
    assert run.status == "suspended"
    done = await run.resume(resume_data="y")
    assert done.result == [0, "1:y", 2, "3:y"]
