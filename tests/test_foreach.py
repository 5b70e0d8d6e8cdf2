"""foreach: sliding-window concurrency, completion-order progress, input-order output, failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import collect, kinds

from rxflow import (
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
    assert len(output._history) <= 20  # bounded: at most twice the limit is ever kept


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
