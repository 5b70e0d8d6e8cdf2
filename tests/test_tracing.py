"""Tracing with the real OpenTelemetry SDK: span names, parents, attributes, status, links."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rxflow import (
    StepContext,
    TracingContext,
    TracingOptions,
    create_step,
    create_workflow,
)

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan, everything: dict[str, ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    for name, other in everything.items():
        if other.context.span_id == span.parent.span_id:
            return name
    return "<remote>"


async def _inc(ctx: StepContext) -> int:
    return int(ctx.input_data) + 1


def inc(step_id: str) -> Any:
    return create_step(id=step_id, execute=_inc)


async def test_chain_spans_and_result_ids(spans: InMemorySpanExporter) -> None:
    wf = create_workflow(id="traced").then(inc("a")).then(inc("b")).commit()
    run = await wf.create_run(run_id="r-1")
    result = await run.start(input_data=1)
    got = by_name(spans)
    assert set(got) == {"workflow run: 'traced'", "workflow step: 'a'", "workflow step: 'b'"}
    root = got["workflow run: 'traced'"]
    assert root.parent is None
    assert parent_of(got["workflow step: 'a'"], got) == "workflow run: 'traced'"
    assert parent_of(got["workflow step: 'b'"], got) == "workflow run: 'traced'"
    assert root.attributes["rxflow.workflow.id"] == "traced"
    assert root.attributes["rxflow.run.id"] == "r-1"
    assert root.attributes["rxflow.run.status"] == "success"
    step = got["workflow step: 'a'"]
    assert step.attributes["rxflow.step.id"] == "a"
    assert step.attributes["rxflow.step.status"] == "success"
    assert result.trace_id == format(root.context.trace_id, "032x")
    assert result.span_id == format(root.context.span_id, "016x")
    assert result.to_dict()["traceId"] == result.trace_id


async def test_block_spans_parent_their_steps(spans: InMemorySpanExporter) -> None:
    child = create_workflow(id="child").then(inc("inner")).commit()
    wf = (
        create_workflow(id="blocks")
        .parallel([inc("p1"), inc("p2")])
        .map(lambda ctx: 1)
        .branch([(lambda ctx: True, inc("yes")), (lambda ctx: False, inc("no"))])
        .map(lambda ctx: 0)
        .dowhile(inc("again"), lambda ctx: ctx.iteration_count < 2)
        .sleep(5)
        .then(child)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.status == "success"
    got = by_name(spans)
    run_name = "workflow run: 'blocks'"
    assert parent_of(got["parallel: '2 branches'"], got) == run_name
    assert parent_of(got["workflow step: 'p1'"], got) == "parallel: '2 branches'"
    assert parent_of(got["workflow step: 'p2'"], got) == "parallel: '2 branches'"
    assert parent_of(got["conditional: '2 conditions'"], got) == run_name
    assert parent_of(got["workflow step: 'yes'"], got) == "conditional: '2 conditions'"
    assert "workflow step: 'no'" not in got
    assert parent_of(got["loop: 'dowhile'"], got) == run_name
    loop_steps = [s for s in spans.get_finished_spans() if s.name == "workflow step: 'again'"]
    assert len(loop_steps) == 2
    assert all(s.parent.span_id == got["loop: 'dowhile'"].context.span_id for s in loop_steps)  # type: ignore[union-attr]
    assert parent_of(got["sleep: 5ms"], got) == run_name
    assert parent_of(got["workflow step: 'child'"], got) == run_name
    assert parent_of(got["workflow run: 'child'"], got) == "workflow step: 'child'"
    assert parent_of(got["workflow step: 'inner'"], got) == "workflow run: 'child'"
    trace_ids = {s.context.trace_id for s in spans.get_finished_spans()}
    assert len(trace_ids) == 1


async def test_foreach_has_one_loop_span_and_nested_runs_under_it(
    spans: InMemorySpanExporter,
) -> None:
    per_item = create_workflow(id="per-item").then(inc("work")).commit()
    wf = create_workflow(id="fan").foreach(per_item, concurrency=2).commit()
    result = await (await wf.create_run()).start(input_data=[1, 2, 3])
    assert result.result == [2, 3, 4]
    finished = spans.get_finished_spans()
    loop = [s for s in finished if s.name == "loop: 'foreach'"]
    assert len(loop) == 1
    assert not [s for s in finished if s.name == "workflow step: 'per-item'"]  # no item spans
    nested_runs = [s for s in finished if s.name == "workflow run: 'per-item'"]
    assert len(nested_runs) == 3
    assert all(s.parent.span_id == loop[0].context.span_id for s in nested_runs)  # type: ignore[union-attr]
    assert loop[0].attributes["rxflow.foreach.concurrency"] == 2


async def test_tracing_context_parents_the_run_span(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app")
    wf = create_workflow(id="inside").then(inc("a")).commit()
    with tracer.start_as_current_span("app request") as app_span:
        result = await (await wf.create_run()).start(
            input_data=1, tracing_context=TracingContext(current_span=app_span)
        )
    got = by_name(spans)
    assert parent_of(got["workflow run: 'inside'"], got) == "app request"
    assert result.trace_id == format(app_span.get_span_context().trace_id, "032x")


async def test_trace_id_and_parent_span_id_are_padded_and_used(spans: InMemorySpanExporter) -> None:
    wf = create_workflow(id="joined").then(inc("a")).commit()
    await (await wf.create_run()).start(
        input_data=1, tracing_options=TracingOptions(trace_id="abc123", parent_span_id="ff")
    )
    root = by_name(spans)["workflow run: 'joined'"]
    assert format(root.context.trace_id, "032x") == "0" * 26 + "abc123"
    assert root.parent is not None and root.parent.is_remote
    assert format(root.parent.span_id, "016x") == "0" * 14 + "ff"

    spans.clear()
    await (await wf.create_run()).start(
        input_data=1, tracing_options=TracingOptions(trace_id="ABCDEF")
    )
    root = by_name(spans)["workflow run: 'joined'"]
    assert format(root.context.trace_id, "032x") == "0" * 26 + "abcdef"
    assert root.parent is not None and root.parent.span_id != 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("trace_id", "xyz"),
        ("trace_id", "0" * 32),
        ("trace_id", "1" * 33),
        ("trace_id", ""),
        ("parent_span_id", "g1"),
        ("parent_span_id", "1" * 17),
    ],
)
def test_invalid_ids_raise_naming_the_option(option: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"TracingOptions.{option} .* got {value!r}"):
        TracingOptions(**{option: value})


async def test_metadata_tags_and_request_context_keys(spans: InMemorySpanExporter) -> None:
    wf = create_workflow(id="attrs").then(inc("a")).commit()
    await (await wf.create_run(resource_id="user-7")).start(
        input_data=1,
        request_context={"user": {"id": "u-1", "plan": "pro"}, "region": "eu"},
        tracing_options=TracingOptions(
            metadata={"team": "core", "weights": [1, 2], "config": {"a": 1}},
            tags=["beta", "night"],
            request_context_keys=["user.id", "region", "user.missing"],
        ),
    )
    got = by_name(spans)
    root = got["workflow run: 'attrs'"]
    assert root.attributes["rxflow.metadata.team"] == "core"
    assert tuple(root.attributes["rxflow.metadata.weights"]) == (1, 2)
    assert root.attributes["rxflow.metadata.config"] == '{"a": 1}'
    assert tuple(root.attributes["rxflow.tags"]) == ("beta", "night")
    assert root.attributes["rxflow.request_context.user.id"] == "u-1"
    assert root.attributes["rxflow.request_context.region"] == "eu"
    assert "rxflow.request_context.user.missing" not in root.attributes
    assert "rxflow.tags" not in got["workflow step: 'a'"].attributes  # tags: run span only


async def test_failure_sets_error_status_and_records_the_exception(
    spans: InMemorySpanExporter,
) -> None:
    async def boom(ctx: StepContext) -> None:
        raise RuntimeError("kaput")

    wf = create_workflow(id="err").then(create_step(id="boom", execute=boom)).commit()
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    got = by_name(spans)
    step = got["workflow step: 'boom'"]
    assert step.status.status_code == StatusCode.ERROR
    assert [e.name for e in step.events] == ["exception"]
    assert step.events[0].attributes["exception.message"] == "kaput"
    root = got["workflow run: 'err'"]
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["rxflow.run.status"] == "failed"


async def test_suspended_and_canceled_leave_status_unset(spans: InMemorySpanExporter) -> None:
    async def ask(ctx: StepContext) -> Any:
        return await ctx.suspend("?")

    wf = create_workflow(id="sus").then(create_step(id="ask", execute=ask)).commit()
    await (await wf.create_run()).start(input_data=None)
    got = by_name(spans)
    assert got["workflow step: 'ask'"].status.status_code == StatusCode.UNSET
    assert got["workflow step: 'ask'"].attributes["rxflow.step.status"] == "suspended"
    assert got["workflow run: 'sus'"].attributes["rxflow.run.status"] == "suspended"

    spans.clear()
    entered = asyncio.Event()

    async def waits(ctx: StepContext) -> None:
        entered.set()
        await asyncio.Event().wait()

    wf2 = create_workflow(id="can").then(create_step(id="waits", execute=waits)).commit()
    run = await wf2.create_run()
    output = run.stream(input_data=None)
    await entered.wait()
    await run.cancel()
    await output.result
    got = by_name(spans)
    assert got["workflow step: 'waits'"].attributes["rxflow.step.status"] == "canceled"
    assert got["workflow run: 'can'"].status.status_code == StatusCode.UNSET
    assert got["workflow run: 'can'"].attributes["rxflow.run.status"] == "canceled"


async def test_resumed_segment_continues_the_trace_with_a_link(spans: InMemorySpanExporter) -> None:
    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend("?")
        return ctx.resume_data

    wf = (
        create_workflow(id="hitl")
        .then(create_step(id="ask", execute=ask))
        .then(inc("after"))
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data=None)
    first_span = by_name(spans)["workflow run: 'hitl'"]
    spans.clear()
    second = await run.resume(resume_data=41)
    assert second.result == 42
    got = by_name(spans)
    resumed = got["workflow run: 'hitl' (resumed)"]
    assert resumed.context.trace_id == first_span.context.trace_id
    assert second.trace_id == first.trace_id
    assert second.span_id != first.span_id
    assert [link.context.span_id for link in resumed.links] == [first_span.context.span_id]
    assert parent_of(got["workflow step: 'ask'"], got) == "workflow run: 'hitl' (resumed)"
    record = await wf.storage.get_run("hitl", run.run_id)
    assert record is not None and record.snapshot["tracingContext"]["traceId"] == first.trace_id


async def test_step_span_is_current_in_bodies_async_and_thread(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("user")
    seen: list[Any] = []

    async def async_body(ctx: StepContext) -> int:
        seen.append(ctx.tracing_context.current_span)
        with tracer.start_as_current_span("user async work"):
            await asyncio.sleep(0)
        return 1

    def thread_body(ctx: StepContext) -> int:
        with tracer.start_as_current_span("user thread work"):
            pass
        return 2

    wf = (
        create_workflow(id="bodies")
        .then(create_step(id="async_step", execute=async_body))
        .then(create_step(id="thread_step", execute=thread_body))
        .commit()
    )
    await (await wf.create_run()).start(input_data=None)
    got = by_name(spans)
    assert parent_of(got["user async work"], got) == "workflow step: 'async_step'"
    assert parent_of(got["user thread work"], got) == "workflow step: 'thread_step'"
    assert seen[0].get_span_context().span_id == got["workflow step: 'async_step'"].context.span_id


def test_without_an_sdk_ids_are_none_and_nothing_is_traced() -> None:
    code = (
        "import asyncio\n"
        "from rxflow import create_step, create_workflow\n"
        "async def body(ctx): return 1\n"
        "wf = create_workflow(id='plain').then(create_step(id='a', execute=body)).commit()\n"
        "async def main():\n"
        "    run = await wf.create_run()\n"
        "    result = await run.start(input_data=None)\n"
        "    print(result.status, result.trace_id, result.span_id)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "success None None"
