"""close_on_suspend: an output ends at a suspension, or stays open and later resumes feed it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _steps import asker, const, inc, two_askers, wf_of
from conftest import GUARD, collect, finish, shape, types, wait_until, wire

from rxflow import StepContext, ValidationError, create_step, create_workflow

# --- close_on_suspend=True --------------------------------------------------------------------


async def test_close_on_suspend_true_ends_stream_and_resume_stream_is_new_segment() -> None:
    run = await wf_of(const("a", 1), asker("ask"), inc("after"), wid="cos").create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert output.status == "suspended"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "suspended"
    assert fin["metadata"] == {}
    assert "finalWorkflowResult" not in fin
    assert (await output.result).status == "suspended"
    second = run.resume_stream(resume_data=41)
    assert second is not output
    chunks2 = await collect(second)
    assert shape(chunks2) == [
        ("workflow-start", None),
        ("workflow-step-start", "ask"),
        ("workflow-step-result", "ask"),
        ("workflow-step-start", "after"),
        ("workflow-step-result", "after"),
        ("workflow-finish", None),
    ]
    assert finish(chunks2)["workflowStatus"] == "success"
    assert finish(chunks2)["finalWorkflowResult"] == 42
    assert second.status == "success"
    assert (await second.result).result == 42
    # the first output stays closed and unchanged
    assert wire(await collect(output)) == wire(chunks)


async def test_resume_stream_closes_when_its_segment_suspends_again() -> None:
    async def twice(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    wf = wf_of(
        create_step(id="one", execute=twice), create_step(id="two", execute=twice), wid="rsagain"
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data="A")
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "suspended"
    assert output.status == "suspended"
    assert (await output.result).suspended == [["two"]]


async def _pay_1_token(ctx: StepContext) -> Any:
    """Records 1+1 tokens (usage tests)."""
    ctx.record_usage(1, 1)
    return 1


async def _ask_then_pay_10(ctx: StepContext) -> Any:
    """Suspends; once resumed records 10+10 tokens and returns the resume data."""
    if ctx.resume_data is None:
        return await ctx.suspend({})
    ctx.record_usage(10, 10)
    return ctx.resume_data


async def test_usage_is_per_segment_when_stream_closes_on_suspend() -> None:
    wf = wf_of(
        create_step(id="pay", execute=_pay_1_token),
        create_step(id="ask", execute=_ask_then_pay_10),
        wid="useg",
    )
    run = await wf.create_run()
    first = run.stream(input_data=None)
    first_chunks = await collect(first)
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    assert (await first.usage).total_tokens == 2
    assert (await second.usage).total_tokens == 20
    assert finish(first_chunks)["output"]["usage"]["totalTokens"] == 2
    assert finish(second_chunks)["output"]["usage"]["totalTokens"] == 20


# --- close_on_suspend=False -------------------------------------------------------------------


async def test_close_on_suspend_false_fed_by_resume_ends_at_final_status() -> None:
    gate = asyncio.Event()
    resumed_entered = asyncio.Event()

    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"q": 1})
        resumed_entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=ask), wid="open").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    suspended = asyncio.Event()

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                suspended.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(suspended.wait(), GUARD)
    assert output.status == "suspended"
    assert "workflow-finish" not in seen
    resume_task = asyncio.create_task(run.resume(resume_data="yes"))
    await asyncio.wait_for(resumed_entered.wait(), GUARD)
    assert output.status == "running"
    gate.set()
    resumed = await asyncio.wait_for(resume_task, GUARD)
    await asyncio.wait_for(reader, GUARD)
    assert resumed.status == "success"
    assert seen.count("workflow-start") == 1
    assert seen[-1] == "workflow-finish"
    assert seen.index("workflow-step-suspended") < seen.index("workflow-step-result")
    result = await output.result
    assert (result.status, result.result) == ("success", "yes")
    assert output.status == "success"
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "success"


async def test_close_on_suspend_false_result_waits_for_final_end() -> None:
    run = await wf_of(asker("ask"), wid="openres").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    result_task = asyncio.ensure_future(output.result)
    chunks: list[Any] = []

    async def read() -> None:
        async for chunk in output:
            chunks.append(chunk)
            if chunk.type == "workflow-step-suspended":
                await asyncio.sleep(0)
                assert not result_task.done()
                await run.resume(resume_data="final")

    await asyncio.wait_for(read(), GUARD)
    result = await result_task
    assert (result.status, result.result) == ("success", "final")


async def test_close_on_suspend_false_with_resume_stream_feeds_both_outputs() -> None:
    wf = wf_of(
        create_step(id="pay", execute=_pay_1_token),
        create_step(id="ask", execute=_ask_then_pay_10),
        wid="both",
    )
    run = await wf.create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    kept_chunks: list[Any] = []
    suspended = asyncio.Event()

    async def read() -> None:
        async for chunk in kept:
            kept_chunks.append(chunk)
            if chunk.type == "workflow-step-suspended":
                suspended.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(suspended.wait(), GUARD)
    second = run.resume_stream(resume_data="r")
    second_chunks = await collect(second)
    await asyncio.wait_for(reader, GUARD)
    assert types(second_chunks)[0] == "workflow-start"
    assert finish(second_chunks)["workflowStatus"] == "success"
    assert types(kept_chunks).count("workflow-start") == 1
    assert finish(kept_chunks)["workflowStatus"] == "success"
    # the kept-open output was fed the same step events as the new one
    assert wire(second_chunks[1:-1]) == wire(kept_chunks[-1 - len(second_chunks[1:-1]) : -1])
    kept_usage = await kept.usage
    second_usage = await second.usage
    assert (second_usage.input_tokens, second_usage.output_tokens) == (10, 10)
    assert (kept_usage.input_tokens, kept_usage.output_tokens) == (11, 11)
    assert kept.status == "success" and second.status == "success"
    assert (await kept.result).result == "r"


async def test_kept_open_output_survives_second_suspension() -> None:
    async def twice(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"round": 1})
        return ctx.resume_data

    wf = wf_of(
        create_step(id="one", execute=twice),
        create_step(id="two", execute=twice),
        wid="twosusp",
    )
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    suspensions = 0

    async def read() -> None:
        nonlocal suspensions
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                suspensions += 1
                assert output.status == "suspended"

    reader = asyncio.create_task(read())
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(resume_data="A")
    assert mid.status == "suspended"
    assert not reader.done()
    assert output.status == "suspended"
    done = await run.resume(resume_data="B")
    assert done.status == "success"
    await asyncio.wait_for(reader, GUARD)
    assert suspensions == 2
    assert seen.count("workflow-start") == 1 and seen.count("workflow-finish") == 1
    result = await output.result
    assert (result.status, result.result) == ("success", "B")


async def test_kept_open_output_ends_failed_when_resumed_step_fails() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        raise ValueError("rejected")

    run = await wf_of(create_step(id="ask", execute=body), wid="openfail").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    resumed = await run.resume(resume_data=1)
    assert resumed.status == "failed"
    chunks = await collect(output)
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert fin["metadata"] == {
        "error": {"message": "rejected", "name": "ValueError"},
        "errorMessage": "rejected",
    }
    assert output.status == "failed"
    assert (await output.result).status == "failed"


async def test_kept_open_output_stays_open_after_rejected_resume() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    run = await wf_of(
        create_step(id="ask", execute=body, resume_schema=int), wid="openrej"
    ).create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    with pytest.raises(ValidationError):
        await run.resume(resume_data="nope")
    rejected = run.resume_stream(resume_data="still nope")
    await collect(rejected)
    assert output.status == "suspended"
    done = await run.resume(resume_data=3)
    assert done.result == 3
    chunks = await collect(output)
    assert types(chunks).count("workflow-start") == 1
    assert finish(chunks)["workflowStatus"] == "success"


async def test_kept_open_parallel_resumed_branch_by_branch() -> None:
    wf, a, b = two_askers("openpar")
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(step="ask_a", resume_data="A")
    assert mid.status == "suspended"
    assert mid.suspended == [["ask_b"]]
    await run.resume(step=b, resume_data="B")
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "success"
    assert finish(chunks)["finalWorkflowResult"] == {"ask_a": "A", "ask_b": "B"}
    assert types(chunks).count("workflow-step-suspended") == 2
    assert types(chunks).count("workflow-start") == 1
    assert output.status == "success"


@pytest.mark.parametrize("kind", ["parallel", "branch"])
async def test_kept_open_output_status_suspended_after_partial_block_resume(kind: str) -> None:
    if kind == "parallel":
        wf, _, _ = two_askers("openpar2")
    else:
        wf = (
            create_workflow(id="openbr2")
            .branch([(lambda ctx: True, asker("ask_a")), (lambda ctx: True, asker("ask_b"))])
            .commit()
        )
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(step="ask_a", resume_data="A")
    assert mid.status == "suspended" and run.status == "suspended"
    assert output.status == "suspended"


async def test_kept_open_status_returns_to_running_on_resume_stream() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=ask), wid="rsrun").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    assert kept.status == "suspended"
    second = run.resume_stream(resume_data="v")
    await asyncio.wait_for(entered.wait(), GUARD)
    assert kept.status == "running"
    assert second.status == "running"
    gate.set()
    await collect(second)
    kept_chunks = await collect(kept)
    assert finish(kept_chunks)["workflowStatus"] == "success"
    assert kept.status == "success"
    assert (await kept.result).result == "v"
