"""Acceptance tests written from SPEC.md alone, through the public API only.

Scope: §7 schemas and data, §8 results, §9 errors/retries/bail/tripwire, §10 request context,
§11 usage, §12 tracing, §13 storage and snapshots, §14 Rx interop, and the matching parts of §16
("Tracing", "Storage protocol", "Schemas are strict", "Engine realities", "Tracing realities",
"Rx interop details").

Tests marked ``xfail(strict=True)`` record places where the library does not do what SPEC says;
the reason names the SPEC sentence and what happens instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import attrs
import pytest
import reactivex
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags

import rxflow
import rxflow.errors
import rxflow.events
import rxflow.operators
import rxflow.storage
from rxflow import (
    InMemoryStorage,
    NonRetryableError,
    RequestContext,
    ResumeAlreadyClaimedError,
    RetryConfig,
    RunList,
    RunRecord,
    RxflowError,
    SQLiteStorage,
    Step,
    StepResult,
    StorageError,
    TracingContext,
    TracingOptions,
    TripWire,
    Usage,
    ValidationError,
    WorkflowResult,
    create_step,
    create_workflow,
)
from rxflow.operators import run_workflow, stream_workflow

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

SNAPSHOT_KEYS = {
    "runId",
    "status",
    "value",
    "context",
    "activePaths",
    "suspendedPaths",
    "resumeLabels",
    "stepExecutionPath",
    "serializedStepGraph",
    "result",
    "error",
    "requestContext",
    "tracingContext",
    "timestamp",
    "version",
}

USAGE_WIRE_KEYS = {
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "reasoningTokens",
    "cachedInputTokens",
    "cacheCreationInputTokens",
}


def now_ms() -> int:
    return int(time.time() * 1000)


async def collect(output: Any) -> list[Any]:
    return [chunk async for chunk in output]


async def within(awaitable: Any, seconds: float = 10) -> Any:
    """Await with a bound, so a hang fails the test instead of stalling the suite."""
    return await asyncio.wait_for(awaitable, seconds)


def lines_of(error: BaseException) -> list[str]:
    return str(error).splitlines()


async def echo(ctx: Any) -> Any:
    return ctx.input_data


async def inc(ctx: Any) -> int:
    return int(ctx.input_data) + 1


async def ask(ctx: Any) -> Any:
    """Suspends the first time, returns the resume data when resumed."""
    if ctx.resume_data is None:
        return await ctx.suspend({"question": ctx.input_data})
    return ctx.resume_data


def one_step(workflow_id: str, body: Any, **options: Any) -> Any:
    step_options = options.pop("step_options", {})
    return (
        create_workflow(id=workflow_id, **options)
        .then(create_step(id="s", execute=body, **step_options))
        .commit()
    )


async def settle(turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def observe(observable: reactivex.Observable[Any]) -> tuple[list[Any], asyncio.Future[Any], Any]:
    """Subscribe; returns (items, future resolved on completion or error, subscription)."""
    items: list[Any] = []
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_error(error: Exception) -> None:
        if not done.done():
            done.set_exception(error)

    def on_completed() -> None:
        if not done.done():
            done.set_result(items)

    subscription = observable.subscribe(
        on_next=items.append, on_error=on_error, on_completed=on_completed
    )
    return items, done, subscription


@attrs.frozen
class Item:
    name: str
    price: float


@attrs.frozen
class Order:
    items: list[Item]
    qty: int


@attrs.frozen
class Point:
    x: int
    y: str


@attrs.frozen
class OtherPoint:
    x: int
    y: str


@dataclasses.dataclass
class DataPoint:
    x: int


class Movie(TypedDict):
    title: str
    year: int


# ---------------------------------------------------------------------------------------------
# tracing: one SDK provider for this module (the global provider can be set once per process)
# ---------------------------------------------------------------------------------------------

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


# =============================================================================================
# §7 Schemas and data (and §16 "Schemas are strict")
# =============================================================================================


async def test_mapping_input_is_structured_into_attrs_schema() -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return sum(item.price for item in ctx.input_data.items) * ctx.input_data.qty

    wf = one_step("order", body, input_schema=Order)
    result = await (await wf.create_run()).start(
        input_data={"items": [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}], "qty": 2}
    )
    assert result.status == "success"
    assert seen == [Order([Item("a", 1.5), Item("b", 2.0)], 2)]
    assert isinstance(seen[0].items[1].price, float)
    assert result.result == 7.0


async def test_an_instance_of_the_schema_is_accepted_as_is() -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return None

    order = Order([Item("a", 1.0)], 1)
    await (await one_step("order", body, input_schema=Order).create_run()).start(input_data=order)
    assert seen[0] is order


@pytest.mark.parametrize(
    ("schema", "given", "expected"),
    [
        (int, 3, 3),
        (float, 3, 3.0),
        (str, "x", "x"),
        (bool, False, False),
        (list[Item], [{"name": "a", "price": 1}], [Item("a", 1.0)]),
        (dict[str, float], {"a": 1, "b": 2.5}, {"a": 1.0, "b": 2.5}),
        (Movie, {"title": "Up", "year": 2009}, {"title": "Up", "year": 2009}),
        (DataPoint, {"x": 4}, DataPoint(4)),
        (None, {"anything": [1, "two"]}, {"anything": [1, "two"]}),
    ],
)
async def test_schema_kinds_accept_fitting_values(schema: Any, given: Any, expected: Any) -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return ctx.input_data

    result = await (await one_step("kinds", body, input_schema=schema).create_run()).start(
        input_data=given
    )
    assert result.status == "success"
    assert seen == [expected]
    assert type(seen[0]) is type(expected)


async def test_bad_input_raises_at_start_listing_every_bad_field() -> None:
    wf = one_step("order", echo, input_schema=Order)
    run = await wf.create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(
            input_data={
                "items": [
                    {"name": "a", "price": 1.0},
                    {"name": "b", "price": 2.0},
                    {"name": "c", "price": "abc"},
                ],
                "qty": "3",
            }
        )
    assert isinstance(caught.value, RxflowError)
    lines = lines_of(caught.value)
    assert "$.items[2].price: expected float, got 'abc'" in lines
    assert "$.qty: expected int, got '3'" in lines
    # one line per bad field: the good items are not mentioned
    assert not [line for line in lines if line.startswith(("$.items[0]", "$.items[1]"))]


@pytest.mark.parametrize(
    ("schema", "value", "line"),
    [
        (int, "3", "$: expected int, got '3'"),
        (int, 3.7, "$: expected int, got 3.7"),
        (int, True, "$: expected int, got True"),
        (float, "1.5", "$: expected float, got '1.5'"),
        (float, True, "$: expected float, got True"),
        (str, 5, "$: expected str, got 5"),
        (bool, 1, "$: expected bool, got 1"),
        (bool, "true", "$: expected bool, got 'true'"),
        (Point, {"x": "1", "y": "s"}, "$.x: expected int, got '1'"),
        (Point, {"x": 1, "y": 2}, "$.y: expected str, got 2"),
        (Movie, {"title": "Up", "year": "2009"}, "$.year: expected int, got '2009'"),
        (DataPoint, {"x": 1.0}, "$.x: expected int, got 1.0"),
    ],
)
async def test_no_coercion_between_str_numbers_and_bool(schema: Any, value: Any, line: str) -> None:
    run = await one_step("strict", echo, input_schema=schema).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=value)
    assert line in lines_of(caught.value)


async def test_each_bad_list_element_has_its_own_line() -> None:
    run = await one_step("ints", echo, input_schema=list[int]).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=[1, "2", 3.5, 4])
    bad = [line for line in lines_of(caught.value) if line.startswith("$")]
    assert bad == ["$[1]: expected int, got '2'", "$[2]: expected int, got 3.5"]


async def test_step_input_that_does_not_fit_fails_the_step_inside_the_run() -> None:
    ran: list[str] = []

    async def first(ctx: Any) -> Any:
        return {"x": "no", "y": "s"}

    async def second(ctx: Any) -> Any:
        ran.append("second")
        return ctx.input_data

    async def third(ctx: Any) -> Any:
        ran.append("third")
        return None

    wf = (
        create_workflow(id="inside", retry_config=RetryConfig(attempts=2))
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=second, input_schema=Point))
        .then(create_step(id="third", execute=third))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)  # does not raise
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.x: expected int, got 'no'" in lines_of(result.error)
    assert result.steps["second"].status == "failed"
    assert "third" not in result.steps
    assert ran == []


async def test_step_output_that_does_not_fit_fails_that_step() -> None:
    async def bad(ctx: Any) -> Any:
        return {"x": 1, "y": 2}

    wf = (
        create_workflow(id="out")
        .then(create_step(id="bad", execute=bad, output_schema=Point))
        .then(create_step(id="never", execute=echo))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert result.steps["bad"].status == "failed"
    assert isinstance(result.steps["bad"].error, ValidationError)
    assert "$.y: expected str, got 2" in lines_of(result.error)
    assert "never" not in result.steps


async def test_values_are_converted_between_steps_when_types_differ() -> None:
    seen: list[Any] = []

    async def make_dict(ctx: Any) -> Any:
        return {"x": 1, "y": "from dict"}

    async def make_other(ctx: Any) -> Any:
        return OtherPoint(2, "from attrs")

    async def take(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return ctx.input_data

    wf = (
        create_workflow(id="convert")
        .then(create_step(id="d", execute=make_dict))
        .then(create_step(id="p1", execute=take, input_schema=Point))
        .then(create_step(id="o", execute=make_other))
        .then(create_step(id="p2", execute=take, input_schema=Point))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    assert seen == [Point(1, "from dict"), Point(2, "from attrs")]
    assert all(type(value) is Point for value in seen)


async def test_stream_with_bad_input_reports_it_through_the_output() -> None:
    wf = one_step("bad-stream", echo, input_schema=int)
    run = await wf.create_run()
    output = run.stream(input_data="3")  # never raises for validation errors
    chunks = await within(collect(output))
    assert [c.type for c in chunks] == ["workflow-start", "workflow-finish"]
    finish = chunks[-1].to_dict()["payload"]
    assert finish["workflowStatus"] == "failed"
    assert finish["metadata"]["error"]["name"] == "ValidationError"
    assert "$: expected int, got '3'" in finish["metadata"]["errorMessage"]
    assert output.status == "failed"
    with pytest.raises(ValidationError):
        await within(output.result)


@attrs.frozen
class Counter:
    count: int
    limit: int

    def __attrs_post_init__(self) -> None:
        if self.count > self.limit:
            raise ValueError("count above limit")


async def test_state_schema_checks_each_partial_key_by_key() -> None:
    async def bad(ctx: Any) -> Any:
        ctx.set_state({"count": "many"})
        return None

    wf = one_step("state", bad, state_schema=Counter)
    result = await (await wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.count: expected int, got 'many'" in lines_of(result.error)
    assert result.state == {"count": 0, "limit": 5}


async def test_state_schema_checks_the_merged_state_as_a_whole() -> None:
    async def over(ctx: Any) -> Any:
        ctx.set_state({"count": 9})  # an int, fine key by key; the whole breaks count <= limit
        return None

    async def fine(ctx: Any) -> Any:
        ctx.set_state({"count": 2})
        ctx.set_state({"count": 3})
        return None

    over_wf = one_step("state-over", over, state_schema=Counter)
    result = await (await over_wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert result.state == {"count": 0, "limit": 5}

    fine_wf = one_step("state-fine", fine, state_schema=Counter)
    result = await (await fine_wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "success"
    assert result.state == {"count": 3, "limit": 5}


async def test_initial_state_is_validated_at_start() -> None:
    run = await one_step("state-start", echo, state_schema=Counter).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=None, initial_state={"count": "0", "limit": 5})
    assert "$.count: expected int, got '0'" in lines_of(caught.value)


@attrs.frozen
class Caller:
    user: str


async def test_request_context_schemas_workflow_raises_step_fails_without_retry() -> None:
    calls: list[int] = []

    async def body(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        return None

    wf = one_step("rc-wf", body, request_context_schema=Caller)
    with pytest.raises(ValidationError) as caught:
        await (await wf.create_run()).start(
            input_data=None, request_context=RequestContext({"user": 5})
        )
    assert "$.user: expected str, got 5" in lines_of(caught.value)

    step_wf = one_step(
        "rc-step",
        body,
        retry_config=RetryConfig(attempts=3),
        step_options={"request_context_schema": Caller},
    )
    result = await (await step_wf.create_run()).start(
        input_data=None, request_context=RequestContext({"user": 5})
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.user: expected str, got 5" in lines_of(result.error)
    assert calls == []


async def test_suspend_payload_and_resume_data_are_validated() -> None:
    async def bad_suspend(ctx: Any) -> Any:
        return await ctx.suspend({"x": "no", "y": "s"})

    wf = one_step("susp", bad_suspend, step_options={"suspend_schema": Point})
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.x: expected int, got 'no'" in lines_of(result.error)

    wf = one_step("res", ask, step_options={"resume_schema": Point})
    run = await wf.create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    with pytest.raises(ValidationError) as caught:
        await run.resume(resume_data={"x": 1, "y": 2})
    assert "$.y: expected str, got 2" in lines_of(caught.value)
    resumed = await run.resume(resume_data={"x": 1, "y": "ok"})
    assert (resumed.status, resumed.result) == ("success", Point(1, "ok"))


# =============================================================================================
# §8 Results
# =============================================================================================


async def test_workflow_result_fields_on_success() -> None:
    async def first(ctx: Any) -> Any:
        ctx.set_state({"seen": True})
        return {"snake_key": ctx.input_data.x, "camelKey": 2}

    wf = (
        create_workflow(id="fields", input_schema=Point)
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=echo))
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data={"x": 1, "y": "s"})
    assert isinstance(result, WorkflowResult)
    assert result.status == "success"
    assert result.run_id == run.run_id
    assert result.input == Point(1, "s")
    assert list(result.steps) == ["first", "second"]  # step ids only, no "input"
    assert all(isinstance(s, StepResult) for s in result.steps.values())
    assert result.step_execution_path == ["first", "second"]
    assert result.state == {"seen": True}
    assert result.result == {"snake_key": 1, "camelKey": 2}
    assert hasattr(result, "trace_id") and hasattr(result, "span_id")


async def test_step_result_has_every_documented_field() -> None:
    before = now_ms()
    result = await (await one_step("step-fields", inc).create_run()).start(input_data=1)
    after = now_ms()
    step = result.steps["s"]
    for name in (
        "status",
        "payload",
        "output",
        "error",
        "started_at",
        "ended_at",
        "suspend_payload",
        "suspended_at",
        "resume_payload",
        "resumed_at",
        "metadata",
        "tripwire",
    ):
        assert hasattr(step, name), name
    assert (step.status, step.payload, step.output, step.error) == ("success", 1, 2, None)
    assert isinstance(step.started_at, int) and isinstance(step.ended_at, int)
    assert before <= step.started_at <= step.ended_at <= after


async def test_to_dict_is_camel_case_wire_with_steps_input_and_user_keys_kept() -> None:
    async def body(ctx: Any) -> Any:
        ctx.set_state({"user_name": "ann"})
        return {"word_count": 2, "camelCase": True}

    wf = one_step("wire", body)
    result = await (await wf.create_run()).start(input_data={"some_field": 1})
    wire = result.to_dict()
    json.dumps(wire)  # plain JSON data
    assert wire["status"] == "success"
    assert wire["result"] == {"word_count": 2, "camelCase": True}
    assert wire["input"] == {"some_field": 1}
    assert wire["state"] == {"user_name": "ann"}
    assert wire["stepExecutionPath"] == ["s"]
    assert wire["steps"]["input"] == {"some_field": 1}
    step = wire["steps"]["s"]
    assert step["status"] == "success"
    assert step["payload"] == {"some_field": 1}
    assert step["output"] == {"word_count": 2, "camelCase": True}
    assert isinstance(step["startedAt"], int) and isinstance(step["endedAt"], int)
    assert "started_at" not in step and "step_execution_path" not in wire


class PaymentDeclined(Exception):
    pass


async def test_failed_result_keeps_the_exception_and_wires_message_and_name() -> None:
    raised = PaymentDeclined("card refused")

    async def body(ctx: Any) -> Any:
        raise raised

    result = await (await one_step("failed", body).create_run()).start(input_data=None)
    assert result.status == "failed"
    assert result.error is raised
    assert result.steps["s"].error is raised
    wire = result.to_dict()
    assert wire["error"] == {"message": "card refused", "name": "PaymentDeclined"}
    assert wire["steps"]["s"]["error"] == {"message": "card refused", "name": "PaymentDeclined"}


async def test_suspended_result_paths_payloads_and_resume_fields() -> None:
    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"reason": "need ok"})
        return {"ok": ctx.resume_data, "previous": ctx.suspend_data}

    wf = create_workflow(id="approval").then(create_step(id="approve", execute=approve)).commit()
    run = await wf.create_run()
    result = await run.start(input_data=7)
    assert result.status == "suspended"
    assert result.suspended == [["approve"]]
    assert result.suspend_payload == {"approve": {"reason": "need ok"}}
    step = result.steps["approve"]
    assert step.status == "suspended"
    assert step.suspend_payload == {"reason": "need ok"}
    assert isinstance(step.suspended_at, int)
    wire = result.to_dict()
    assert wire["suspended"] == [["approve"]]
    assert wire["suspendPayload"] == {"approve": {"reason": "need ok"}}
    assert wire["steps"]["approve"]["suspendPayload"] == {"reason": "need ok"}

    done = await run.resume(resume_data="yes")
    assert done.status == "success"
    assert done.result == {"ok": "yes", "previous": {"reason": "need ok"}}
    step = done.steps["approve"]
    assert step.resume_payload == "yes"
    assert isinstance(step.resumed_at, int)
    assert done.to_dict()["steps"]["approve"]["resumePayload"] == "yes"


async def test_structured_values_keep_their_schema_types_after_resume() -> None:
    seen: dict[str, Any] = {}

    async def make(ctx: Any) -> Any:
        return {"x": ctx.input_data.x + 1, "y": "made"}

    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            seen["before"] = (ctx.get_init_data(), ctx.get_step_result("make"))
            return await ctx.suspend(None)
        seen["after"] = (ctx.get_init_data(), ctx.get_step_result("make"))
        return "ok"

    wf = (
        create_workflow(id="typed-resume", input_schema=Point)
        .then(create_step(id="make", execute=make, output_schema=OtherPoint))
        .then(create_step(id="approve", execute=approve))
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data={"x": 1, "y": "in"})
    assert first.input == Point(1, "in")
    assert seen["before"] == (Point(1, "in"), OtherPoint(2, "made"))
    resumed = await run.resume(resume_data=True)
    assert resumed.status == "success"
    assert seen["after"] == seen["before"]
    assert type(seen["after"][0]) is Point and type(seen["after"][1]) is OtherPoint
    assert resumed.input == Point(1, "in")
    assert resumed.steps["make"].output == OtherPoint(2, "made")


async def test_every_suspended_path_is_listed() -> None:
    child = create_workflow(id="child").then(create_step(id="inner", execute=ask)).commit()
    wf = (
        create_workflow(id="many")
        .parallel([create_step(id="a", execute=ask), create_step(id="b", execute=ask)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert sorted(result.suspended) == [["a"], ["b"]]
    assert set(result.suspend_payload) == {"a", "b"}

    nested = create_workflow(id="outer").then(child).commit()
    result = await (await nested.create_run()).start(input_data=1)
    assert result.suspended == [["child", "inner"]]


async def test_tripwire_result_and_wire() -> None:
    async def body(ctx: Any) -> Any:
        raise TripWire("blocked", retry=True, metadata={"why": "pii"}, processor_id="p1")

    result = await (await one_step("trip", body).create_run()).start(input_data=None)
    assert result.status == "tripwire"
    info = result.tripwire
    assert (info.reason, info.retry, info.metadata, info.processor_id) == (
        "blocked",
        True,
        {"why": "pii"},
        "p1",
    )
    assert result.steps["s"].status == "failed"
    assert result.steps["s"].tripwire == info
    assert result.to_dict()["tripwire"] == {
        "reason": "blocked",
        "retry": True,
        "metadata": {"why": "pii"},
        "processorId": "p1",
    }


async def test_tripwire_defaults() -> None:
    async def body(ctx: Any) -> Any:
        raise TripWire("stop")

    result = await (await one_step("trip-defaults", body).create_run()).start(input_data=None)
    info = result.tripwire
    assert (info.reason, info.retry, info.metadata, info.processor_id) == (
        "stop",
        False,
        None,
        None,
    )


async def test_canceled_result_has_nothing_more() -> None:
    entered = asyncio.Event()

    async def hang(ctx: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await one_step("cancel-result", hang).create_run()
    output = run.stream(input_data=None)
    await within(entered.wait())
    await run.cancel()
    result = await within(output.result)
    assert result.status == "canceled"
    wire = result.to_dict()
    assert not {"result", "error", "suspended", "suspendPayload", "tripwire"} & set(wire)


# =============================================================================================
# §9 Errors, retries, bail, tripwire
# =============================================================================================


def test_error_classes_are_public_and_share_one_base() -> None:
    names = [
        "RxflowError",
        "ValidationError",
        "WorkflowDefinitionError",
        "ResumeError",
        "ResumeAlreadyClaimedError",
        "StorageError",
        "NonRetryableError",
        "TripWire",
    ]
    for name in names:
        assert getattr(rxflow, name) is getattr(rxflow.errors, name)
        assert issubclass(getattr(rxflow, name), rxflow.RxflowError)
    assert issubclass(rxflow.ResumeAlreadyClaimedError, rxflow.ResumeError)
    assert list(inspect.signature(TripWire).parameters) == [
        "reason",
        "retry",
        "metadata",
        "processor_id",
    ]


async def test_total_runs_are_attempts_plus_one_without_events_per_attempt() -> None:
    attempts: list[int] = []

    async def flaky(ctx: Any) -> Any:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise RuntimeError("again")
        return "ok"

    wf = one_step("retry", flaky, retry_config=RetryConfig(attempts=2, delay=0))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await within(collect(output))
    assert attempts == [0, 1, 2]
    assert [c.type for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert (await within(output.result)).result == "ok"

    attempts.clear()
    wf = one_step("exhausted", flaky, retry_config=RetryConfig(attempts=1, delay=0))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed" and attempts == [0, 1]


@pytest.mark.parametrize(("step_retries", "expected_calls"), [(None, 4), (1, 2), (0, 1)])
async def test_step_retries_override_the_workflow_attempts(
    step_retries: int | None, expected_calls: int
) -> None:
    calls: list[int] = []

    async def always(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        raise RuntimeError("down")

    wf = one_step(
        "override",
        always,
        retry_config=RetryConfig(attempts=3, delay=0),
        step_options={"retries": step_retries},
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert calls == list(range(expected_calls))


async def test_retry_delay_is_waited_between_attempts() -> None:
    stamps: list[float] = []

    async def flaky(ctx: Any) -> Any:
        stamps.append(time.monotonic())
        if len(stamps) < 3:
            raise RuntimeError("again")
        return None

    wf = one_step("delay", flaky, retry_config=RetryConfig(attempts=2, delay=30))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(gap >= 0.029 for gap in gaps), gaps


async def test_non_retryable_error_stops_at_once() -> None:
    calls: list[int] = []

    async def body(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        raise NonRetryableError("permanent")

    wf = one_step("nonretry", body, retry_config=RetryConfig(attempts=5, delay=0))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert calls == [0]
    assert isinstance(result.error, NonRetryableError)


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


async def test_tripwire_from_a_thread_body_inside_a_block() -> None:
    def body(ctx: Any) -> Any:
        raise TripWire("sync stop")

    wf = (
        create_workflow(id="trip-block")
        .parallel([create_step(id="t", execute=body), create_step(id="ok", execute=inc)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert result.status == "tripwire"
    assert result.tripwire.reason == "sync stop"


async def test_a_condition_that_raises_fails_its_block_with_that_error() -> None:
    raised = LookupError("no such key")

    def cond(ctx: Any) -> bool:
        raise raised

    for build in (
        lambda b: b.branch([(cond, create_step(id="x", execute=inc))]),
        lambda b: b.dowhile(create_step(id="x", execute=inc), cond),
    ):
        wf = build(create_workflow(id="cond")).commit()
        result = await (await wf.create_run()).start(input_data=1)
        assert result.status == "failed"
        assert result.error is raised
        assert result.to_dict()["error"] == {"message": "no such key", "name": "LookupError"}


# =============================================================================================
# §10 Request context
# =============================================================================================


def test_request_context_mapping_api() -> None:
    context = RequestContext({"a": 1})
    assert context.get("a") == 1
    assert context.get("missing") is None
    assert context.get("missing", "dflt") == "dflt"
    assert context.has("a") and not context.has("b")
    context.set("b", {"nested": True})
    assert len(context) == 2
    assert list(context.keys()) == ["a", "b"]
    assert list(context.values()) == [1, {"nested": True}]
    assert list(context.items()) == [("a", 1), ("b", {"nested": True})]
    assert context.to_dict() == {"a": 1, "b": {"nested": True}}
    context.delete("a")
    assert not context.has("a") and len(context) == 1
    context.clear()
    assert len(context) == 0 and context.to_dict() == {}
    assert RequestContext().to_dict() == {}


async def test_the_same_request_context_reaches_every_step_condition_and_nested_workflow() -> None:
    seen: list[Any] = []

    async def writer(ctx: Any) -> Any:
        seen.append(ctx.request_context)
        ctx.request_context.set("written", "by writer")
        return 1

    async def reader(ctx: Any) -> Any:
        seen.append(ctx.request_context)
        return ctx.request_context.get("written")

    def cond(ctx: Any) -> bool:
        seen.append(ctx.request_context)
        return True

    child = create_workflow(id="child-rc").then(create_step(id="inner", execute=reader)).commit()
    wf = (
        create_workflow(id="rc")
        .then(create_step(id="writer", execute=writer))
        .branch([(cond, create_step(id="branch_reader", execute=reader))])
        .then(child)
        .commit()
    )
    mine = RequestContext({"user": "ann"})
    result = await (await wf.create_run()).start(input_data=None, request_context=mine)
    assert result.status == "success"
    assert result.result == "by writer"
    assert len(seen) == 4
    assert all(context is seen[0] for context in seen)
    assert seen[0].get("user") == "ann"


async def test_request_context_is_stored_and_fills_only_missing_keys_on_resume(
    tmp_path: Path,
) -> None:
    async def report(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend(None)
        return ctx.request_context.to_dict()

    def build(storage: Any) -> Any:
        return (
            create_workflow(id="rc-resume", storage=storage)
            .then(create_step(id="report", execute=report))
            .commit()
        )

    first = build(SQLiteStorage(tmp_path / "runs.db"))
    run = await first.create_run(run_id="rc-1")
    await run.start(input_data=None, request_context=RequestContext({"a": "stored", "b": "stored"}))
    snapshot = await first.storage.load_snapshot("rc-resume", "rc-1")
    assert snapshot["requestContext"] == {"a": "stored", "b": "stored"}
    await first.storage.close()

    second = build(SQLiteStorage(tmp_path / "runs.db"))
    attached = await second.create_run(run_id="rc-1")
    result = await attached.resume(resume_data=1, request_context=RequestContext({"a": "caller"}))
    assert result.result == {"a": "caller", "b": "stored"}
    await second.storage.close()


# =============================================================================================
# §11 Usage
# =============================================================================================


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
    assert set(wire) == USAGE_WIRE_KEYS
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


# =============================================================================================
# §12 Tracing (and §16 "Tracing", "Tracing realities")
# =============================================================================================


async def test_span_names_for_every_entry_kind_and_their_parents(
    spans: InMemorySpanExporter,
) -> None:
    wf = (
        create_workflow(id="shapes")
        .then(create_step(id="first", execute=inc))
        .parallel([create_step(id="p1", execute=inc), create_step(id="p2", execute=inc)])
        .map(lambda ctx: 1)
        .branch(
            [
                (lambda ctx: True, create_step(id="b1", execute=inc)),
                (lambda ctx: False, create_step(id="b2", execute=inc)),
                (lambda ctx: True, create_step(id="b3", execute=inc)),
            ]
        )
        .map(lambda ctx: [1, 2, 3])
        .foreach(create_step(id="each", execute=inc), concurrency=2)
        .map(lambda ctx: 0)
        .dowhile(create_step(id="dw", execute=inc), lambda ctx: ctx.input_data < 2)
        .dountil(create_step(id="du", execute=inc), lambda ctx: ctx.input_data >= 4)
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
    await (await one_step("scope", inc).create_run()).start(input_data=1)
    assert {s.instrumentation_scope.name for s in spans.get_finished_spans()} == {"rxflow"}


async def test_result_ids_are_the_run_span_hex_ids(spans: InMemorySpanExporter) -> None:
    result = await (await one_step("ids", inc).create_run(run_id="ids-1")).start(input_data=1)
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
    result = await (await one_step("unsampled", inc).create_run()).start(
        input_data=1, tracing_context=TracingContext(current_span=unsampled)
    )
    assert result.status == "success"
    assert (result.trace_id, result.span_id) == (None, None)
    assert spans.get_finished_spans() == ()


async def test_tracing_context_parents_the_run_span(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("acceptance")
    with tracer.start_as_current_span("caller") as caller:
        pass
    await (await one_step("child-of", inc).create_run()).start(
        input_data=1, tracing_context=TracingContext(current_span=caller)
    )
    root = the(spans, "workflow run: 'child-of'")
    assert root.parent is not None
    assert root.parent.span_id == caller.get_span_context().span_id
    assert root.context.trace_id == caller.get_span_context().trace_id


async def test_trace_id_and_parent_span_id_are_left_padded(spans: InMemorySpanExporter) -> None:
    result = await (await one_step("padded", inc).create_run()).start(
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
    await (await one_step("joined", inc).create_run()).start(
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
    await (await one_step("attrs", inc).create_run()).start(
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


async def test_nested_workflow_in_a_foreach_item_gets_its_run_span_under_the_loop_span(
    spans: InMemorySpanExporter,
) -> None:
    child = create_workflow(id="item-child").then(create_step(id="inner", execute=inc)).commit()
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
    child = create_workflow(id="nested-ids").then(create_step(id="inner", execute=inc)).commit()
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


# =============================================================================================
# §13 Storage and snapshots (and §16 "Storage protocol")
# =============================================================================================

EXPECTED_SIGNATURES = {
    "persist_snapshot": "(self, workflow_id, run_id, snapshot, *, resource_id=None)",
    "load_snapshot": "(self, workflow_id, run_id)",
    "update_status": "(self, workflow_id, run_id, status, *, expected=None)",
    "get_run": "(self, workflow_id, run_id)",
    "list_runs": "(self, workflow_id=None, *, status=None, resource_id=None, limit=100, offset=0)",
    "delete_run": "(self, workflow_id, run_id)",
    "close": "(self)",
}


def _bare_signature(function: Any) -> str:
    signature = inspect.signature(function)
    bare = signature.replace(
        parameters=[
            p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )
    return str(bare)


@pytest.mark.parametrize("cls", [rxflow.Storage, InMemoryStorage, SQLiteStorage])
@pytest.mark.parametrize("method", sorted(EXPECTED_SIGNATURES))
def test_storage_protocol_signatures(cls: Any, method: str) -> None:
    function = getattr(cls, method)
    assert inspect.iscoroutinefunction(function)
    assert _bare_signature(function) == EXPECTED_SIGNATURES[method]


def test_storage_names_are_public() -> None:
    assert rxflow.storage.Storage is rxflow.Storage
    assert rxflow.storage.InMemoryStorage is InMemoryStorage
    assert rxflow.storage.SQLiteStorage is SQLiteStorage
    assert rxflow.storage.RunRecord is RunRecord and rxflow.storage.RunList is RunList
    assert [f.name for f in attrs.fields(RunRecord)] == [
        "workflow_id",
        "run_id",
        "resource_id",
        "status",
        "snapshot",
        "created_at",
        "updated_at",
    ]
    assert RunList(runs=[], total=0).total == 0


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store: Any = (
        InMemoryStorage() if request.param == "memory" else SQLiteStorage(tmp_path / "store.db")
    )
    yield store
    await store.close()


def _snap(run_id: str, status: str) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, "version": 1}


async def test_storage_compare_and_set_and_listing(storage: Any) -> None:
    await storage.persist_snapshot("wf", "a", _snap("a", "suspended"), resource_id="user-1")
    await storage.persist_snapshot("wf", "b", _snap("b", "pending"))
    await storage.persist_snapshot("other", "c", _snap("c", "pending"), resource_id="user-1")

    assert await storage.update_status("wf", "a", "running", expected="pending") is False
    assert (await storage.get_run("wf", "a")).status == "suspended"
    assert await storage.update_status("wf", "a", "running", expected=("pending", "suspended"))
    record = await storage.get_run("wf", "a")
    assert record.status == "running" and record.snapshot["status"] == "running"
    assert (await storage.load_snapshot("wf", "a"))["status"] == "running"
    assert record.resource_id == "user-1"
    assert await storage.update_status("wf", "a", "canceled") is True
    assert await storage.update_status("wf", "missing", "canceled") is False
    assert await storage.update_status("wf", "missing", "canceled", expected="running") is False

    everything = await storage.list_runs()
    assert isinstance(everything, RunList) and everything.total == 3
    assert [r.run_id for r in everything.runs] == ["c", "b", "a"]  # newest first
    assert [r.run_id for r in (await storage.list_runs("wf")).runs] == ["b", "a"]
    assert [r.run_id for r in (await storage.list_runs(resource_id="user-1")).runs] == ["c", "a"]
    assert [r.run_id for r in (await storage.list_runs(status="pending")).runs] == ["c", "b"]
    page = await storage.list_runs(limit=1, offset=1)
    assert ([r.run_id for r in page.runs], page.total) == (["b"], 3)

    assert await storage.delete_run("wf", "b") is True
    assert await storage.delete_run("wf", "b") is False
    assert await storage.get_run("wf", "b") is None
    assert await storage.load_snapshot("wf", "b") is None


async def test_a_run_writes_a_snapshot_with_every_documented_key(storage: Any) -> None:
    async def first(ctx: Any) -> Any:
        ctx.set_state({"n": 1})
        return {"user_key": ctx.input_data}

    wf = (
        create_workflow(id="snap", storage=storage)
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=echo))
        .commit()
    )
    run = await wf.create_run(run_id="s-1", resource_id="owner")
    pending = await storage.get_run("snap", "s-1")
    assert pending.status == "pending" and pending.resource_id == "owner"

    before = now_ms()
    result = await run.start(input_data=5, request_context=RequestContext({"who": "me"}))
    snapshot = await storage.load_snapshot("snap", "s-1")
    assert SNAPSHOT_KEYS <= set(snapshot)
    assert snapshot["runId"] == "s-1"
    assert snapshot["status"] == "success"
    assert snapshot["value"] == {"n": 1}
    assert snapshot["context"]["input"] == 5
    assert snapshot["context"]["first"]["output"] == {"user_key": 5}
    assert snapshot["context"]["second"]["status"] == "success"
    assert snapshot["stepExecutionPath"] == ["first", "second"]
    assert snapshot["result"] == {"user_key": 5}
    assert snapshot["error"] is None
    assert snapshot["requestContext"] == {"who": "me"}
    assert isinstance(snapshot["version"], int)
    assert isinstance(snapshot["timestamp"], int) and snapshot["timestamp"] >= before
    assert isinstance(snapshot["serializedStepGraph"], list)
    json.dumps(snapshot)
    assert result.to_dict()["steps"]["first"] == snapshot["context"]["first"]


async def test_suspended_and_failed_snapshots(storage: Any) -> None:
    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"q": 1}, resume_label="manager")
        raise PaymentDeclined("declined")

    wf = (
        create_workflow(id="snap2", storage=storage)
        .then(create_step(id="approve", execute=approve))
        .commit()
    )
    run = await wf.create_run(run_id="s-2")
    await run.start(input_data=None)
    snapshot = await storage.load_snapshot("snap2", "s-2")
    assert snapshot["status"] == "suspended"
    assert "approve" in snapshot["suspendedPaths"]
    assert "manager" in snapshot["resumeLabels"]
    assert snapshot["context"]["approve"]["suspendPayload"] == {"q": 1}

    result = await run.resume(label="manager", resume_data=1)
    assert result.status == "failed"
    snapshot = await storage.load_snapshot("snap2", "s-2")
    assert snapshot["status"] == "failed"
    assert snapshot["error"] == {"message": "declined", "name": "PaymentDeclined"}
    assert snapshot["suspendedPaths"] == {}


async def test_snapshot_writes_finish_before_result_resolves(storage: Any) -> None:
    wf = (
        create_workflow(id="ordered", storage=storage)
        .then(create_step(id="a", execute=inc))
        .then(create_step(id="b", execute=inc))
        .commit()
    )
    result = await (await wf.create_run(run_id="o-1")).start(input_data=1)
    record = await storage.get_run("ordered", "o-1")
    assert (record.status, record.snapshot["result"]) == ("success", result.result)

    output = (await wf.create_run(run_id="o-2")).stream(input_data=1)
    await within(output.result)
    record = await storage.get_run("ordered", "o-2")
    assert record.status == "success"
    assert record.snapshot["stepExecutionPath"] == ["a", "b"]
    await within(collect(output))


async def _poll_until(predicate: Any, *, limit_s: float = 5.0) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.002)
    raise AssertionError("condition never became true")


async def _progress_seen_while_running(storage: Any) -> list[Any]:
    seen: list[Any] = []

    async def a(ctx: Any) -> Any:
        return "a done"

    async def b(ctx: Any) -> Any:
        async def after_a() -> Any:
            record = await storage.get_run("progress", ctx.run_id)
            return record if "a" in record.snapshot["stepExecutionPath"] else None

        record = await _poll_until(after_a)
        seen.append((record.status, record.snapshot["context"]["a"]["output"]))
        return None

    wf = (
        create_workflow(id="progress", storage=storage)
        .then(create_step(id="a", execute=a))
        .then(create_step(id="b", execute=b))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    return seen


async def test_the_store_holds_progress_after_each_top_level_entry(storage: Any) -> None:
    assert await _progress_seen_while_running(storage) == [("running", "a done")]


async def test_cancel_returns_after_canceled_is_persisted(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "cancel.db")
    entered = asyncio.Event()

    async def hang(ctx: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()

    wf = (
        create_workflow(id="cancel-p", storage=storage)
        .then(create_step(id="hang", execute=hang))
        .commit()
    )
    run = await wf.create_run(run_id="c-1")
    output = run.stream(input_data=None)
    await within(entered.wait())
    await run.cancel()
    assert (await storage.get_run("cancel-p", "c-1")).status == "canceled"
    assert (await within(output.result)).status == "canceled"
    await within(collect(output))

    # a suspended run: cancel persists canceled too; cancel of a finished run is a no-op
    wf2 = (
        create_workflow(id="cancel-s", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    suspended = await wf2.create_run(run_id="c-2")
    await suspended.start(input_data=None)
    await suspended.cancel()
    assert (await storage.get_run("cancel-s", "c-2")).status == "canceled"
    await suspended.cancel()
    assert (await storage.get_run("cancel-s", "c-2")).status == "canceled"
    await storage.close()


async def test_create_run_with_a_live_id_returns_the_same_run() -> None:
    wf = one_step("live", ask)
    run = await wf.create_run(run_id="live-1")
    assert await wf.create_run(run_id="live-1") is run


async def test_resume_from_a_new_run_object_over_a_reopened_sqlite_file(tmp_path: Path) -> None:
    calls: list[str] = []

    async def prepare(ctx: Any) -> Any:
        calls.append("prepare")
        ctx.set_state({"prepared": True})
        return {"doc": ctx.input_data}

    async def review(ctx: Any) -> Any:
        calls.append("review")
        if ctx.resume_data is None:
            return await ctx.suspend({"doc": ctx.input_data["doc"]})
        return {
            "verdict": ctx.resume_data,
            "state": ctx.state,
            "prepared": ctx.get_step_result("prepare"),
            "init": ctx.get_init_data(),
        }

    def build() -> Any:
        return (
            create_workflow(id="review", storage=SQLiteStorage(tmp_path / "runs.db"))
            .then(create_step(id="prepare", execute=prepare))
            .then(create_step(id="review", execute=review))
            .commit()
        )

    first = build()
    run = await first.create_run(run_id="doc-7", resource_id="team-a")
    assert (await run.start(input_data="spec.md")).status == "suspended"
    await first.storage.close()

    second = build()
    attached = await second.create_run(run_id="doc-7")
    assert attached is not run
    assert (attached.run_id, attached.workflow_id) == ("doc-7", "review")
    assert attached.status == "suspended"
    assert attached.resource_id == "team-a"
    result = await attached.resume(resume_data="lgtm")
    assert result.status == "success"
    assert result.result == {
        "verdict": "lgtm",
        "state": {"prepared": True},
        "prepared": {"doc": "spec.md"},
        "init": "spec.md",
    }
    assert calls == ["prepare", "review", "review"]
    assert (await second.storage.get_run("review", "doc-7")).status == "success"
    await second.storage.close()


async def test_concurrent_resumes_through_two_stores_on_one_file_one_wins(
    tmp_path: Path,
) -> None:
    def build() -> Any:
        return (
            create_workflow(id="claim", storage=SQLiteStorage(tmp_path / "claim.db"))
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    origin = build()
    await (await origin.create_run(run_id="cl-1")).start(input_data=None)
    one, two = build(), build()
    run_one = await one.create_run(run_id="cl-1")
    run_two = await two.create_run(run_id="cl-1")
    outcomes = await asyncio.gather(
        run_one.resume(resume_data="a"), run_two.resume(resume_data="b"), return_exceptions=True
    )
    assert sum(isinstance(o, ResumeAlreadyClaimedError) for o in outcomes) == 1
    winners = [o for o in outcomes if isinstance(o, WorkflowResult)]
    assert len(winners) == 1 and winners[0].status == "success"
    for wf in (origin, one, two):
        await wf.storage.close()


async def test_concurrent_resume_of_different_suspended_paths_is_claimed_once() -> None:
    wf = (
        create_workflow(id="two-paths")
        .parallel([create_step(id="x", execute=ask), create_step(id="y", execute=ask)])
        .commit()
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    outcomes = await asyncio.gather(
        run.resume(step="x", resume_data=1),
        run.resume(step="y", resume_data=2),
        return_exceptions=True,
    )
    assert sum(isinstance(o, ResumeAlreadyClaimedError) for o in outcomes) == 1
    winner = next(o for o in outcomes if isinstance(o, WorkflowResult))
    assert winner.status == "suspended" and len(winner.suspended) == 1


async def test_two_restarts_of_a_crashed_run_cannot_both_run_it(tmp_path: Path) -> None:
    dead_calls: list[int] = []
    release_live = asyncio.Event()
    live_entered = asyncio.Event()
    release_dead = asyncio.Event()
    dead_entered = asyncio.Event()
    dead_entered_again = asyncio.Event()

    async def a(ctx: Any) -> Any:
        if ctx.run_id != "live":
            dead_calls.append(0)
        return ctx.input_data + 1

    async def b(ctx: Any) -> Any:
        if ctx.run_id == "live":
            live_entered.set()
            await release_live.wait()
        else:
            dead_calls.append(1)
            (dead_entered_again if dead_entered.is_set() else dead_entered).set()
            await release_dead.wait()
        return ctx.input_data * 10

    def build() -> Any:
        return (
            create_workflow(id="crash", storage=SQLiteStorage(tmp_path / "crash.db"))
            .then(create_step(id="a", execute=a))
            .then(create_step(id="b", execute=b))
            .commit()
        )

    live = build()
    output = (await live.create_run(run_id="live")).stream(input_data=1)
    await within(live_entered.wait())

    async def progress() -> Any:
        snapshot = await live.storage.load_snapshot("crash", "live")
        return snapshot if "a" in snapshot["stepExecutionPath"] else None

    snapshot = await _poll_until(progress)
    assert snapshot["status"] == "running"
    # a copy of the live run's stored progress stands for a run whose process died
    await live.storage.persist_snapshot("crash", "dead", {**snapshot, "runId": "dead"})

    one, two = build(), build()
    run_one = await one.create_run(run_id="dead")
    run_two = await two.create_run(run_id="dead")
    assert run_one.status == run_two.status == "running"
    first = asyncio.ensure_future(run_one.restart())
    await within(dead_entered.wait())  # the first restart holds the run, inside step b

    async def stored_running() -> Any:
        return (await one.storage.get_run("crash", "dead")).status == "running"

    # let the first restart's own progress writes land (they may set the status to 'running')
    try:
        await _poll_until(stored_running, limit_s=2)
    except AssertionError:
        pass
    second = asyncio.ensure_future(run_two.restart())
    again = asyncio.ensure_future(dead_entered_again.wait())
    await within(asyncio.wait([second, again], return_when=asyncio.FIRST_COMPLETED))
    again.cancel()
    release_dead.set()
    outcomes = await within(asyncio.gather(first, second, return_exceptions=True))
    release_live.set()
    assert (await within(output.result)).status == "success"
    await within(collect(output))
    for wf in (live, one, two):
        await wf.storage.close()

    assert isinstance(outcomes[0], WorkflowResult)
    assert (outcomes[0].status, outcomes[0].result) == ("success", 20)
    assert isinstance(outcomes[1], RxflowError)
    assert dead_calls == [1]  # 'a' finished before the crash: not run again; 'b' ran once


class DictStorage:
    """A user's own Storage: plain dicts, written only against the documented protocol."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], RunRecord] = {}
        self.calls: list[str] = []
        self.clock = 0

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        self.calls.append(f"persist:{snapshot['status']}")
        stored = json.loads(json.dumps(snapshot))  # must be JSON data
        old = self.rows.get((workflow_id, run_id))
        now = self._tick()
        self.rows[(workflow_id, run_id)] = RunRecord(
            workflow_id,
            run_id,
            resource_id if resource_id is not None else (old.resource_id if old else None),
            snapshot["status"],
            stored,
            old.created_at if old else now,
            now,
        )

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        record = self.rows.get((workflow_id, run_id))
        return json.loads(json.dumps(record.snapshot)) if record else None

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        *,
        expected: str | tuple[str, ...] | None = None,
    ) -> bool:
        self.calls.append(f"update:{status}")
        record = self.rows.get((workflow_id, run_id))
        if record is None:
            return False
        allowed = (expected,) if isinstance(expected, str) else expected
        if allowed is not None and record.status not in allowed:
            return False
        self.rows[(workflow_id, run_id)] = attrs.evolve(
            record,
            status=status,
            snapshot={**record.snapshot, "status": status},
            updated_at=self._tick(),
        )
        return True

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        return self.rows.get((workflow_id, run_id))

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: str | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> RunList:
        runs = [
            r
            for r in sorted(self.rows.values(), key=lambda r: -r.created_at)
            if workflow_id in (None, r.workflow_id)
            and status in (None, r.status)
            and resource_id in (None, r.resource_id)
        ]
        return RunList(runs[offset : offset + limit], len(runs))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        return self.rows.pop((workflow_id, run_id), None) is not None

    async def close(self) -> None:
        self.calls.append("close")


async def test_a_users_own_storage_runs_suspends_and_resumes_from_a_new_run() -> None:
    store = DictStorage()
    calls: list[str] = []

    async def first(ctx: Any) -> Any:
        calls.append("first")
        return ctx.input_data + 1

    def build() -> Any:
        return (
            create_workflow(id="own", storage=store)
            .then(create_step(id="first", execute=first))
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    run = await build().create_run(run_id="own-1", resource_id="r")
    assert store.rows[("own", "own-1")].status == "pending"
    assert (await run.start(input_data=1)).status == "suspended"
    assert store.rows[("own", "own-1")].status == "suspended"

    attached = await build().create_run(run_id="own-1")
    assert attached.status == "suspended"
    result = await attached.resume(resume_data="done")
    assert (result.status, result.result) == ("success", "done")
    assert calls == ["first"]
    record = store.rows[("own", "own-1")]
    assert (record.status, record.resource_id) == ("success", "r")
    assert record.snapshot["result"] == "done"


async def test_an_unsupported_snapshot_version_fails_loudly() -> None:
    storage = InMemoryStorage()
    wf = (
        create_workflow(id="versions", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="v-1")).start(input_data=None)
    stored = await storage.load_snapshot("versions", "v-1")
    await storage.persist_snapshot("versions", "v-2", {**stored, "runId": "v-2", "version": 999})

    fresh = (
        create_workflow(id="versions", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await fresh.create_run(run_id="v-2")
        await run.resume(resume_data=1)


async def test_an_unreadable_sqlite_snapshot_raises_storage_error_when_attaching(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.db"
    storage = SQLiteStorage(path)
    wf = (
        create_workflow(id="unreadable", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="u-1")).start(input_data=None)
    await storage.close()
    with sqlite3.connect(path) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert len(tables) == 1
        conn.execute(f"UPDATE {tables[0]} SET snapshot = '{{broken' WHERE run_id = 'u-1'")
    conn.close()

    reopened = SQLiteStorage(path)
    wf2 = (
        create_workflow(id="unreadable", storage=reopened)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        await reopened.load_snapshot("unreadable", "u-1")
    with pytest.raises(StorageError):
        await wf2.create_run(run_id="u-1")
    await reopened.close()


async def test_a_snapshot_without_a_version_is_a_storage_error() -> None:
    storage = InMemoryStorage()
    await storage.persist_snapshot("no-version", "nv-1", {"runId": "nv-1", "status": "suspended"})
    wf = (
        create_workflow(id="no-version", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await wf.create_run(run_id="nv-1")
        await run.resume(resume_data=1)


async def test_a_malformed_snapshot_is_a_storage_error() -> None:
    storage = InMemoryStorage()
    wf = (
        create_workflow(id="malformed", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="m-1")).start(input_data=None)
    stored = await storage.load_snapshot("malformed", "m-1")
    await storage.persist_snapshot("malformed", "m-2", {**stored, "runId": "m-2", "context": [1]})
    fresh = (
        create_workflow(id="malformed", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await fresh.create_run(run_id="m-2")
        await run.resume(resume_data=1)


# =============================================================================================
# §14 Rx interop (and §16 "Rx interop details")
# =============================================================================================


async def test_output_events_replays_to_late_subscribers_and_completes() -> None:
    wf = (
        create_workflow(id="replay")
        .then(create_step(id="a", execute=inc))
        .then(create_step(id="b", execute=inc))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=1)
    iterated = [c.type for c in await within(collect(output))]
    assert isinstance(output.events, reactivex.Observable)

    first, first_done, _ = observe(output.events)
    second, second_done, _ = observe(output.events)
    await asyncio.wait_for(asyncio.gather(first_done, second_done), 5)
    assert [c.type for c in first] == [c.type for c in second] == iterated
    assert iterated[0] == "workflow-start" and iterated[-1] == "workflow-finish"


async def test_output_events_follows_live_events_and_composes_with_pipe() -> None:
    from reactivex import operators as ops

    gate = asyncio.Event()

    async def waits(ctx: Any) -> Any:
        await gate.wait()
        return ctx.input_data

    wf = create_workflow(id="live-events").then(create_step(id="w", execute=waits)).commit()
    output = (await wf.create_run()).stream(input_data="v")
    items, done, _ = observe(
        output.events.pipe(
            ops.filter(lambda c: c.type == "workflow-step-result"),
            ops.map(lambda c: c.payload.output),
        )
    )
    await settle()
    assert items == [] and not done.done()
    gate.set()
    assert await asyncio.wait_for(done, 5) == ["v"]


async def test_disposing_an_events_subscription_never_cancels_the_run() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def waits(ctx: Any) -> Any:
        entered.set()
        await gate.wait()
        return "finished"

    wf = one_step("keep-running", waits)
    output = (await wf.create_run()).stream(input_data=None)
    _, _, subscription = observe(output.events)
    await within(entered.wait())
    subscription.dispose()
    gate.set()
    result = await within(output.result)
    assert (result.status, result.result) == ("success", "finished")


async def test_run_workflow_gives_a_result_for_every_status_and_start_errors_to_on_error() -> None:
    async def route(ctx: Any) -> Any:
        if ctx.input_data == "ask":
            return await ctx.suspend(None)
        if ctx.input_data == "boom":
            raise RuntimeError("boom")
        if ctx.input_data == "trip":
            raise TripWire("trip")
        return ctx.input_data.upper()

    wf = one_step("router", route, input_schema=str)
    items, done, _ = observe(
        reactivex.from_iterable(["ok", "ask", "boom", "trip"]).pipe(run_workflow(wf, concurrency=4))
    )
    results = await asyncio.wait_for(done, 5)
    assert all(isinstance(r, WorkflowResult) for r in results)
    assert sorted((r.input, r.status) for r in results) == [
        ("ask", "suspended"),
        ("boom", "failed"),
        ("ok", "success"),
        ("trip", "tripwire"),
    ]

    items, done, _ = observe(reactivex.from_iterable(["fine", 5]).pipe(run_workflow(wf)))
    with pytest.raises(ValidationError):
        await asyncio.wait_for(done, 5)
    assert [r.result for r in items] == ["FINE"]


async def test_run_workflow_emits_in_completion_order() -> None:
    gates = {name: asyncio.Event() for name in ("slow", "fast")}

    async def body(ctx: Any) -> Any:
        await gates[ctx.input_data].wait()
        return ctx.input_data

    wf = one_step("completion", body)
    items, done, _ = observe(
        reactivex.from_iterable(["slow", "fast"]).pipe(run_workflow(wf, concurrency=2))
    )
    await settle()
    gates["fast"].set()
    while not items:
        await asyncio.sleep(0)
    gates["slow"].set()
    results = await asyncio.wait_for(done, 5)
    assert [r.result for r in results] == ["fast", "slow"]


async def test_stream_workflow_merges_each_runs_events() -> None:
    wf = one_step("merged", inc)
    items, done, _ = observe(
        reactivex.from_iterable([1, 2, 3]).pipe(stream_workflow(wf, concurrency=2))
    )
    events = await asyncio.wait_for(done, 5)
    by_run: dict[str, list[str]] = {}
    for chunk in events:
        by_run.setdefault(chunk.run_id, []).append(chunk.type)
    assert len(by_run) == 3
    for types in by_run.values():
        assert types == [
            "workflow-start",
            "workflow-step-start",
            "workflow-step-result",
            "workflow-finish",
        ]


async def test_disposing_stream_workflow_cancels_the_runs_it_started() -> None:
    storage = InMemoryStorage()
    entered = asyncio.Event()
    canceled = asyncio.Event()

    async def hang(ctx: Any) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            canceled.set()
            raise

    wf = one_step("dispose-stream", hang, storage=storage)
    _, _, subscription = observe(reactivex.from_iterable([1]).pipe(stream_workflow(wf)))
    await asyncio.wait_for(entered.wait(), 5)
    subscription.dispose()
    await asyncio.wait_for(canceled.wait(), 5)

    async def stored_canceled() -> Any:
        runs = (await storage.list_runs("dispose-stream")).runs
        return runs and runs[0].status == "canceled"

    await _poll_until(stored_canceled)


@pytest.mark.parametrize("factory", [run_workflow, stream_workflow])
def test_subscribing_without_a_running_loop_raises(factory: Any) -> None:
    wf = one_step("no-loop", inc)
    with pytest.raises(Exception):  # noqa: B017 - SPEC only says it raises
        reactivex.from_iterable([1]).pipe(factory(wf)).subscribe(on_next=lambda _: None)


async def test_step_as_operator_outputs_errors_and_fresh_contexts() -> None:
    run_ids: list[str] = []

    async def body(ctx: Any) -> Any:
        run_ids.append(ctx.run_id)
        if ctx.input_data == "bad":
            raise PaymentDeclined("no")
        return ctx.input_data * 2

    step = create_step(id="twice", execute=body)
    assert isinstance(step, Step)
    items, done, _ = observe(reactivex.from_iterable([1, 2, 3]).pipe(step.as_operator()))
    assert await asyncio.wait_for(done, 5) == [2, 4, 6]
    assert len(set(run_ids)) == 3

    items, done, _ = observe(reactivex.from_iterable([1, "bad", 3]).pipe(step.as_operator()))
    with pytest.raises(PaymentDeclined):
        await asyncio.wait_for(done, 5)
    assert items == [2]


async def test_step_as_operator_suspend_is_an_rxflow_error() -> None:
    step = create_step(id="pauses", execute=ask)
    items, done, _ = observe(reactivex.from_iterable([1]).pipe(step.as_operator()))
    with pytest.raises(RxflowError):
        await asyncio.wait_for(done, 5)
    assert items == []


# =============================================================================================
# §16 Engine realities
# =============================================================================================


async def test_a_thousand_step_chain_runs_at_the_default_recursion_limit() -> None:
    builder = create_workflow(id="long")
    for index in range(1000):
        builder = builder.then(create_step(id=f"s{index}", execute=inc))
    wf = builder.commit()
    result = await (await wf.create_run()).start(input_data=0)
    assert (result.status, result.result) == ("success", 1000)
    output = (await wf.create_run()).stream(input_data=0)
    chunks = await within(collect(output))
    assert len(chunks) == 2 + 2 * 1000
    assert (await within(output.result)).result == 1000


async def test_a_thread_body_result_is_discarded_on_cancel() -> None:
    started = threading.Event()
    release = threading.Event()
    ran_after: list[str] = []

    def crunch(ctx: Any) -> Any:
        started.set()
        release.wait(10)
        return "thread result"

    async def after(ctx: Any) -> Any:
        ran_after.append("after")
        return None

    wf = (
        create_workflow(id="thread-cancel")
        .then(create_step(id="crunch", execute=crunch))
        .then(create_step(id="after", execute=after))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    assert await asyncio.to_thread(started.wait, 10)
    await run.cancel()
    release.set()
    result = await within(output.result)
    await within(collect(output))
    assert result.status == "canceled"
    assert result.steps["crunch"].status == "canceled"
    assert result.steps["crunch"].output is None
    assert ran_after == []


async def test_cancelling_a_suspended_run_ends_a_kept_open_output() -> None:
    wf = one_step("kept-open", ask)
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    async with asyncio.timeout(10):
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                await run.cancel()
    assert seen[-2:] == ["workflow-canceled", "workflow-finish"]
    assert output.status == "canceled"
    assert (await within(output.result)).status == "canceled"
