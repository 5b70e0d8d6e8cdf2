"""Runs: create_run, start and stream, the run's keyword names and ids."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from _steps import ask, const, one_step, wf_of
from conftest import GUARD, within

import rxflow
from rxflow import StepContext, create_step
from rxflow.events import STEP_START_RECORD
from rxflow.run.bus import EventBus

STEP_RECORD = (STEP_START_RECORD, "r1", "s", "call-1", 1, 1_700_000_000_000, None, None, None)

# --- names and ids ----------------------------------------------------------------------------


def test_run_method_keyword_names() -> None:
    def names(fn: Any) -> set[str]:
        return set(inspect.signature(fn).parameters)

    assert {"run_id", "resource_id"} <= names(rxflow.Workflow.create_run)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
    } <= names(rxflow.Run.start)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
        "close_on_suspend",
        "history_limit",
    } <= names(rxflow.Run.stream)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
    } <= names(rxflow.Run.resume)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
        "history_limit",
    } <= names(rxflow.Run.resume_stream)
    assert inspect.signature(rxflow.Run.stream).parameters["close_on_suspend"].default is True
    for name in ("cancel", "observe_stream", "watch", "restart"):
        assert callable(getattr(rxflow.Run, name))


async def test_run_has_run_id_workflow_id_resource_id() -> None:
    wf = wf_of(const("a", 1), wid="ids")
    run = await wf.create_run(run_id="r-ids", resource_id="user-1")
    assert run.run_id == "r-ids"
    assert run.workflow_id == "ids"
    assert run.resource_id == "user-1"
    anon = await wf.create_run()
    assert isinstance(anon.run_id, str) and anon.run_id
    assert anon.resource_id is None


# --- create_run -------------------------------------------------------------------------------


async def test_create_run_with_live_id_returns_same_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    wf = wf_of(create_step(id="s", execute=body))
    run = await wf.create_run(run_id="live-1")
    output = run.stream(input_data=None)
    again = await wf.create_run(run_id="live-1")
    assert again is run
    gate.set()
    assert (await output.result).status == "success"


async def test_create_run_with_a_live_id_returns_the_same_run() -> None:
    wf = one_step("live", ask)
    run = await wf.create_run(run_id="live-1")
    assert await wf.create_run(run_id="live-1") is run


# --- stream -----------------------------------------------------------------------------------


async def test_stream_starts_eagerly_and_returns_same_output_twice() -> None:
    ran = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        ran.set()
        return 1

    run = await wf_of(create_step(id="s", execute=body)).create_run()
    output = run.stream(input_data=None)
    assert output.status == "running"
    await asyncio.wait_for(ran.wait(), GUARD)  # nobody has read the output yet
    assert run.stream(input_data=None) is output
    assert (await output.result).status == "success"


# --- wrong arguments raise at the call, naming the parameter ---------------------------------


async def test_create_run_rejects_ids_that_are_not_strings() -> None:
    wf = wf_of(const("a", 1), wid="keys")
    with pytest.raises(TypeError) as raised:
        await wf.create_run(run_id=123)
    assert str(raised.value) == "run_id must be a string, got 123"
    with pytest.raises(TypeError) as raised:
        await wf.create_run(resource_id=5)
    assert str(raised.value) == "resource_id must be a string, got 5"
    with pytest.raises(TypeError) as raised:
        await wf.create_run(run_id=["r"])  # unhashable: still named
    assert str(raised.value) == "run_id must be a string, got ['r']"
    assert (await wf.storage.list_runs("keys")).total == 0  # nothing was stored


START_OPTIONS = [
    ({"close_on_suspend": "no"}, TypeError, "close_on_suspend must be a bool, got 'no'"),
    ({"close_on_suspend": 1}, TypeError, "close_on_suspend must be a bool, got 1"),
    ({"initial_state": 5}, TypeError, "initial_state must be a mapping, got 5"),
    (
        {"request_context": "ctx"},
        TypeError,
        "request_context must be a RequestContext or a mapping, got 'ctx'",
    ),
    ({"tracing_context": {}}, TypeError, "tracing_context must be a TracingContext, got {}"),
    ({"tracing_options": "x"}, TypeError, "tracing_options must be a TracingOptions, got 'x'"),
    ({"history_limit": 0}, ValueError, "history_limit must be None or an int >= 1, got 0"),
]


@pytest.mark.parametrize(("options", "error", "message"), START_OPTIONS)
async def test_stream_rejects_a_wrong_option_before_anything_starts(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    run = await wf_of(const("a", 1), wid="opts").create_run()
    with pytest.raises(error) as raised:
        run.stream(input_data=None, **options)
    assert str(raised.value) == message
    assert run.status == "pending"
    output = run.stream(input_data=None)  # the run was left as it was: it still starts
    assert (await within(output.result)).result == 1


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [case for case in START_OPTIONS if set(case[0]) <= {"initial_state", "request_context"}]
    + [case for case in START_OPTIONS if "tracing" in next(iter(case[0]))],
)
async def test_start_rejects_a_wrong_option_before_anything_starts(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    run = await wf_of(const("a", 1), wid="opts").create_run()
    with pytest.raises(error) as raised:
        await run.start(input_data=None, **options)
    assert str(raised.value) == message
    assert run.status == "pending"
    assert (await run.start(input_data=None)).result == 1


RESUME_OPTIONS = [
    ({"label": 3}, TypeError, "label must be a string, got 3"),
    ({"for_each_index": -1}, TypeError, "for_each_index must be an int >= 0, got -1"),
    ({"for_each_index": True}, TypeError, "for_each_index must be an int >= 0, got True"),
    ({"step": 42}, TypeError, "step must be a Step, a step id or a list of those, got 42"),
    (
        {"request_context": 1},
        TypeError,
        "request_context must be a RequestContext or a mapping, got 1",
    ),
    ({"tracing_options": {}}, TypeError, "tracing_options must be a TracingOptions, got {}"),
]


@pytest.mark.parametrize(("options", "error", "message"), RESUME_OPTIONS)
async def test_resume_and_resume_stream_reject_a_wrong_option_at_the_call(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    run = await one_step("ropts", ask).create_run()
    assert (await run.start(input_data="q")).status == "suspended"
    with pytest.raises(error) as raised:
        await run.resume(resume_data="a", **options)
    assert str(raised.value) == message
    with pytest.raises(error) as raised:
        run.resume_stream(resume_data="a", **options)
    assert str(raised.value) == message
    with pytest.raises(ValueError) as limit:
        run.resume_stream(resume_data="a", history_limit=-2)
    assert str(limit.value) == "history_limit must be None or an int >= 1, got -2"
    assert run.status == "suspended"  # still resumable
    result = await run.resume(resume_data="a")
    assert (result.status, result.result) == ("success", "a")


# --- the event bus ------------------------------------------------------------------------------


async def test_the_bus_is_a_hot_stream_for_rx_subscribers() -> None:
    bus = EventBus()
    seen: list[Any] = []
    bus.on_next("before")  # nobody listens yet: nobody gets it later either
    subscription = bus.observable().subscribe(on_next=seen.append)
    bus.on_next("one")
    bus.on_record(STEP_RECORD)  # an object-only listener gets the record built into its event
    subscription.dispose()
    bus.on_next("after")
    assert seen[0] == "one"
    assert seen[1].type == "workflow-step-start" and len(seen) == 2


async def test_the_bus_hands_records_to_record_sinks_as_they_are() -> None:
    bus = EventBus()
    records: list[Any] = []
    events: list[Any] = []
    detach = bus.attach(events.append, records.append)
    bus.on_record(STEP_RECORD)
    assert records == [STEP_RECORD] and events == []
    watcher: list[Any] = []
    stop = bus.attach(watcher.append)  # one listener wants objects: everyone gets the event
    bus.on_record(STEP_RECORD)
    assert len(records) == 1 and [e.type for e in events] == ["workflow-step-start"]
    assert watcher == events
    stop()
    bus.on_record(STEP_RECORD)
    assert records == [STEP_RECORD, STEP_RECORD]
    detach()
    bus.on_next("gone")
    assert "gone" not in events
