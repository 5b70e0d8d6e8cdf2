"""Tracing with the real OpenTelemetry SDK: span names, parents, attributes, status, links."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _steps import add_one, ask, inc, one_step
from conftest import collect, within
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags

from rxflow import (
    RequestContext,
    SQLiteStorage,
    StepContext,
    TracingContext,
    TracingOptions,
    TripWire,
    create_step,
    create_workflow,
)

# One SDK provider for this module: the global tracer provider can be set once per process.
_EXPORTER = InMemorySpanExporter()


class _Switchable(SpanProcessor):
    """Forwards finished spans to this module's exporter while this module runs."""

    def __init__(self) -> None:
        self.inner = SimpleSpanProcessor(_EXPORTER)
        self.active = True

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.active:
            self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@pytest.fixture(scope="module")
def _sdk_provider() -> Iterator[TracerProvider]:
    current = trace.get_tracer_provider()
    installed_here = not isinstance(current, TracerProvider)
    provider = TracerProvider() if installed_here else current
    processor = _Switchable()
    provider.add_span_processor(processor)
    if installed_here:
        trace.set_tracer_provider(provider)
    yield provider
    processor.active = False
    if installed_here:
        # Leave the process as it was found, so that later test modules can install their own
        # provider (the same reset OpenTelemetry's own test helpers do).
        from opentelemetry.util._once import Once

        trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture
def spans(_sdk_provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def the(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = named(exporter, name)
    assert len(found) == 1, (name, [s.name for s in exporter.get_finished_spans()])
    return found[0]


def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return child.parent is not None and child.parent.span_id == parent.context.span_id


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan, everything: dict[str, ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    for name, other in everything.items():
        if other.context.span_id == span.parent.span_id:
            return name
    return "<remote>"


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


# --- span names and parents -------------------------------------------------------------------


async def test_span_names_for_every_entry_kind_and_their_parents(
    spans: InMemorySpanExporter,
) -> None:
    wf = (
        create_workflow(id="shapes")
        .then(create_step(id="first", execute=add_one))
        .parallel([create_step(id="p1", execute=add_one), create_step(id="p2", execute=add_one)])
        .map(lambda ctx: 1)
        .branch(
            [
                (lambda ctx: True, create_step(id="b1", execute=add_one)),
                (lambda ctx: False, create_step(id="b2", execute=add_one)),
                (lambda ctx: True, create_step(id="b3", execute=add_one)),
            ]
        )
        .map(lambda ctx: [1, 2, 3])
        .foreach(create_step(id="each", execute=add_one), concurrency=2)
        .map(lambda ctx: 0)
        .dowhile(create_step(id="dw", execute=add_one), lambda ctx: ctx.input_data < 2)
        .dountil(create_step(id="du", execute=add_one), lambda ctx: ctx.input_data >= 4)
        .sleep(5)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.status == "success"
    root = the(spans, "workflow run: 'shapes'")
    parallel = the(spans, "parallel: '2 branches'")
    conditional = the(spans, "conditional: '3 conditions'")
    foreach = the(spans, "loop: 'foreach'")
    dowhile = the(spans, "loop: 'dowhile'")
    dountil = the(spans, "loop: 'dountil'")
    sleep = the(spans, "sleep: 5ms")
    for block in (parallel, conditional, foreach, dowhile, dountil, sleep):
        assert is_child(block, root), block.name
    assert is_child(the(spans, "workflow step: 'first'"), root)
    assert is_child(the(spans, "workflow step: 'p1'"), parallel)
    assert is_child(the(spans, "workflow step: 'p2'"), parallel)
    assert is_child(the(spans, "workflow step: 'b1'"), conditional)
    assert is_child(the(spans, "workflow step: 'b3'"), conditional)
    assert named(spans, "workflow step: 'b2'") == []
    assert [is_child(s, dowhile) for s in named(spans, "workflow step: 'dw'")] == [True, True]
    assert all(is_child(s, dountil) for s in named(spans, "workflow step: 'du'"))
    # foreach items get no span of their own
    assert named(spans, "workflow step: 'each'") == []
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {root.context.trace_id}


async def test_spans_come_from_the_rxflow_tracer(spans: InMemorySpanExporter) -> None:
    await (await one_step("scope", add_one).create_run()).start(input_data=1)
    assert {s.instrumentation_scope.name for s in spans.get_finished_spans()} == {"rxflow"}


async def test_nested_workflow_in_a_foreach_item_gets_its_run_span_under_the_loop_span(
    spans: InMemorySpanExporter,
) -> None:
    child = create_workflow(id="item-child").then(create_step(id="inner", execute=add_one)).commit()
    wf = create_workflow(id="fan").foreach(child, concurrency=2).commit()
    result = await (await wf.create_run()).start(input_data=[1, 2, 3])
    assert result.result == [2, 3, 4]
    loop = the(spans, "loop: 'foreach'")
    child_runs = named(spans, "workflow run: 'item-child'")
    assert len(child_runs) == 3
    assert all(is_child(span, loop) for span in child_runs)
    assert named(spans, "workflow step: 'item-child'") == []


async def test_every_run_id_on_a_step_span_belongs_to_a_run_span(
    spans: InMemorySpanExporter,
) -> None:
    child = create_workflow(id="nested-ids").then(create_step(id="inner", execute=add_one)).commit()
    wf = create_workflow(id="outer-ids").then(child).commit()
    await (await wf.create_run()).start(input_data=1)
    run_spans = [s for s in spans.get_finished_spans() if s.name.startswith("workflow run:")]
    step_spans = [s for s in spans.get_finished_spans() if s.name.startswith("workflow step:")]
    assert all("rxflow.run.id" in s.attributes for s in run_spans)
    run_ids = {s.attributes.get("rxflow.run.id") for s in run_spans}
    assert {s.attributes["rxflow.run.id"] for s in step_spans} <= run_ids


def test_the_tracer_is_looked_up_at_use_not_cached_at_import() -> None:
    code = (
        "import asyncio\n"
        "from rxflow import create_step, create_workflow\n"
        "async def body(ctx): return 1\n"
        "wf = create_workflow(id='late').then(create_step(id='a', execute=body)).commit()\n"
        "async def once():\n"
        "    return await (await wf.create_run()).start(input_data=None)\n"
        "before = asyncio.run(once())\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "after = asyncio.run(once())\n"
        "print(before.trace_id, after.trace_id is not None,\n"
        "      sorted(s.name for s in exporter.get_finished_spans()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None True [\"workflow run: 'late'\", \"workflow step: 'a'\"]"


# --- ids and the caller's trace ---------------------------------------------------------------


async def test_result_ids_are_the_run_span_hex_ids(spans: InMemorySpanExporter) -> None:
    result = await (await one_step("ids", add_one).create_run(run_id="ids-1")).start(input_data=1)
    root = the(spans, "workflow run: 'ids'")
    assert result.trace_id == format(root.context.trace_id, "032x")
    assert result.span_id == format(root.context.span_id, "016x")
    assert len(result.trace_id) == 32 and len(result.span_id) == 16
    assert result.to_dict()["traceId"] == result.trace_id
    assert result.to_dict()["spanId"] == result.span_id
    assert root.attributes["rxflow.workflow.id"] == "ids"
    assert root.attributes["rxflow.run.id"] == "ids-1"
    step = the(spans, "workflow step: 's'")
    assert step.attributes["rxflow.step.id"] == "s"
    assert step.attributes["rxflow.step.status"] == "success"


async def test_ids_are_none_when_the_run_span_is_not_recording(
    spans: InMemorySpanExporter,
) -> None:
    unsampled = NonRecordingSpan(
        SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    )
    result = await (await one_step("unsampled", add_one).create_run()).start(
        input_data=1, tracing_context=TracingContext(current_span=unsampled)
    )
    assert result.status == "success"
    assert (result.trace_id, result.span_id) == (None, None)
    assert spans.get_finished_spans() == ()


async def test_tracing_context_span_is_the_parent_of_the_run_span(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("acceptance")
    with tracer.start_as_current_span("caller") as caller:
        pass
    await (await one_step("child-of", add_one).create_run()).start(
        input_data=1, tracing_context=TracingContext(current_span=caller)
    )
    root = the(spans, "workflow run: 'child-of'")
    assert root.parent is not None
    assert root.parent.span_id == caller.get_span_context().span_id
    assert root.context.trace_id == caller.get_span_context().trace_id


async def test_trace_id_and_parent_span_id_are_left_padded(spans: InMemorySpanExporter) -> None:
    result = await (await one_step("padded", add_one).create_run()).start(
        input_data=1, tracing_options=TracingOptions(trace_id="abc", parent_span_id="12")
    )
    root = the(spans, "workflow run: 'padded'")
    assert format(root.context.trace_id, "032x") == "0" * 29 + "abc"
    assert result.trace_id == "0" * 29 + "abc"
    assert root.parent is not None and root.parent.span_id == 0x12
    assert root.parent.trace_id == 0xABC


async def test_trace_id_alone_joins_the_trace_through_a_generated_remote_parent(
    spans: InMemorySpanExporter,
) -> None:
    await (await one_step("joined", add_one).create_run()).start(
        input_data=1, tracing_options=TracingOptions(trace_id="ff")
    )
    root = the(spans, "workflow run: 'joined'")
    assert root.context.trace_id == 0xFF
    assert root.parent is not None
    assert root.parent.is_remote
    assert root.parent.trace_id == 0xFF
    assert root.parent.span_id != 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("trace_id", ""),
        ("trace_id", "0"),
        ("trace_id", "0" * 32),
        ("trace_id", "xyz"),
        ("trace_id", "1" * 33),
        ("parent_span_id", ""),
        ("parent_span_id", "0" * 16),
        ("parent_span_id", "g1"),
        ("parent_span_id", "1" * 17),
    ],
)
def test_invalid_ids_raise_value_error_naming_the_option(option: str, value: str) -> None:
    with pytest.raises(ValueError, match=option):
        TracingOptions(**{option: value})


def test_valid_ids_of_any_length_in_range_are_accepted() -> None:
    TracingOptions(trace_id="1", parent_span_id="1")
    TracingOptions(trace_id="f" * 32, parent_span_id="f" * 16)
    TracingOptions(trace_id="ABCDEF", parent_span_id="ABC")


# --- attributes, status and links -------------------------------------------------------------


async def test_metadata_request_context_keys_and_tags_become_run_span_attributes(
    spans: InMemorySpanExporter,
) -> None:
    options = TracingOptions(
        metadata={
            "team": "growth",
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "nested": {"a": 1},
            "names": ["x", "y"],
            "mixed": [1, "a"],
            "gone": None,
        },
        request_context_keys=["user.id", "plan", "absent"],
        tags=["beta", "eu"],
    )
    context = RequestContext({"user": {"id": "u-7"}, "plan": "pro"})
    await (await one_step("attrs", add_one).create_run()).start(
        input_data=1, request_context=context, tracing_options=options
    )
    root = the(spans, "workflow run: 'attrs'")
    attributes = dict(root.attributes)
    assert attributes["rxflow.metadata.team"] == "growth"
    assert attributes["rxflow.metadata.count"] == 3
    assert attributes["rxflow.metadata.ratio"] == 0.5
    assert attributes["rxflow.metadata.flag"] is True
    assert json.loads(attributes["rxflow.metadata.nested"]) == {"a": 1}
    assert list(attributes["rxflow.metadata.names"]) == ["x", "y"]
    assert json.loads(attributes["rxflow.metadata.mixed"]) == [1, "a"]
    assert "rxflow.metadata.gone" not in attributes
    assert attributes["rxflow.request_context.user.id"] == "u-7"
    assert attributes["rxflow.request_context.plan"] == "pro"
    assert "rxflow.request_context.absent" not in attributes
    assert list(attributes["rxflow.tags"]) == ["beta", "eu"]
    step = the(spans, "workflow step: 's'")
    assert "rxflow.tags" not in step.attributes


async def test_failed_and_tripwire_set_error_status(spans: InMemorySpanExporter) -> None:
    async def boom(ctx: Any) -> Any:
        raise RuntimeError("boom")

    async def trip(ctx: Any) -> Any:
        raise TripWire("stop")

    for workflow_id, body, status in (("fails", boom, "failed"), ("trips", trip, "tripwire")):
        spans.clear()
        result = await (await one_step(workflow_id, body).create_run()).start(input_data=None)
        assert result.status == status
        root = the(spans, f"workflow run: '{workflow_id}'")
        step = the(spans, "workflow step: 's'")
        assert root.status.status_code is StatusCode.ERROR
        assert step.status.status_code is StatusCode.ERROR
        assert root.attributes["rxflow.run.status"] == status
        assert step.attributes["rxflow.step.status"] == "failed"


async def test_suspended_and_canceled_leave_status_unset_with_an_attribute(
    spans: InMemorySpanExporter,
) -> None:
    await (await one_step("pauses", ask).create_run()).start(input_data=None)
    root = the(spans, "workflow run: 'pauses'")
    step = the(spans, "workflow step: 's'")
    assert root.status.status_code is StatusCode.UNSET
    assert step.status.status_code is StatusCode.UNSET
    assert root.attributes["rxflow.run.status"] == "suspended"
    assert step.attributes["rxflow.step.status"] == "suspended"

    spans.clear()
    entered = asyncio.Event()

    async def hang(ctx: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await one_step("stops", hang).create_run()
    output = run.stream(input_data=None)
    await within(entered.wait())
    await run.cancel()
    await within(output.result)
    await within(collect(output))
    root = the(spans, "workflow run: 'stops'")
    step = the(spans, "workflow step: 's'")
    assert root.status.status_code is StatusCode.UNSET
    assert step.status.status_code is StatusCode.UNSET
    assert root.attributes["rxflow.run.status"] == "canceled"
    assert step.attributes["rxflow.step.status"] == "canceled"


async def test_resumed_segment_from_a_new_run_object_continues_the_trace_with_a_link(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    def build() -> Any:
        return (
            create_workflow(id="traced-resume", storage=SQLiteStorage(tmp_path / "t.db"))
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    first = build()
    suspended = await (await first.create_run(run_id="tr-1")).start(input_data=1)
    await first.storage.close()
    first_root = the(spans, "workflow run: 'traced-resume'")
    spans.clear()

    second = build()
    result = await (await second.create_run(run_id="tr-1")).resume(resume_data="go")
    await second.storage.close()
    assert result.status == "success"
    resumed = the(spans, "workflow run: 'traced-resume' (resumed)")
    assert resumed.context.trace_id == first_root.context.trace_id
    assert result.trace_id == suspended.trace_id
    assert result.span_id == format(resumed.context.span_id, "016x")
    assert [link.context.span_id for link in resumed.links] == [first_root.context.span_id]
    assert resumed.parent is not None and resumed.parent.is_remote
    assert is_child(the(spans, "workflow step: 'ask'"), resumed)
