"""Real cancellation: bodies see CancelledError, sleeps end at once, queued items never start."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from conftest import collect, kinds

from rxflow import RetryConfig, StepContext, create_step, create_workflow


async def test_cancel_during_step_body() -> None:
    entered = asyncio.Event()
    saw_cancel: list[bool] = []
    ran_after: list[bool] = []

    async def blocks(ctx: StepContext) -> int:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.append(True)
            raise
        return 1

    async def after(ctx: StepContext) -> int:
        ran_after.append(True)
        return 2

    wf = (
        create_workflow(id="cx")
        .then(create_step(id="blocks", execute=blocks))
        .then(create_step(id="after", execute=after))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await entered.wait()
    assert output.status == "running"
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    assert saw_cancel == [True] and ran_after == []
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "blocks"),
        ("workflow-step-result", "blocks"),
        ("workflow-canceled", None),
        ("workflow-finish", None),
    ]
    assert chunks[2].payload.status == "canceled"
    assert chunks[3].to_dict() == {
        "type": "workflow-canceled",
        "runId": run.run_id,
        "from": "WORKFLOW",
        "payload": {},
    }
    assert chunks[4].to_dict()["payload"]["workflowStatus"] == "canceled"
    assert chunks[4].to_dict()["payload"]["metadata"] == {}
    result = await output.result
    assert result.status == "canceled"
    assert output.status == "canceled" and run.status == "canceled"


async def test_cancel_interrupts_sleep_at_once() -> None:
    wf = create_workflow(id="cs").sleep(60_000).commit()
    run = await wf.create_run()
    output = run.stream(input_data="x")
    await asyncio.sleep(0)
    begin = time.monotonic()
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    assert time.monotonic() - begin < 2
    assert [c.type for c in chunks] == [
        "workflow-start",
        "workflow-step-waiting",
        "workflow-step-result",
        "workflow-canceled",
        "workflow-finish",
    ]
    assert chunks[2].payload.status == "canceled"
    assert (await output.result).status == "canceled"


async def test_cancel_during_foreach_queued_items_never_start() -> None:
    started: list[int] = []
    two_running = asyncio.Event()

    async def body(ctx: StepContext) -> int:
        started.append(ctx.input_data)
        if len(started) == 2:
            two_running.set()
        await asyncio.Event().wait()
        return 0

    wf = create_workflow(id="cf").foreach(create_step(id="w", execute=body), concurrency=2).commit()
    run = await wf.create_run()
    output = run.stream(input_data=list(range(10)))
    await two_running.wait()
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0, 1]
    assert [c.type for c in chunks][-3:] == [
        "workflow-step-result",
        "workflow-canceled",
        "workflow-finish",
    ]
    assert chunks[-3].payload.status == "canceled"
    assert (await output.result).status == "canceled"


async def test_cancel_during_parallel_cancels_every_sibling() -> None:
    entered = 0
    both = asyncio.Event()
    cancelled: list[str] = []

    def sibling(name: str) -> object:
        async def body(ctx: StepContext) -> int:
            nonlocal entered
            entered += 1
            if entered == 2:
                both.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise
            return 0

        return create_step(id=name, execute=body)

    wf = create_workflow(id="cp").parallel([sibling("a"), sibling("b")]).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await both.wait()
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    assert sorted(cancelled) == ["a", "b"]
    results = {c.payload.id: c.payload.status for c in chunks if c.type == "workflow-step-result"}
    assert results == {"a": "canceled", "b": "canceled"}
    assert chunks[-2].type == "workflow-canceled"


async def test_abort_from_inside_and_abort_signal() -> None:
    observed: list[bool] = []

    async def aborts(ctx: StepContext) -> int:
        ctx.abort()
        await ctx.abort_signal.wait()
        observed.append(ctx.abort_signal.aborted)
        await asyncio.sleep(10)
        return 1

    wf = create_workflow(id="ab").then(create_step(id="aborts", execute=aborts)).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    result = await asyncio.wait_for(output.result, 5)
    assert result.status == "canceled"
    assert observed == [True]


async def test_thread_body_result_is_discarded_on_cancel() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow(ctx: StepContext) -> int:
        entered.set()
        release.wait(5)
        return 99

    wf = create_workflow(id="th").then(create_step(id="slow", execute=slow)).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await asyncio.to_thread(entered.wait, 5)
    await asyncio.wait_for(run.cancel(), 5)
    release.set()
    result = await output.result
    assert result.status == "canceled"
    assert result.steps["slow"].status == "canceled"
    assert result.steps["slow"].output is None


async def test_cancel_of_finished_run_is_a_no_op() -> None:
    wf = create_workflow(id="done").then(create_step(id="a", execute=lambda ctx: 1)).commit()
    run = await wf.create_run()
    result = await run.start(input_data=None)
    await run.cancel()
    assert run.status == "success" and result.status == "success"


# ---- a cancellation the run asked for stays a cancellation --------------------------------------


def _step_events(chunks: list[Any]) -> list[tuple[str, str | None, str | None]]:
    """``(type, step id, status)`` per chunk; the status of step results only."""
    shape = []
    for chunk in chunks:
        payload = getattr(chunk, "payload", None)
        status = getattr(payload, "status", None) if chunk.type == "workflow-step-result" else None
        shape.append((chunk.type, getattr(payload, "id", None), status))
    return shape


_CANCELED_STEP = [
    ("workflow-start", None, None),
    ("workflow-step-start", "s", None),
    ("workflow-step-result", "s", "canceled"),
    ("workflow-canceled", None, None),
    ("workflow-finish", None, None),
]


async def test_abort_then_raise_ends_canceled() -> None:
    after: list[bool] = []

    async def aborts_then_raises(ctx: StepContext) -> int:
        ctx.abort()
        raise RuntimeError("raised after abort")

    async def later(ctx: StepContext) -> int:
        after.append(True)
        return 1

    wf = (
        create_workflow(id="abort-raise")
        .then(create_step(id="s", execute=aborts_then_raises))
        .then(create_step(id="later", execute=later))
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data=None)
    assert result.status == "canceled"
    assert result.error is None
    assert result.steps["s"].status == "canceled"
    assert result.steps["s"].error is None
    assert list(result.steps) == ["s"]
    assert after == []
    record = await wf.storage.get_run(wf.id, run.run_id)
    assert record is not None and record.status == "canceled"

    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=None))
    assert _step_events(chunks) == _CANCELED_STEP
    assert chunks[-1].to_dict()["payload"]["workflowStatus"] == "canceled"


async def test_abort_then_raise_is_not_retried() -> None:
    attempts: list[int] = []

    async def aborts_then_raises(ctx: StepContext) -> int:
        attempts.append(ctx.retry_count)
        ctx.abort()
        raise RuntimeError("raised after abort")

    wf = (
        create_workflow(id="abort-raise-retries", retry_config=RetryConfig(attempts=3))
        .then(create_step(id="s", execute=aborts_then_raises))
        .commit()
    )
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=None))
    assert attempts == [0]
    assert _step_events(chunks) == _CANCELED_STEP


async def test_external_cancel_while_finally_raises_ends_canceled() -> None:
    entered = asyncio.Event()

    async def raises_while_unwinding(ctx: StepContext) -> int:
        try:
            entered.set()
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("raised in finally")  # noqa: B012
        return 1

    wf = (
        create_workflow(id="cancel-finally")
        .then(create_step(id="s", execute=raises_while_unwinding))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await entered.wait()
    await asyncio.wait_for(run.cancel(), 5)
    record = await wf.storage.get_run(wf.id, run.run_id)
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    chunks = await collect(output)
    assert _step_events(chunks) == _CANCELED_STEP
    result = await output.result
    assert result.status == "canceled"
    assert result.steps["s"].status == "canceled"
    assert result.steps["s"].error is None


# ---- a step canceled while it waits to retry -------------------------------------------------


async def test_cancel_during_retry_delay_reports_the_step_canceled() -> None:
    failures: list[int] = []
    first_failed = asyncio.Event()

    async def fails(ctx: StepContext) -> int:
        failures.append(ctx.retry_count)
        first_failed.set()
        raise RuntimeError("fails")

    wf = (
        create_workflow(id="cancel-retry", retry_config=RetryConfig(attempts=3, delay=60_000))
        .then(create_step(id="s", execute=fails))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await first_failed.wait()
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    assert failures == [0]
    assert _step_events(chunks) == _CANCELED_STEP
    result = await output.result
    assert result.status == "canceled"
    assert result.steps["s"].status == "canceled"
    record = await wf.storage.get_run(wf.id, run.run_id)
    assert record is not None and record.status == "canceled"
