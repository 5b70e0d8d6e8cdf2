"""WorkflowRunOutput: its attributes, replay to any number of readers, result and status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex.operators as rxops
from _steps import asker, const, inc, wf_of
from conftest import GUARD, collect, types, wire

import rxflow
from rxflow import StepContext, create_step

# --- attributes and identifiers ---------------------------------------------------------------


async def test_output_attributes() -> None:
    run = await wf_of(const("a", 1), wid="outattrs").create_run()
    output = run.stream(input_data=None)
    assert output.run_id == run.run_id
    assert output.workflow_id == "outattrs"
    assert isinstance(output, rxflow.WorkflowRunOutput)
    await collect(output)


async def test_resume_stream_output_identifiers() -> None:
    run = await wf_of(asker("ask"), wid="rsid").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1)
    assert output.run_id == run.run_id and output.workflow_id == "rsid"
    chunks = await collect(output)
    assert chunks[0].to_dict()["payload"] == {"workflowId": "rsid"}
    assert all(c.run_id == run.run_id for c in chunks)


# --- replay and readers -----------------------------------------------------------------------


async def test_iterating_output_twice_replays_from_first_event() -> None:
    run = await wf_of(inc("a"), inc("b")).create_run()
    output = run.stream(input_data=0)
    first = await collect(output)
    second = await collect(output)
    assert wire(first) == wire(second)
    assert first[0].type == "workflow-start" and first[-1].type == "workflow-finish"


async def test_late_reader_misses_nothing() -> None:
    run = await wf_of(inc("a"), inc("b")).create_run()
    output = run.stream(input_data=0)
    await output.result
    await output.usage
    chunks = await collect(output)
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]


async def test_full_stream_many_concurrent_consumers_see_whole_sequence() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    run = await wf_of(const("a", 0), create_step(id="b", execute=body)).create_run()
    output = run.stream(input_data=None)

    async def consume() -> list[dict[str, Any]]:
        return [c.to_dict() async for c in output.full_stream]

    tasks = [asyncio.create_task(consume()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    lists = await asyncio.wait_for(asyncio.gather(*tasks), GUARD)
    late = [c.to_dict() async for c in output.full_stream]
    assert lists[0] == lists[1] == lists[2] == late
    assert lists[0][0]["type"] == "workflow-start"
    assert lists[0][-1]["type"] == "workflow-finish"


# --- result and status ------------------------------------------------------------------------


async def test_failed_step_result_resolves_not_rejects() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("bad")

    output = (await wf_of(create_step(id="b", execute=boom)).create_run()).stream(input_data=None)
    result = await output.result
    assert result.status == "failed"
    assert output.status == "failed"
    await collect(output)


async def test_status_starts_running_and_ends_at_final_status() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    output = (await wf_of(create_step(id="s", execute=body)).create_run()).stream(input_data=None)
    assert output.status == "running"
    gate.set()
    await collect(output)
    assert output.status == "success"


async def test_status_follows_failure_and_suspension_during_iteration() -> None:
    statuses: list[tuple[str, str]] = []
    run = await wf_of(asker("ask"), wid="stfollow").create_run()
    output = run.stream(input_data=None)
    async for chunk in output:
        statuses.append((chunk.type, output.status))
    assert statuses[0] == ("workflow-start", "running")
    assert statuses[-1] == ("workflow-finish", "suspended")


# --- result and usage are replaying one-value Observables ------------------------------------


async def test_result_and_usage_replay_to_rx_subscribers_early_and_late() -> None:
    run = await wf_of(inc("a"), wid="replay1").create_run()
    output = run.stream(input_data=1)
    early: list[Any] = []
    done: list[str] = []
    output.result.subscribe(early.append, on_completed=lambda: done.append("early"))
    result = await output.result
    await collect(output)
    late: list[Any] = []
    output.result.subscribe(late.append, on_completed=lambda: done.append("late"))
    usages: list[Any] = []
    output.usage.subscribe(usages.append, on_completed=lambda: done.append("usage"))
    assert early == [result] and late == [result] and result.result == 2
    assert usages == [rxflow.Usage()] and await output.usage == rxflow.Usage()
    assert done == ["early", "late", "usage"]
    piped: list[Any] = []
    output.result.pipe(rxops.map(lambda r: r.status)).subscribe(piped.append)
    assert piped == ["success"]


async def test_result_of_an_error_before_execution_rejects_subscribers_too() -> None:
    run = await wf_of(inc("a"), wid="replay2", input_schema=int).create_run()
    output = run.stream(input_data="not a number")
    errors: list[BaseException] = []
    output.result.subscribe(on_error=errors.append)
    with pytest.raises(rxflow.ValidationError):
        await output.result
    assert [type(e) for e in errors] == [rxflow.ValidationError]
    assert output.status == "failed"


async def test_observe_stream_before_any_stream_is_an_empty_ended_output() -> None:
    run = await wf_of(inc("a"), wid="replay3").create_run()
    observed = run.observe_stream()
    assert observed.status == "pending"
    assert await collect(observed) == []
    assert await observed.usage == rxflow.Usage()
    seen: list[Any] = []
    observed.events.subscribe(seen.append, on_completed=lambda: seen.append("completed"))
    assert seen == ["completed"]
