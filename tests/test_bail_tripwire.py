"""Ending a run early: bail ends it in success, a TripWire in tripwire, a failure in failed."""

from __future__ import annotations

import asyncio
from typing import Any

from _steps import add_one, ask, const, wf_of
from conftest import GUARD, collect, finish, one, within

from rxflow import RetryConfig, StepContext, TripWire, create_step, create_workflow

# --- a failure ends the run -------------------------------------------------------------------


async def test_exception_fails_run_and_later_entries_do_not_run() -> None:
    after: list[int] = []

    async def boom(ctx: StepContext) -> Any:
        raise KeyError("missing")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = wf_of(create_step(id="boom", execute=boom), create_step(id="later", execute=later))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, KeyError)
    assert after == []


async def test_first_non_success_entry_ends_the_run() -> None:
    ran: list[str] = []

    async def boom(ctx: Any) -> Any:
        raise RuntimeError("boom")

    async def later(ctx: Any) -> Any:
        ran.append("later")
        return None

    for first in (boom, ask):
        wf = (
            create_workflow(id=f"ends-{first.__name__}")
            .then(create_step(id="first", execute=first))
            .then(create_step(id="later", execute=later))
            .sleep(1)
            .commit()
        )
        result = await (await wf.create_run()).start(input_data=1)
        assert result.status in ("failed", "suspended")
        assert result.step_execution_path == ["first"]
        assert list(result.steps) == ["first"]
    assert ran == []


# --- bail -------------------------------------------------------------------------------------


async def test_bail_ends_workflow_successfully() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail({"early": True})

    async def later(ctx: StepContext) -> Any:
        after.append(1)
        return None

    wf = wf_of(
        create_step(id="bailer", execute=bailer),
        create_step(id="later", execute=later),
        wid="bail",
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert after == []
    assert result.status == "success"
    assert result.result == {"early": True}
    event = one(chunks, "workflow-step-result", "bailer")
    assert event["status"] == "bailed"
    assert event["output"] == {"early": True}
    assert result.to_dict()["steps"]["bailer"]["status"] == "success"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "success"
    assert fin["finalWorkflowResult"] == {"early": True}
    assert output.status == "success"


async def test_bail_ends_the_workflow_successfully_async_and_sync() -> None:
    ran: list[str] = []

    async def bail_async(ctx: Any) -> Any:
        return ctx.bail({"early": ctx.input_data})

    def bail_sync(ctx: Any) -> Any:
        return ctx.bail({"early": ctx.input_data})

    async def later(ctx: Any) -> Any:
        ran.append("later")
        return None

    for body in (bail_async, bail_sync):
        wf = (
            create_workflow(id="bail")
            .then(create_step(id="b", execute=body))
            .then(create_step(id="later", execute=later))
            .commit()
        )
        output = (await wf.create_run()).stream(input_data=5)
        chunks = await within(collect(output))
        result = await within(output.result)
        assert (result.status, result.result) == ("success", {"early": 5})
        assert result.steps["b"].status == "success"
        assert result.to_dict()["steps"]["b"]["status"] == "success"
        step_results = [c for c in chunks if c.type == "workflow-step-result"]
        assert [c.payload.status for c in step_results] == ["bailed"]
        assert chunks[-1].payload.workflow_status == "success"
    assert ran == []


async def test_bail_in_parallel_branch_ends_whole_workflow() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail("stop here")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = (
        create_workflow(id="parbail")
        .parallel([create_step(id="bailer", execute=bailer), const("other", 1)])
        .then(create_step(id="later", execute=later))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "stop here")
    assert after == []


async def test_bail_in_branch_ends_whole_workflow() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail("stop here")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = (
        create_workflow(id="brbail")
        .branch([(lambda ctx: True, create_step(id="bailer", execute=bailer))])
        .then(create_step(id="later", execute=later))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "stop here")
    assert after == []


async def test_bail_in_loop_ends_whole_workflow() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.input_data >= 2:
            return ctx.bail("bailed at 2")
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopbail")
        .dowhile(create_step(id="it", execute=body), lambda ctx: True)
        .then(const("never", 0))
        .commit()
    )
    result = await asyncio.wait_for((await wf.create_run()).start(input_data=0), GUARD)
    assert (result.status, result.result) == ("success", "bailed at 2")
    assert "never" not in result.steps


# --- TripWire ---------------------------------------------------------------------------------


async def test_tripwire_ends_run_with_status_tripwire_and_is_never_retried() -> None:
    attempts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        raise TripWire("blocked", retry=True, metadata={"k": 1}, processor_id="p1")

    wf = wf_of(create_step(id="tw", execute=body, retries=3), const("never", 0), wid="trip")
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert attempts == [0]
    assert result.status == "tripwire"
    assert output.status == "tripwire"
    assert result.tripwire is not None
    assert result.tripwire.reason == "blocked"
    assert result.tripwire.processor_id == "p1"
    assert "never" not in result.steps
    step_result = one(chunks, "workflow-step-result", "tw")
    assert step_result["status"] == "failed"
    assert "tripwire" in step_result
    assert step_result["tripwire"]["reason"] == "blocked"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "tripwire"
    assert fin["metadata"] == {}
    assert "tripwire" in fin and fin["tripwire"]["reason"] == "blocked"
    assert "finalWorkflowResult" not in fin


async def test_tripwire_is_never_retried_and_ends_the_run_with_tripwire_status() -> None:
    calls: list[int] = []
    ran: list[str] = []

    async def body(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        raise TripWire("blocked", retry=True)

    async def later(ctx: Any) -> Any:
        ran.append("later")
        return None

    wf = (
        create_workflow(id="tripwire", retry_config=RetryConfig(attempts=3, delay=0))
        .then(create_step(id="t", execute=body, retries=3))
        .then(create_step(id="later", execute=later))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await within(collect(output))
    result = await within(output.result)
    assert calls == [0] and ran == []
    assert result.status == "tripwire" and output.status == "tripwire"
    assert result.tripwire.reason == "blocked"
    step_result = [c for c in chunks if c.type == "workflow-step-result"][0].to_dict()["payload"]
    assert step_result["status"] == "failed"
    assert step_result["tripwire"]["reason"] == "blocked"
    finish = chunks[-1].to_dict()["payload"]
    assert finish["workflowStatus"] == "tripwire"
    assert finish["metadata"] == {}
    assert finish["tripwire"]["reason"] == "blocked"


async def test_tripwire_in_parallel_branch() -> None:
    async def trip(ctx: StepContext) -> Any:
        raise TripWire("no")

    wf = (
        create_workflow(id="partrip")
        .parallel([create_step(id="t", execute=trip), const("ok", 1)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "tripwire"
    assert result.tripwire.reason == "no"


async def test_tripwire_from_a_thread_body_inside_a_block() -> None:
    def body(ctx: Any) -> Any:
        raise TripWire("sync stop")

    wf = (
        create_workflow(id="trip-block")
        .parallel([create_step(id="t", execute=body), create_step(id="ok", execute=add_one)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert result.status == "tripwire"
    assert result.tripwire.reason == "sync stop"
