"""rxflow.events.from_dict reads back every wire dict a run writes, and hand-made ones."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
from _steps import asker, const, inc, wf_of
from conftest import GUARD, collect

from rxflow import StepContext, TripWire, create_step, create_workflow
from rxflow.events import CustomChunk, from_dict

# --- the wire of real runs --------------------------------------------------------------------


def sample_workflows() -> list[tuple[Any, Any, dict[str, Any]]]:
    """A spread of runs touching every event type, for round-trip checks."""

    async def writes(ctx: StepContext) -> Any:
        await ctx.writer.write({"k": [1, 2]})
        await ctx.writer.custom({"type": "data-note", "data": {"n": 1}, "id": "x1"})
        ctx.record_usage(1, 2, reasoning_tokens=1)
        return {"out": ctx.input_data}

    async def boom(ctx: StepContext) -> Any:
        raise ValueError("nope")

    async def trip(ctx: StepContext) -> Any:
        raise TripWire("stop", metadata={"a": 1})

    async def bail(ctx: StepContext) -> Any:
        return ctx.bail([1, None])

    def item(ctx: StepContext) -> Any:
        if ctx.input_data == 2:
            raise ValueError("bad item")
        return ctx.input_data

    child = wf_of(inc("in"), wid="rtchild")
    return [
        (
            create_workflow(id="rt1")
            .then(create_step(id="w", execute=writes))
            .parallel([const("p1", None), const("p2", {"a": 1})])
            .branch([(lambda c: True, const("b1", 1))])
            .sleep(1)
            .map(lambda c: 1)
            .dowhile(inc("loop"), lambda c: c.input_data < 3)
            .then(child)
            .then(asker("ask"))
            .commit(),
            1,
            {"resume_data": {"x": None}},
        ),
        (wf_of(create_step(id="boom", execute=boom), wid="rt2"), None, {}),
        (wf_of(create_step(id="trip", execute=trip), wid="rt3"), None, {}),
        (wf_of(create_step(id="bail", execute=bail), wid="rt4"), None, {}),
        (
            create_workflow(id="rt5").foreach(create_step(id="it", execute=item)).commit(),
            [1, 2, 3],
            {},
        ),
        (wf_of(const("a", 1), wid="rt6", input_schema=int), "not an int", {}),
    ]


async def test_from_dict_round_trips_every_wire_dict() -> None:
    seen_types: set[str] = set()
    for wf, input_data, resume in sample_workflows():
        run = await wf.create_run()
        outputs = [run.stream(input_data=input_data)]
        await collect(outputs[0])
        if resume:
            outputs.append(run.resume_stream(**resume))
        for output in outputs:
            for chunk in await collect(output):
                d = chunk.to_dict()
                seen_types.add(d["type"])
                back = from_dict(d)
                assert back.to_dict() == d, d
                assert back.type == chunk.type
    assert {
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-progress",
        "workflow-step-result",
        "workflow-step-suspended",
        "workflow-step-waiting",
        "workflow-finish",
        "data-note",
    } <= seen_types


async def test_from_dict_round_trips_canceled_and_watch_events() -> None:
    entered = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await wf_of(inc("a"), create_step(id="blk", execute=body), wid="rtc").create_run()
    watched: list[Any] = []
    run.watch(watched.append)
    output = run.stream(input_data=0)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    for chunk in await collect(output) + watched:
        d = chunk.to_dict()
        assert from_dict(d).to_dict() == d, d


async def test_from_dict_gives_plain_data_for_user_values() -> None:
    @attrs.frozen
    class Point:
        x: int
        y: int

    async def body(ctx: StepContext) -> Any:
        return Point(1, 2)

    wf = wf_of(create_step(id="p", execute=body, output_schema=Point), wid="plain")
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=None))
    result_chunk = [c for c in chunks if c.type == "workflow-step-result"][0]
    d = result_chunk.to_dict()
    assert d["payload"]["output"] == {"x": 1, "y": 2}
    back = from_dict(d)
    assert back.payload.output == {"x": 1, "y": 2}
    assert back.to_dict() == d


async def test_from_dict_error_is_message_name_dict() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("bad")

    chunks = await collect(
        (await wf_of(create_step(id="b", execute=boom)).create_run()).stream(input_data=None)
    )
    d = [c for c in chunks if c.type == "workflow-step-result"][0].to_dict()
    back = from_dict(d)
    assert back.payload.error == {"message": "bad", "name": "ValueError"}


def test_from_dict_reads_custom_chunk_for_any_data_type() -> None:
    d = {"type": "data-anything", "runId": "r", "from": "USER", "data": [1, 2], "x": {"y": 1}}
    chunk = from_dict(d)
    assert isinstance(chunk, CustomChunk)
    assert chunk.type == "data-anything"
    assert chunk.run_id == "r"
    assert chunk.data == [1, 2]
    assert chunk.to_dict() == d


# --- hand-made wire dicts ---------------------------------------------------------------------


U3 = {
    "inputTokens": 1,
    "outputTokens": 2,
    "totalTokens": 3,
    "reasoningTokens": 0,
    "cachedInputTokens": 0,
    "cacheCreationInputTokens": 0,
}


def _env(kind: str, payload: dict[str, Any], origin: str = "WORKFLOW") -> dict[str, Any]:
    return {"type": kind, "runId": "r", "from": origin, "payload": payload}


HAND_MADE_WIRE = [
    _env("workflow-start", {"workflowId": "w"}),
    _env(
        "workflow-step-start",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "running",
            "payload": {"someKey": {"nested_key": [1]}},
            "startedAt": 1,
            "metadata": {"iterationCount": 3},
        },
    ),
    _env("workflow-step-output", {"stepName": "a", "runId": "r", "output": None}, "USER"),
    _env(
        "workflow-step-progress",
        {
            "id": "a",
            "stepName": "a",
            "completedCount": 1,
            "totalCount": 2,
            "currentIndex": 1,
            "iterationStatus": "success",
            "iterationOutput": None,
        },
    ),
    _env(
        "workflow-step-progress",
        {
            "id": "a",
            "stepName": "a",
            "completedCount": 1,
            "totalCount": 2,
            "currentIndex": 0,
            "iterationStatus": "suspended",
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "failed",
            "payload": {"x": 1},
            "startedAt": 1,
            "endedAt": 2,
            "error": {"message": "m", "name": "Error", "stack": "Error: m\n  at x"},
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "success",
            "payload": None,
            "startedAt": 1,
            "endedAt": 2,
            "output": {"a": 1},
            "resumePayload": None,
            "resumedAt": 5,
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "fe",
            "stepName": "fe",
            "status": "failed",
            "endedAt": 2,
            "error": {"message": "m", "name": "Error"},
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "bailed",
            "payload": None,
            "startedAt": 1,
            "endedAt": 2,
            "output": None,
        },
    ),
    _env(
        "workflow-step-suspended",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "suspended",
            "payload": None,
            "startedAt": 1,
            "suspendPayload": None,
            "suspendedAt": 2,
        },
    ),
    _env(
        "workflow-step-waiting",
        {"id": "s", "stepName": "s", "payload": None, "startedAt": 1, "status": "waiting"},
    ),
    _env("workflow-canceled", {}),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "failed",
            "output": {"usage": U3},
            "metadata": {
                "error": {"message": "m", "name": "Error", "stack": "s"},
                "errorMessage": "m",
            },
        },
    ),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "success",
            "output": {"usage": U3},
            "metadata": {},
            "finalWorkflowResult": None,
        },
    ),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "tripwire",
            "output": {"usage": U3},
            "metadata": {},
            "tripwire": {"reason": "x", "retry": False, "metadata": None, "processorId": None},
        },
    ),
    {"type": "data-x", "runId": "r", "from": "USER", "data": None},
    {"type": "data-x", "runId": "r", "from": "USER", "data": {"a": 1}, "id": "i", "extra": True},
]


@pytest.mark.parametrize("d", HAND_MADE_WIRE, ids=lambda d: d["type"])
def test_from_dict_round_trips_hand_made_wire_dicts(d: dict[str, Any]) -> None:
    assert from_dict(d).to_dict() == d
