"""Real cancellation: bodies see CancelledError, sleeps end at once, queued items never start."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _steps import ask, asker, const, one_step, wf_of
from conftest import GUARD, collect, finish, kinds, of, one, shape, types, wait_until, within

from rxflow import (
    InMemoryStorage,
    ResumeError,
    RetryConfig,
    SQLiteStorage,
    StepContext,
    create_step,
    create_workflow,
)


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


# --- cancel interrupts bodies, sleeps and queued work -----------------------------------------


async def test_cancel_interrupts_async_body_and_persists_canceled() -> None:
    storage = InMemoryStorage()
    entered = asyncio.Event()
    saw_cancel: list[bool] = []

    async def body(ctx: StepContext) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.append(True)
            raise

    wf = wf_of(create_step(id="blocks", execute=body), const("after", 1), wid="cx", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await asyncio.wait_for(run.cancel(), GUARD)
    record = await storage.get_run("cx", run.run_id)
    assert record is not None and record.status == "canceled"
    chunks = await collect(output)
    assert saw_cancel == [True]
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "blocks"),
        ("workflow-step-result", "blocks"),
        ("workflow-canceled", None),
        ("workflow-finish", None),
    ]
    assert one(chunks, "workflow-step-result", "blocks")["status"] == "canceled"
    assert chunks[3].to_dict() == {
        "type": "workflow-canceled",
        "runId": run.run_id,
        "from": "WORKFLOW",
        "payload": {},
    }
    fin = finish(chunks)
    assert fin["workflowStatus"] == "canceled"
    assert fin["metadata"] == {}
    assert "finalWorkflowResult" not in fin
    result = await output.result
    assert result.status == "canceled"
    assert output.status == "canceled"


async def test_cancel_at_the_waiting_event_interrupts_a_long_sleep() -> None:
    wf = create_workflow(id="cxs").sleep(600_000).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-waiting":
                await run.cancel()

    await asyncio.wait_for(read(), GUARD)
    assert seen[-2:] == ["workflow-canceled", "workflow-finish"]
    assert (await output.result).status == "canceled"


async def test_cancel_interrupts_sleep_until() -> None:
    far = datetime.now(UTC) + timedelta(hours=1)
    wf = create_workflow(id="cxsu").sleep_until(far).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)

    async def read() -> list[str]:
        seen = []
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-waiting":
                await run.cancel()
        return seen

    seen = await asyncio.wait_for(read(), GUARD)
    assert seen[-1] == "workflow-finish"
    assert (await output.result).status == "canceled"


async def test_cancel_stops_queued_foreach_items() -> None:
    started: list[int] = []
    entered = asyncio.Event()

    async def item(ctx: StepContext) -> Any:
        started.append(ctx.input_data)
        entered.set()
        await asyncio.Event().wait()

    wf = (
        create_workflow(id="cxfe")
        .foreach(create_step(id="it", execute=item), concurrency=1)
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=[0, 1, 2, 3])
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    await collect(output)
    assert started == [0]
    assert (await output.result).status == "canceled"


async def test_cancel_parallel_emits_canceled_results_before_workflow_canceled() -> None:
    entered = [asyncio.Event(), asyncio.Event()]

    def blocker(sid: str, n: int) -> Any:
        async def body(ctx: StepContext) -> Any:
            entered[n].set()
            await asyncio.Event().wait()

        return create_step(id=sid, execute=body)

    wf = create_workflow(id="cxpar").parallel([blocker("a", 0), blocker("b", 1)]).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    for e in entered:
        await asyncio.wait_for(e.wait(), GUARD)
    await run.cancel()
    chunks = await collect(output)
    kinds = types(chunks)
    assert kinds[-2:] == ["workflow-canceled", "workflow-finish"]
    for sid in ("a", "b"):
        assert one(chunks, "workflow-step-result", sid)["status"] == "canceled"
    results = [i for i, t in enumerate(kinds) if t == "workflow-step-result"]
    assert max(results) < kinds.index("workflow-canceled")
    result = await output.result
    assert result.status == "canceled"


async def test_cancel_inside_nested_workflow() -> None:
    entered = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    child = wf_of(create_step(id="inner", execute=body), wid="kid")
    parent = wf_of(child, const("after", 1), wid="cxnest")
    run = await parent.create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    chunks = await collect(output)
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert types(chunks).count("workflow-canceled") == 1
    assert one(chunks, "workflow-step-result", "kid.inner")["status"] == "canceled"
    assert (await output.result).status == "canceled"


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


async def test_double_cancel_and_cancel_right_after_stream() -> None:
    storage = InMemoryStorage()

    async def body(ctx: StepContext) -> Any:
        await asyncio.Event().wait()

    wf = wf_of(create_step(id="s", execute=body), wid="cxnow", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await run.cancel()
    assert run.status == "canceled"
    record = await storage.get_run("cxnow", run.run_id)
    assert record is not None and record.status == "canceled"
    await run.cancel()
    chunks = await collect(output)
    assert types(chunks)[0] == "workflow-start"
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert types(chunks).count("workflow-canceled") == 1
    assert (await output.result).status == "canceled"


# --- abort from inside, and thread bodies -----------------------------------------------------


async def test_abort_from_inside_cancels_run() -> None:
    after: list[int] = []

    async def body(ctx: StepContext) -> Any:
        ctx.abort()
        await asyncio.Event().wait()

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = wf_of(create_step(id="ab", execute=body), create_step(id="later", execute=later))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    assert (await output.result).status == "canceled"
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert after == []


async def test_abort_from_sync_body() -> None:
    def body(ctx: StepContext) -> Any:
        ctx.abort()
        return "ignored"

    wf = wf_of(create_step(id="ab", execute=body), const("later", 1), wid="syncabort")
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "canceled"
    assert "later" not in result.steps
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]


async def test_abort_signal_seen_by_thread_body_and_result_discarded() -> None:
    entered = threading.Event()
    saw_abort: list[bool] = []

    left = threading.Event()

    def body(ctx: StepContext) -> Any:
        entered.set()
        deadline = time.monotonic() + GUARD
        while not ctx.abort_signal.aborted and time.monotonic() < deadline:
            time.sleep(0.001)
        saw_abort.append(ctx.abort_signal.aborted)
        left.set()
        return "should be discarded"

    wf = wf_of(create_step(id="th", execute=body), const("after", 1), wid="cxth")
    run = await wf.create_run()
    output = run.stream(input_data=None)
    assert await asyncio.to_thread(entered.wait, GUARD)
    await run.cancel()
    chunks = await collect(output)
    result = await output.result
    assert result.status == "canceled"
    assert result.result is None
    assert "after" not in result.steps
    for p in of(chunks, "workflow-step-result", "th"):
        assert p.get("output") != "should be discarded"
    assert await asyncio.to_thread(left.wait, GUARD)  # the thread polls the signal
    assert saw_abort == [True]


async def test_abort_signal_wait_in_async_body() -> None:
    waited: list[bool] = []
    entered = asyncio.Event()

    async def watcher(ctx: StepContext) -> Any:
        entered.set()
        try:
            await ctx.abort_signal.wait()
            waited.append(ctx.abort_signal.aborted)
        except asyncio.CancelledError:
            waited.append(ctx.abort_signal.aborted)
            raise

    run = await wf_of(create_step(id="w", execute=watcher)).create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    await collect(output)
    assert waited == [True]


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


# --- finished and suspended runs --------------------------------------------------------------


async def test_cancel_of_finished_run_is_a_noop() -> None:
    storage = InMemoryStorage()
    wf = wf_of(const("a", 1), wid="cxdone", storage=storage)
    run = await wf.create_run()
    result = await run.start(input_data=None)
    assert result.status == "success"
    await run.cancel()
    assert run.status == "success"
    record = await storage.get_run("cxdone", run.run_id)
    assert record is not None and record.status == "success"


async def test_cancel_of_suspended_run_persists_canceled() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxsusp0", storage=storage)
    run = await wf.create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    await run.cancel()
    record = await storage.get_run("cxsusp0", run.run_id)
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_cancel_of_suspended_run_ends_kept_open_output() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxsusp", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    await run.cancel()
    record = await storage.get_run("cxsusp", run.run_id)
    assert record is not None and record.status == "canceled"
    chunks = await collect(output)
    assert types(chunks)[-3:] == ["workflow-step-suspended", "workflow-canceled", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "canceled"
    assert output.status == "canceled"
    assert (await output.result).status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


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


async def test_cancel_when_suspended_event_arrives_kept_open() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxrace", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                await run.cancel()
                record = await storage.get_run("cxrace", run.run_id)
                assert record is not None and record.status == "canceled"

    await asyncio.wait_for(read(), GUARD)
    assert seen[-2:] == ["workflow-canceled", "workflow-finish"]
    assert output.status == "canceled"


async def test_cancel_when_suspended_event_arrives_closing_stream() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxrace2", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    async for chunk in output:
        if chunk.type == "workflow-step-suspended":
            await run.cancel()
            break
    record = await storage.get_run("cxrace2", run.run_id)
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)
