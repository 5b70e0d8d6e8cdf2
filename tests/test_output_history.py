"""How an output keeps its history: step starts and results stay compact records until read,
every reader and subscriber still sees the same, complete event objects."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import reactivex
from _steps import asker, inc, wf_of
from conftest import collect, types, wait_until, wire

from rxflow import StepContext, create_step, create_workflow
from rxflow.engine.operator import coroutine_observable
from rxflow.events import (
    STEP_RESULT_RECORD,
    STEP_START_RECORD,
    StepResultPayload,
    StepStartPayload,
    WorkflowStepResult,
    WorkflowStepStart,
    build_event,
)

CHAIN = [
    "workflow-start",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-finish",
]


async def _inc(ctx: StepContext) -> Any:
    return ctx.input_data + 1


def _chain() -> Any:
    return (
        create_workflow(id="hist")
        .then(create_step(id="a", execute=_inc))
        .then(create_step(id="b", execute=_inc))
        .commit()
    )


def kinds(chunks: list[Any]) -> list[str]:
    return [chunk.type for chunk in chunks]


def _live(cls: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def test_build_event_gives_the_events_the_records_stand_for() -> None:
    start = build_event((STEP_START_RECORD, "r1", "a", "call-1", 5, 100, None, None, None))
    assert start == WorkflowStepStart("r1", StepStartPayload("a", "a", "call-1", 5, 100))
    assert start.to_dict() == {
        "type": "workflow-step-start",
        "runId": "r1",
        "from": "WORKFLOW",
        "payload": {
            "id": "a",
            "stepName": "a",
            "stepCallId": "call-1",
            "status": "running",
            "payload": 5,
            "startedAt": 100,
        },
    }
    result = build_event(
        (
            STEP_RESULT_RECORD,
            "r1",
            "a",
            "c",
            "success",
            5,
            100,
            101,
            6,
            None,
            None,
            None,
            None,
            None,
        )
    )
    assert result == WorkflowStepResult(
        "r1", StepResultPayload("a", "a", "c", "success", 5, 100, 101, output=6)
    )


async def test_unread_step_events_are_not_objects_until_read() -> None:
    wf = _chain()
    output = (await wf.create_run()).stream(input_data=1)
    assert (await output.result).result == 3
    gc.collect()
    # The run has ended; nobody has read its step events yet: none was built.
    assert _live(WorkflowStepStart) == 0 and _live(WorkflowStepResult) == 0
    first = [chunk async for chunk in output.full_stream]
    second = [chunk async for chunk in output.full_stream]
    assert kinds(first) == CHAIN
    # Built once, on first read: every later reader gets the very same objects.
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert first[1].payload.payload == 1 and first[2].payload.output == 2
    assert first[4].payload.id == "b" and first[4].payload.output == 3


async def test_subscribers_and_watchers_get_event_objects_live() -> None:
    wf = _chain()
    run = await wf.create_run()
    watched: list[Any] = []
    run.watch(watched.append)
    output = run.stream(input_data=1)
    live: list[Any] = []
    output.events.subscribe(on_next=live.append)
    await output.result
    read = [chunk async for chunk in output]
    assert kinds(read) == CHAIN and kinds(live) == CHAIN
    assert all(a is b for a, b in zip(read, live, strict=True))
    assert [c.type for c in watched if c.type != "workflow-step-finish"] == CHAIN[1:-1]
    assert all(type(c) is not tuple for c in watched)


async def test_a_reader_waiting_when_records_arrive_gets_objects() -> None:
    gate = asyncio.Event()

    async def wait(ctx: StepContext) -> Any:
        await gate.wait()
        return ctx.input_data

    wf = create_workflow(id="waiting").then(create_step(id="w", execute=wait)).commit()
    output = (await wf.create_run()).stream(input_data=7)
    seen: list[Any] = []

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk)
            if chunk.type == "workflow-step-start":
                gate.set()

    await asyncio.wait_for(read(), 10)
    assert kinds(seen) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert seen[2].payload.output == 7 and isinstance(seen[2].payload, StepResultPayload)


async def test_history_limit_still_applies_to_records() -> None:
    wf = _chain()
    output = (await wf.create_run()).stream(input_data=1, history_limit=2)
    await output.result
    late = [chunk async for chunk in output.full_stream]
    assert kinds(late) == ["workflow-step-result", "workflow-finish"]
    assert late[0].payload.output == 3


async def test_coroutine_observable_reports_value_error_and_stays_quiet_once_disposed() -> None:
    async def value(x: int) -> int:
        return x * 2

    async def boom() -> int:
        raise ValueError("no")

    got: list[Any] = []
    done = asyncio.Event()
    coroutine_observable(value, 21).subscribe(
        on_next=got.append, on_completed=lambda: (got.append("done"), done.set())
    )
    await asyncio.wait_for(done.wait(), 10)
    assert got == [42, "done"]

    errors: list[BaseException] = []
    failed = asyncio.Event()
    coroutine_observable(boom).subscribe(on_error=lambda e: (errors.append(e), failed.set()))
    await asyncio.wait_for(failed.wait(), 10)
    assert [type(e) for e in errors] == [ValueError]

    quiet: list[Any] = []
    subscription = coroutine_observable(value, 1).subscribe(
        on_next=quiet.append, on_error=quiet.append, on_completed=lambda: quiet.append("done")
    )
    subscription.dispose()  # before the task ever ran
    for _ in range(5):
        await asyncio.sleep(0)
    assert quiet == []
    assert isinstance(coroutine_observable(value, 1), reactivex.Observable)


# --- history_limit ----------------------------------------------------------------------------


async def test_history_limit_bounds_replay_but_live_subscribers_lose_nothing() -> None:
    gate = asyncio.Event()

    async def first(ctx: StepContext) -> Any:
        await gate.wait()
        return 0

    steps = [create_step(id="first", execute=first)] + [inc(f"s{i}") for i in range(5)]
    run = await wf_of(*steps, wid="hist").create_run()
    output = run.stream(input_data=None, history_limit=3)
    live: list[dict[str, Any]] = []
    output.events.subscribe(on_next=lambda c: live.append(c.to_dict()))
    gate.set()
    await output.result
    await output.usage
    late = wire(await collect(output))
    assert len(live) == 1 + 2 * 6 + 1
    assert live[0]["type"] == "workflow-start"
    assert len(late) == 3
    assert late == live[-3:]
    assert late[-1]["type"] == "workflow-finish"
    replay = [c.to_dict() async for c in output.full_stream]
    assert replay == live[-3:]


async def test_resume_stream_history_limit() -> None:
    run = await wf_of(asker("ask"), inc("a"), inc("b"), wid="histres").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1, history_limit=2)
    await output.result
    await output.usage
    late = await collect(output)
    assert types(late) == ["workflow-step-result", "workflow-finish"]


async def test_kept_open_output_history_limit_across_resume() -> None:
    run = await wf_of(asker("ask"), inc("a"), inc("b"), wid="histkept").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False, history_limit=2)
    live: list[str] = []
    kept.events.subscribe(on_next=lambda c: live.append(c.type))
    await wait_until(lambda: run.status == "suspended")
    await run.resume(resume_data=1)
    await kept.result
    await kept.usage
    late = await collect(kept)
    assert types(late) == ["workflow-step-result", "workflow-finish"]
    assert live[0] == "workflow-start" and live[-1] == "workflow-finish"
    assert live.count("workflow-step-result") == 3
