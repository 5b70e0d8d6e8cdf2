"""Token usage: record_usage and forwarded LLM finish chunks, summed per output (SPEC §11)."""

from __future__ import annotations

from typing import Any

from conftest import collect

from rxflow import StepContext, Usage, create_step, create_workflow


async def test_usage_sums_record_usage_and_both_finish_chunk_spellings() -> None:
    async def llm_v5(ctx: StepContext) -> int:
        await ctx.writer.write({"type": "text-delta", "payload": {"text": "hi"}})
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"inputTokens": 10, "outputTokens": 5}}}
        )
        return 1

    async def llm_v4(ctx: StepContext) -> int:
        await ctx.writer.write(
            {
                "type": "finish",
                "payload": {"output": {"usage": {"promptTokens": 7, "completionTokens": 3}}},
            }
        )
        return 2

    def recorded(ctx: StepContext) -> int:  # a thread body records too
        ctx.record_usage(input_tokens=100, output_tokens=50, reasoning_tokens=20)
        return 3

    wf = (
        create_workflow(id="tokens")
        .then(create_step(id="v5", execute=llm_v5))
        .then(create_step(id="v4", execute=llm_v4))
        .then(create_step(id="rec", execute=recorded))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    usage = await output.usage
    assert usage == Usage(
        input_tokens=117,
        output_tokens=58,
        total_tokens=175,
        reasoning_tokens=20,
        cached_input_tokens=None,
        cache_creation_input_tokens=None,
    )
    assert chunks[-1].to_dict()["payload"]["output"]["usage"] == {
        "inputTokens": 117,
        "outputTokens": 58,
        "totalTokens": 175,
        "reasoningTokens": 20,
        "cachedInputTokens": 0,
        "cacheCreationInputTokens": 0,
    }
    # the finish chunks themselves are ordinary step output events
    outputs = [c.payload.output for c in chunks if c.type == "workflow-step-output"]
    assert [o["type"] for o in outputs] == ["text-delta", "finish", "finish"]


async def test_explicit_total_and_cached_tokens_are_kept() -> None:
    async def llm(ctx: StepContext) -> int:
        await ctx.writer.write(
            {
                "type": "finish",
                "payload": {
                    "usage": {
                        "inputTokens": 4,
                        "outputTokens": 6,
                        "totalTokens": 13,
                        "cachedInputTokens": 2,
                        "cacheCreationInputTokens": 1,
                    }
                },
            }
        )
        ctx.record_usage(1, 1, cached_input_tokens=5)
        return 0

    wf = create_workflow(id="tokens2").then(create_step(id="llm", execute=llm)).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await collect(output)
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (5, 7, 15)
    assert (usage.cached_input_tokens, usage.cache_creation_input_tokens) == (7, 1)
    assert usage.reasoning_tokens is None


async def test_usage_is_zero_without_reports_and_per_segment_on_resume() -> None:
    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            ctx.record_usage(3, 4)
            return await ctx.suspend("?")
        ctx.record_usage(10, 20)
        return "done"

    wf = create_workflow(id="tokens3").then(create_step(id="ask", execute=ask)).commit()
    run = await wf.create_run()
    first = run.stream(input_data=None)
    await collect(first)
    assert (await first.usage).total_tokens == 7
    second = run.resume_stream(resume_data=True)
    await collect(second)
    assert (await second.usage).total_tokens == 30  # each output sums what it carried

    plain = create_workflow(id="tokens4").then(create_step(id="a", execute=lambda ctx: 1)).commit()
    output = (await plain.create_run()).stream(input_data=None)
    await collect(output)
    assert await output.usage == Usage()


async def test_nested_workflow_usage_reaches_the_parent_stream() -> None:
    async def inner(ctx: StepContext) -> int:
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"inputTokens": 2, "outputTokens": 2}}}
        )
        ctx.record_usage(1, 0)
        return 1

    child = create_workflow(id="kid").then(create_step(id="inner", execute=inner)).commit()
    parent = create_workflow(id="mom").then(child).commit()
    output = (await parent.create_run()).stream(input_data=None)
    await collect(output)
    assert (await output.usage).total_tokens == 5
