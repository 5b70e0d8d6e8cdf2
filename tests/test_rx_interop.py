"""Rx interop: output.events in pipelines, run_workflow and stream_workflow, Step.as_operator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from _steps import PaymentDeclined, add_one, ask, inc, one_step, wf_of
from conftest import GUARD, _poll_until, collect, within
from reactivex import operators as ops

from rxflow import (
    InMemoryStorage,
    RxflowError,
    Step,
    StepContext,
    TripWire,
    ValidationError,
    WorkflowResult,
    create_step,
    create_workflow,
)
from rxflow.operators import run_workflow, stream_workflow

# --- output.events ----------------------------------------------------------------------------


async def test_events_observable_replays_and_completes() -> None:
    run = await wf_of(inc("a")).create_run()
    output = run.stream(input_data=1)
    await collect(output)
    got: list[str] = []
    completed = asyncio.Event()
    output.events.pipe(ops.map(lambda c: c.type)).subscribe(
        on_next=got.append, on_completed=completed.set
    )
    await asyncio.wait_for(completed.wait(), GUARD)
    assert got == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert isinstance(output.events, reactivex.Observable)


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


async def test_output_events_replays_to_late_subscribers_and_completes() -> None:
    wf = (
        create_workflow(id="replay")
        .then(create_step(id="a", execute=add_one))
        .then(create_step(id="b", execute=add_one))
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


async def settle(turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


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


async def test_live_events_subscriber_completes_at_finish() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    output = (await wf_of(create_step(id="s", execute=body)).create_run()).stream(input_data=None)
    got: list[str] = []
    done = asyncio.Event()
    errors: list[Exception] = []
    output.events.subscribe(
        on_next=lambda c: got.append(c.type), on_error=errors.append, on_completed=done.set
    )
    gate.set()
    await asyncio.wait_for(done.wait(), GUARD)
    assert got[0] == "workflow-start" and got[-1] == "workflow-finish"
    assert errors == []


async def test_disposing_events_subscription_never_cancels_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return "done"

    run = await wf_of(create_step(id="s", execute=body)).create_run()
    output = run.stream(input_data=None)
    seen: list[str] = []
    disposable = output.events.subscribe(on_next=lambda c: seen.append(c.type))
    disposable.dispose()
    gate.set()
    result = await asyncio.wait_for(output.result, GUARD)
    assert (result.status, result.result) == ("success", "done")


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


# --- run_workflow and stream_workflow ---------------------------------------------------------


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
    wf = one_step("merged", add_one)
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
    wf = one_step("no-loop", add_one)
    with pytest.raises(Exception):  # noqa: B017 - SPEC only says it raises
        reactivex.from_iterable([1]).pipe(factory(wf)).subscribe(on_next=lambda _: None)


# --- Step.as_operator -------------------------------------------------------------------------


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
