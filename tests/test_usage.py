"""Token usage: record_usage and forwarded LLM finish chunks, summed per output (SPEC §11)."""

from __future__ import annotations

import inspect
from typing import Any

from _steps import one_step, wf_of
from conftest import USAGE_KEYS, collect, finish, within

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


# --- sums over a run --------------------------------------------------------------------------


async def test_usage_sums_record_usage_and_finish_chunks_into_finish_and_output_usage() -> None:
    async def llm(ctx: Any) -> Any:
        ctx.record_usage(3, 4)
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"inputTokens": 10, "outputTokens": 5}}}
        )
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"promptTokens": 1, "completionTokens": 2}}}
        )
        return None

    def thread_llm(ctx: Any) -> Any:
        ctx.record_usage(input_tokens=100, output_tokens=1)
        return None

    wf = (
        create_workflow(id="usage")
        .then(create_step(id="llm", execute=llm))
        .then(create_step(id="thread", execute=thread_llm))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await within(collect(output))
    usage = await within(output.usage)
    assert isinstance(usage, Usage)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (114, 12, 126)
    assert usage.reasoning_tokens is None and usage.cached_input_tokens is None
    wire = chunks[-1].to_dict()["payload"]["output"]["usage"]
    assert set(wire) == USAGE_KEYS
    assert all(type(v) is int for v in wire.values())
    assert (wire["inputTokens"], wire["outputTokens"], wire["totalTokens"]) == (114, 12, 126)
    assert wire["reasoningTokens"] == 0


async def test_usage_optional_counters_count_once_reported_and_explicit_total_is_kept() -> None:
    async def llm(ctx: Any) -> Any:
        ctx.record_usage(1, 1, reasoning_tokens=2, cached_input_tokens=3)
        ctx.record_usage(1, 1)
        await ctx.writer.write(
            {
                "type": "finish",
                "payload": {
                    "usage": {
                        "inputTokens": 1,
                        "outputTokens": 1,
                        "totalTokens": 50,
                        "cacheCreationInputTokens": 4,
                    }
                },
            }
        )
        return None

    output = (await one_step("usage-opt", llm).create_run()).stream(input_data=None)
    await within(collect(output))
    usage = await within(output.usage)
    assert usage.reasoning_tokens == 2
    assert usage.cached_input_tokens == 3
    assert usage.cache_creation_input_tokens == 4
    assert (usage.input_tokens, usage.output_tokens) == (3, 3)
    assert usage.total_tokens == 2 + 2 + 50


async def test_usage_resolves_with_totals() -> None:
    async def body(ctx: StepContext) -> Any:
        ctx.record_usage(3, 4)
        ctx.record_usage(input_tokens=1, output_tokens=1, reasoning_tokens=2)
        return None

    output = (await wf_of(create_step(id="u", execute=body)).create_run()).stream(input_data=None)
    chunks = await collect(output)
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (4, 5, 9)
    assert usage.reasoning_tokens == 2
    assert usage.cached_input_tokens is None
    wire_usage = finish(chunks)["output"]["usage"]
    assert set(wire_usage) == USAGE_KEYS
    assert wire_usage["inputTokens"] == 4 and wire_usage["totalTokens"] == 9
    assert wire_usage["reasoningTokens"] == 2 and wire_usage["cachedInputTokens"] == 0
    assert all(isinstance(v, int) for v in wire_usage.values())


async def test_usage_from_forwarded_finish_chunks() -> None:
    async def body(ctx: StepContext) -> Any:
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"promptTokens": 2, "completionTokens": 3}}}
        )
        await ctx.writer.write(
            {
                "type": "finish",
                "payload": {
                    "usage": {
                        "inputTokens": 1,
                        "outputTokens": 1,
                        "totalTokens": 10,
                        "cacheCreationInputTokens": 4,
                    }
                },
            }
        )
        return None

    output = (await wf_of(create_step(id="llm", execute=body), wid="fwd").create_run()).stream(
        input_data=None
    )
    chunks = await collect(output)
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens) == (3, 4)
    assert usage.total_tokens == 15  # 5 computed + 10 explicit
    assert usage.cache_creation_input_tokens == 4
    assert usage.reasoning_tokens is None
    wire_usage = finish(chunks)["output"]["usage"]
    assert wire_usage == {
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 15,
        "reasoningTokens": 0,
        "cachedInputTokens": 0,
        "cacheCreationInputTokens": 4,
    }


# --- the Usage record -------------------------------------------------------------------------


def test_usage_constructor_field_names() -> None:
    usage = Usage(
        1, 2, 3, reasoning_tokens=None, cached_input_tokens=None, cache_creation_input_tokens=None
    )
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (1, 2, 3)
    assert list(inspect.signature(Usage).parameters) == [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "reasoning_tokens",
        "cached_input_tokens",
        "cache_creation_input_tokens",
    ]


def test_usage_total_tokens_defaults_to_input_plus_output() -> None:
    assert Usage(3, 4).total_tokens == 7
