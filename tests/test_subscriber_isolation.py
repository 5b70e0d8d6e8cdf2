"""A consumer's bug stays its own: an ``events`` subscriber, a ``full_stream`` reader, a
``result`` subscriber or a watcher that raises never fails the run nor the other consumers.
Rx subscribers get the error in their own ``on_error``; every such error is logged (logger
``rxflow``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _steps import inc, wf_of
from conftest import collect, types, wait_until, wire
from reactivex import operators as ops

from rxflow import StepContext, create_step

CHAIN = [
    "workflow-start",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-finish",
]


class Boom(Exception):
    pass


def chain() -> Any:
    return wf_of(inc("a"), inc("b"), inc("c"), wid="isolated")


def rxflow_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "rxflow" and r.levelno >= logging.ERROR]


async def test_a_raising_events_subscriber_gets_on_error_and_the_run_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = asyncio.Event()

    async def wait(ctx: StepContext) -> Any:
        await gate.wait()
        return ctx.input_data

    wf = wf_of(create_step(id="wait", execute=wait), inc("a"), inc("b"), wid="isolated")
    run = await wf.create_run()
    output = run.stream(input_data=1)
    failing: list[Any] = []
    errors: list[BaseException] = []
    other: list[Any] = []
    completed: list[str] = []

    def bad(chunk: Any) -> None:
        failing.append(chunk.type)
        if chunk.type == "workflow-step-result":
            raise Boom("subscriber bug")

    output.events.subscribe(on_next=bad, on_error=errors.append)
    output.events.subscribe(
        on_next=other.append, on_error=errors.append, on_completed=lambda: completed.append("x")
    )
    gate.set()
    result = await output.result
    assert result.status == "success"
    assert result.result == 3
    assert failing == ["workflow-start", "workflow-step-start", "workflow-step-result"]
    assert [type(e) for e in errors] == [Boom] and str(errors[0]) == "subscriber bug"
    assert types(other) == CHAIN and completed == ["x"]
    assert wire(other) == wire(await collect(output))
    logged = rxflow_errors(caplog)
    assert len(logged) == 1 and logged[0].exc_info and logged[0].exc_info[1] is errors[0]


async def test_a_subscriber_raising_while_history_replays_gets_on_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await chain().create_run()
    output = run.stream(input_data=0)
    await output.result
    errors: list[BaseException] = []
    seen: list[str] = []

    def bad(chunk: Any) -> None:
        seen.append(chunk.type)
        raise Boom("late bug")

    output.events.subscribe(on_next=bad, on_error=errors.append)
    assert seen == ["workflow-start"]
    assert [str(e) for e in errors] == ["late bug"]
    other: list[Any] = []
    output.events.subscribe(on_next=other.append)
    assert types(other) == CHAIN
    assert len(rxflow_errors(caplog)) == 1


async def test_an_error_below_an_operator_reaches_the_end_subscribers_on_error() -> None:
    run = await chain().create_run()
    output = run.stream(input_data=0)
    errors: list[BaseException] = []

    def bad(step_id: Any) -> None:
        raise Boom(f"bad {step_id}")

    output.events.pipe(
        ops.filter(lambda c: c.type == "workflow-step-result"),
        ops.map(lambda c: c.payload.id),
    ).subscribe(on_next=bad, on_error=errors.append)
    result = await output.result
    assert result.status == "success" and result.result == 3
    assert [str(e) for e in errors] == ["bad a"]


async def test_a_subscriber_without_on_error_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await chain().create_run()
    output = run.stream(input_data=0)
    calls: list[str] = []

    def bad(chunk: Any) -> None:
        calls.append(chunk.type)
        raise Boom("no handler")

    output.events.subscribe(bad)
    result = await output.result
    assert result.status == "success" and result.result == 3
    assert calls == ["workflow-start"]
    assert [str(r.exc_info[1]) for r in rxflow_errors(caplog) if r.exc_info] == ["no handler"]


async def test_a_raising_result_subscriber_does_not_stop_the_run_or_other_awaiters() -> None:
    run = await chain().create_run()
    output = run.stream(input_data=0)
    errors: list[BaseException] = []

    def bad(result: Any) -> None:
        raise Boom("result bug")

    output.result.subscribe(on_next=bad, on_error=errors.append)
    values: list[Any] = []
    output.result.subscribe(on_next=values.append)
    result = await output.result
    assert result.status == "success" and result.result == 3
    assert [str(e) for e in errors] == ["result bug"]
    assert values == [result]
    assert types(await collect(output)) == CHAIN


async def test_a_full_stream_reader_that_raises_leaves_the_run_and_other_readers() -> None:
    gate = asyncio.Event()

    async def wait(ctx: StepContext) -> Any:
        await gate.wait()
        return ctx.input_data

    wf = wf_of(create_step(id="wait", execute=wait), inc("a"), inc("b"), wid="isolated")
    run = await wf.create_run()
    output = run.stream(input_data=1)

    async def bad_reader() -> None:
        async for chunk in output.full_stream:
            if chunk.type == "workflow-step-start":
                raise Boom("reader bug")

    bad = asyncio.create_task(bad_reader())
    good = asyncio.create_task(collect(output.full_stream))
    with pytest.raises(Boom):
        await bad
    gate.set()
    assert types(await good) == CHAIN
    assert (await output.result).result == 3


async def test_a_reader_cancelled_while_waiting_does_not_cancel_the_others() -> None:
    gate = asyncio.Event()

    async def wait(ctx: StepContext) -> Any:
        await gate.wait()
        return ctx.input_data

    wf = wf_of(create_step(id="wait", execute=wait), inc("a"), wid="isolated")
    run = await wf.create_run()
    output = run.stream(input_data=1)
    progress: dict[str, int] = {"cancelled": 0, "kept": 0}

    async def read(name: str) -> list[Any]:
        chunks = []
        async for chunk in output.full_stream:
            chunks.append(chunk)
            progress[name] += 1
        return chunks

    cancelled = asyncio.create_task(read("cancelled"))
    kept = asyncio.create_task(read("kept"))
    # both have read the start events and wait on the same "next event" signal
    log = output.full_stream.log
    await wait_until(lambda: progress == {"cancelled": 2, "kept": 2} and log.wake is not None)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.set()
    assert types(await asyncio.wait_for(kept, 30)) == CHAIN[:3] + CHAIN[5:]
    assert (await output.result).status == "success"


async def test_a_raising_watcher_is_logged_and_the_others_see_every_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wf = chain()
    alone = await wf.create_run()
    baseline: list[Any] = []
    alone.watch(baseline.append)
    await alone.start(input_data=0)
    assert not rxflow_errors(caplog)

    run = await wf.create_run()
    seen: list[Any] = []

    def bad(event: Any) -> None:
        raise Boom("watcher bug")

    run.watch(bad)
    run.watch(seen.append)
    output = run.stream(input_data=0)
    result = await output.result
    assert result.status == "success" and result.result == 3
    assert [e.type for e in seen] == [e.type for e in baseline]
    assert len(seen) == 9  # each of the three steps: start, result, finish
    logged = rxflow_errors(caplog)
    assert logged and all(str(r.exc_info[1]) == "watcher bug" for r in logged if r.exc_info)
