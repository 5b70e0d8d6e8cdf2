"""observe_stream and watch: following a run's events from another reader."""

from __future__ import annotations

import asyncio
from typing import Any

from _steps import asker, inc, wf_of
from conftest import collect, types, wait_until, wire

from rxflow import StepContext, create_step

# --- observe_stream ---------------------------------------------------------------------------


async def test_observe_stream_replays_latest_segment() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="obs").create_run()
    first = run.stream(input_data=None)
    first_chunks = await collect(first)
    observed = await collect(run.observe_stream())
    assert wire(observed) == wire(first_chunks)
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    observed2 = await collect(run.observe_stream())
    assert wire(observed2) == wire(second_chunks)


async def test_observe_stream_follows_live_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    run = await wf_of(create_step(id="s", execute=body), wid="obslive").create_run()
    output = run.stream(input_data=None)
    observer = asyncio.create_task(collect(run.observe_stream()))
    await asyncio.sleep(0)
    gate.set()
    observed = await observer
    assert wire(observed) == wire(await collect(output))


async def test_observe_stream_after_kept_open_then_resume_stream() -> None:
    run = await wf_of(asker("ask"), wid="obskept").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    observed = await collect(run.observe_stream())
    assert wire(observed) == wire(second_chunks)
    await collect(kept)


# --- watch ------------------------------------------------------------------------------------


async def test_watch_gets_raw_events_including_step_finish_and_unsubscribes() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="watch").create_run()
    got: list[Any] = []
    unsubscribe = run.watch(got.append)
    assert callable(unsubscribe)
    await collect(run.stream(input_data=None))
    kinds = [c.type for c in got]
    assert "workflow-step-start" in kinds
    assert "workflow-step-suspended" in kinds
    unsubscribe()
    count = len(got)
    await collect(run.resume_stream(resume_data=1))
    assert len(got) == count


async def test_watch_sees_step_finish_after_result() -> None:
    run = await wf_of(inc("a"), inc("b"), wid="watch2").create_run()
    got: list[Any] = []
    run.watch(got.append)
    chunks = await collect(run.stream(input_data=0))
    kinds = [c.type for c in got]
    assert kinds.count("workflow-step-finish") == 2
    assert "workflow-step-finish" not in types(chunks)
    for i, kind in enumerate(kinds):
        if kind == "workflow-step-finish":
            assert kinds[i - 1] == "workflow-step-result"


async def test_watch_delivers_engine_events_only() -> None:
    # rxflow's choice (SPEC: "raw events, including workflow-step-finish"): workflow-start and
    # workflow-finish are synthesized by each output, so watch() sees the engine's events only.
    run = await wf_of(inc("a"), wid="watch3").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=0))
    kinds = [c.type for c in got]
    assert kinds == ["workflow-step-start", "workflow-step-result", "workflow-step-finish"]


async def test_watch_keeps_receiving_across_segments() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="watchseg").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=None))
    n = len(got)
    await collect(run.resume_stream(resume_data=1))
    later = [c.to_dict()["payload"].get("id") for c in got[n:]]
    assert "ask" in later and "a" in later


async def test_watch_step_finish_payload_has_step_name() -> None:
    run = await wf_of(inc("a"), wid="wsf").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=0))
    finishes = [c.to_dict() for c in got if c.type == "workflow-step-finish"]
    assert finishes
    for d in finishes:
        assert d["payload"]["stepName"] == d["payload"]["id"]
