"""A linear chain: exact events, payloads, results, and the output's replay behaviour."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import attrs
import pytest
from _steps import add_one
from conftest import collect, kinds, within

from rxflow import (
    RxflowError,
    StepContext,
    WorkflowResult,
    create_step,
    create_workflow,
    step,
)
from rxflow.events import from_dict


@attrs.frozen
class Num:
    value: int


@step(id="double", input_schema=Num, output_schema=Num)
async def double(ctx: StepContext) -> Num:
    return Num(ctx.input_data.value * 2)


@step(id="inc", input_schema=Num, output_schema=Num)
async def inc(ctx: StepContext) -> Num:
    await ctx.writer.write({"seen": ctx.input_data.value})
    return Num(ctx.input_data.value + 1)


def make_chain() -> Any:
    return create_workflow(id="chain", input_schema=Num).then(double).then(inc).commit()


async def test_chain_event_sequence_and_payloads() -> None:
    run = await make_chain().create_run(run_id="r1")
    output = run.stream(input_data={"value": 5})
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "double"),
        ("workflow-step-result", "double"),
        ("workflow-step-start", "inc"),
        ("workflow-step-output", "inc"),
        ("workflow-step-result", "inc"),
        ("workflow-finish", None),
    ]
    start, s1, r1, s2, out, r2, finish = chunks
    assert start.to_dict() == {
        "type": "workflow-start",
        "runId": "r1",
        "from": "WORKFLOW",
        "payload": {"workflowId": "chain"},
    }
    assert s1.payload.payload == Num(5)
    assert s1.payload.status == "running" and s1.payload.step_name == "double"
    assert r1.payload.output == Num(10) and r1.payload.status == "success"
    assert r1.payload.step_call_id == s1.payload.step_call_id
    assert s2.payload.step_call_id != s1.payload.step_call_id
    assert s2.payload.payload == Num(10)
    assert out.to_dict() == {
        "type": "workflow-step-output",
        "runId": "r1",
        "from": "USER",
        "payload": {"stepName": "inc", "runId": "r1", "output": {"seen": 10}},
    }
    assert r2.to_dict()["payload"]["output"] == {"value": 11}
    assert r1.payload.started_at <= r1.payload.ended_at <= r2.payload.started_at
    assert finish.to_dict()["payload"] == {
        "workflowStatus": "success",
        "output": {
            "usage": {
                "inputTokens": 0,
                "outputTokens": 0,
                "totalTokens": 0,
                "reasoningTokens": 0,
                "cachedInputTokens": 0,
                "cacheCreationInputTokens": 0,
            }
        },
        "metadata": {},
        "finalWorkflowResult": {"value": 11},
    }
    assert all(chunk.run_id == "r1" for chunk in chunks)
    for chunk in chunks:
        assert from_dict(chunk.to_dict()).to_dict() == chunk.to_dict()


async def test_chain_result() -> None:
    run = await make_chain().create_run()
    result = await run.start(input_data={"value": 1})
    assert isinstance(result, WorkflowResult)
    assert result.status == "success"
    assert result.result == Num(3)
    assert result.input == Num(1)
    assert result.step_execution_path == ["double", "inc"]
    assert list(result.steps) == ["double", "inc"]
    assert result.steps["double"].status == "success"
    assert result.steps["double"].output == Num(2)
    assert result.steps["inc"].payload == Num(2)
    wire = result.to_dict()
    assert wire["steps"]["input"] == {"value": 1}
    assert wire["result"] == {"value": 3}
    assert wire["runId"] == run.run_id
    assert run.status == "success"


async def test_stream_is_eager_and_idempotent() -> None:
    started = asyncio.Event()

    async def body(ctx: StepContext) -> int:
        started.set()
        return 1

    wf = create_workflow(id="eager").then(create_step(id="a", execute=body)).commit()
    run = await wf.create_run()
    output = run.stream(input_data=0)
    assert run.stream(input_data=0) is output
    await asyncio.wait_for(started.wait(), 5)  # ran before anyone read the stream
    result = await output.result
    assert result.result == 1
    assert output.status == "success"
    assert (await collect(output))[-1].type == "workflow-finish"


async def test_full_stream_replays_to_every_consumer_and_late_ones() -> None:
    run = await make_chain().create_run()
    output = run.stream(input_data={"value": 2})
    first, second = await asyncio.gather(collect_full(output), collect_full(output))
    late = await collect_full(output)
    again = await collect(output)
    assert [c.type for c in first] == [c.type for c in second] == [c.type for c in late]
    assert (
        [c.to_dict() for c in first] == [c.to_dict() for c in late] == [c.to_dict() for c in again]
    )
    assert len(first) == 7


async def collect_full(output: Any) -> list[Any]:
    return [chunk async for chunk in output.full_stream]


async def test_events_observable_with_callbacks_live_and_after_end() -> None:
    run = await make_chain().create_run()
    output = run.stream(input_data={"value": 2})
    live: list[str] = []
    done = asyncio.Event()
    output.events.subscribe(on_next=lambda chunk: live.append(chunk.type), on_completed=done.set)
    await asyncio.wait_for(done.wait(), 5)
    late: list[str] = []
    completed: list[bool] = []
    output.events.subscribe(
        on_next=lambda c: late.append(c.type), on_completed=lambda: completed.append(True)
    )
    assert live == late
    assert live[0] == "workflow-start" and live[-1] == "workflow-finish"
    assert completed == [True]


async def test_history_limit_keeps_last_events_for_late_readers() -> None:
    steps = [create_step(id=f"s{i}", execute=_plus_one) for i in range(10)]
    wf = create_workflow(id="long")
    for s in steps:
        wf.then(s)
    wf.commit()
    run = await wf.create_run()
    output = run.stream(input_data=0, history_limit=5)
    live = [c async for c in output]  # a live reader started before any trimming
    assert len(live) >= 5
    await output.result
    late = [c async for c in output.full_stream]
    assert len(late) == 5
    assert late[-1].type == "workflow-finish"
    assert [c.payload.id for c in late[:-1]] == ["s8", "s8", "s9", "s9"]


async def _plus_one(ctx: StepContext) -> int:
    return ctx.input_data + 1


async def test_sync_body_runs_in_a_worker_thread() -> None:
    seen: list[int] = []

    def body(ctx: StepContext) -> int:
        seen.append(threading.get_ident())
        ctx.set_state({"thread": True})
        ctx.record_usage(input_tokens=3, output_tokens=4)
        return ctx.input_data + 1

    wf = create_workflow(id="sync").then(create_step(id="a", execute=body)).commit()
    run = await wf.create_run()
    output = run.stream(input_data=1)
    result = await output.result
    usage = await output.usage
    assert result.result == 2
    assert seen and seen[0] != threading.get_ident()
    assert result.state == {"thread": True}
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (3, 4, 7)


async def test_thousand_step_chain_at_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 1000
    wf = create_workflow(id="thousand")
    for i in range(1000):
        wf.then(create_step(id=f"s{i}", execute=_plus_one))
    wf.commit()
    run = await wf.create_run()
    output = run.stream(input_data=0)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success" and result.result == 1000
    assert len(chunks) == 2002


async def test_start_twice_is_an_error() -> None:
    run = await make_chain().create_run()
    await run.start(input_data={"value": 1})
    with pytest.raises(RxflowError, match="already started"):
        await run.start(input_data={"value": 1})


async def test_create_run_with_live_id_returns_same_run() -> None:
    wf = make_chain()
    run = await wf.create_run(run_id="same")
    assert await wf.create_run(run_id="same") is run
    assert (run.run_id, run.workflow_id, run.resource_id) == ("same", "chain", None)
    other = await wf.create_run(resource_id="user-1")
    assert other.resource_id == "user-1" and other.run_id != "same"


@pytest.mark.parametrize("read_events", [True, False])
async def test_a_finished_run_leaves_no_cyclic_garbage(read_events: bool) -> None:
    import gc

    wf = make_chain()

    async def one() -> None:
        run = await wf.create_run()
        output = run.stream(input_data={"value": 1})
        if read_events:  # unread step events stay compact records in the history
            async for _ in output:
                pass
        await output.result

    await one()
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await one()
        for _ in range(3):
            await asyncio.sleep(0)
        # Everything a finished run made was freed by reference counting already.
        assert gc.collect() == 0
    finally:
        gc.enable()


async def test_in_memory_store_shows_a_runs_progress_mid_run() -> None:
    from rxflow import InMemoryStorage

    storage = InMemoryStorage()
    seen: list[Any] = []

    async def peek(ctx: StepContext) -> int:
        record = await storage.get_run("progress", ctx.run_id)
        assert record is not None
        seen.append(
            (record.status, record.snapshot["stepExecutionPath"], record.snapshot["activePaths"])
        )
        seen.append(record.snapshot["context"]["first"])
        return 2

    wf = (
        create_workflow(id="progress", storage=storage)
        .then(create_step(id="first", execute=_plus_one))
        .then(create_step(id="peek", execute=peek))
        .commit()
    )
    run = await wf.create_run()
    assert (await storage.get_run("progress", run.run_id)).status == "pending"  # type: ignore[union-attr]
    await run.start(input_data=0)
    assert seen[0] == ("running", ["first"], [1])
    assert seen[1]["status"] == "success" and seen[1]["output"] == 1  # wire form
    final = await storage.get_run("progress", run.run_id)
    assert final is not None and final.status == "success"
    assert final.snapshot["stepExecutionPath"] == ["first", "peek"]


# --- long chains ------------------------------------------------------------------------------


async def test_a_thousand_step_chain_runs_at_the_default_recursion_limit() -> None:
    builder = create_workflow(id="long")
    for index in range(1000):
        builder = builder.then(create_step(id=f"s{index}", execute=add_one))
    wf = builder.commit()
    result = await (await wf.create_run()).start(input_data=0)
    assert (result.status, result.result) == ("success", 1000)
    output = (await wf.create_run()).stream(input_data=0)
    chunks = await within(collect(output))
    assert len(chunks) == 2 + 2 * 1000
    assert (await within(output.result)).result == 1000
