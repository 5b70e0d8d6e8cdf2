"""dowhile / dountil and sleep / sleep_until: iteration counts, events, pass-through."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _steps import const, inc, wf_of
from conftest import GUARD, collect, finish, kinds, of, one, shape, types

from rxflow import ConditionContext, RetryConfig, StepContext, create_step, create_workflow


async def _inc(ctx: StepContext) -> int:
    return ctx.input_data + 1


async def test_dowhile_runs_until_condition_false_with_iteration_counts() -> None:
    counts: list[int] = []

    def below_three(ctx: ConditionContext) -> bool:
        counts.append(ctx.iteration_count)  # type: ignore[arg-type]
        return bool(ctx.input_data < 3)

    wf = create_workflow(id="dw").dowhile(create_step(id="inc", execute=_inc), below_three).commit()
    run = await wf.create_run()
    output = run.stream(input_data=0)
    chunks = await collect(output)
    assert counts == [1, 2, 3]
    assert kinds(chunks) == [("workflow-start", None)] + [
        ("workflow-step-start", "inc"),
        ("workflow-step-result", "inc"),
    ] * 3 + [("workflow-finish", None)]
    starts = [c.to_dict()["payload"] for c in chunks if c.type == "workflow-step-start"]
    results = [c.to_dict()["payload"] for c in chunks if c.type == "workflow-step-result"]
    assert [s["metadata"] for s in starts] == [{"iterationCount": i} for i in (1, 2, 3)]
    assert [r["metadata"] for r in results] == [{"iterationCount": i} for i in (1, 2, 3)]
    assert [s["payload"] for s in starts] == [0, 1, 2]
    assert len({s["stepCallId"] for s in starts}) == 3
    assert (await output.result).result == 3


async def test_dountil_stops_when_condition_true() -> None:
    async def reached(ctx: ConditionContext) -> bool:
        return bool(ctx.input_data >= 5)

    wf = create_workflow(id="du").dountil(create_step(id="inc", execute=_inc), reached).commit()
    result = await (await wf.create_run()).start(input_data=0)
    assert result.result == 5
    assert result.step_execution_path == ["inc"] * 5


async def test_dountil_true_at_once_runs_body_once() -> None:
    wf = (
        create_workflow(id="du1")
        .dountil(create_step(id="inc", execute=_inc), lambda ctx: True)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=10)
    assert result.result == 11


async def test_retry_count_restarts_each_iteration() -> None:
    seen: list[tuple[int, int]] = []
    failed_once: set[int] = set()

    async def flaky(ctx: StepContext) -> int:
        seen.append((ctx.input_data, ctx.retry_count))
        if ctx.input_data not in failed_once:
            failed_once.add(ctx.input_data)
            raise RuntimeError("first try fails")
        return ctx.input_data + 1

    wf = (
        create_workflow(id="dwr", retry_config=RetryConfig(attempts=1))
        .dowhile(create_step(id="flaky", execute=flaky), lambda ctx: ctx.input_data < 2)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.result == 2
    assert seen == [(0, 0), (0, 1), (1, 0), (1, 1)]


async def test_failed_iteration_ends_loop() -> None:
    async def explode_at_two(ctx: StepContext) -> int:
        if ctx.input_data == 2:
            raise ValueError("two")
        return ctx.input_data + 1

    wf = (
        create_workflow(id="dwf")
        .dowhile(create_step(id="e", execute=explode_at_two), lambda ctx: True)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.status == "failed" and str(result.error) == "two"


async def test_sleep_passes_input_through_with_waiting_then_result() -> None:
    wf = (
        create_workflow(id="sl")
        .then(create_step(id="a", execute=_inc))
        .sleep(5)
        .sleep(lambda ctx: ctx.input_data)
        .then(create_step(id="b", execute=_inc))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=0)
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "a"),
        ("workflow-step-result", "a"),
        ("workflow-step-waiting", "sleep_sl_0"),
        ("workflow-step-result", "sleep_sl_0"),
        ("workflow-step-waiting", "sleep_sl_1"),
        ("workflow-step-result", "sleep_sl_1"),
        ("workflow-step-start", "b"),
        ("workflow-step-result", "b"),
        ("workflow-finish", None),
    ]
    waiting = chunks[3].to_dict()["payload"]
    assert waiting == {
        "id": "sleep_sl_0",
        "stepName": "sleep_sl_0",
        "payload": 1,
        "startedAt": waiting["startedAt"],
        "status": "waiting",
    }
    slept = chunks[4].to_dict()["payload"]
    assert slept == {
        "id": "sleep_sl_0",
        "stepName": "sleep_sl_0",
        "status": "success",
        "output": 1,
        "endedAt": slept["endedAt"],
    }
    assert slept["endedAt"] - waiting["startedAt"] >= 4
    result = await output.result
    assert result.result == 2
    assert result.step_execution_path == ["a", "sleep_sl_0", "sleep_sl_1", "b"]


async def test_sleep_until_past_aware_and_naive_datetimes() -> None:
    past_aware = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    soon_naive = dt.datetime.now() + dt.timedelta(milliseconds=20)

    def until(ctx: ConditionContext) -> Any:
        return soon_naive

    wf = create_workflow(id="su").sleep_until(past_aware).sleep_until(until).commit()
    result = await (await wf.create_run()).start(input_data="x")
    assert result.result == "x"
    assert result.steps["sleep_su_1"].ended_at >= int(soon_naive.timestamp() * 1000) - 1  # type: ignore[operator]


async def test_sleep_function_that_raises_fails_the_run() -> None:
    def broken(ctx: ConditionContext) -> int:
        raise RuntimeError("no duration")

    wf = create_workflow(id="slf").sleep(broken).commit()
    run = await wf.create_run()
    output = run.stream(input_data=1)
    chunks = await collect(output)
    assert chunks[1].type == "workflow-step-result"
    assert chunks[1].to_dict()["payload"]["error"] == {
        "message": "no duration",
        "name": "RuntimeError",
    }
    assert (await output.result).status == "failed"


# --- dowhile / dountil ------------------------------------------------------------------------


async def test_dowhile_and_dountil() -> None:
    calls: list[tuple[int, Any]] = []

    def below_three(ctx: ConditionContext) -> bool:
        calls.append((ctx.iteration_count, ctx.input_data))
        return ctx.input_data < 3

    wf = (
        create_workflow(id="loops")
        .dowhile(inc("inc"), below_three)
        .dountil(
            create_step(id="double", execute=lambda ctx: ctx.input_data * 2),
            lambda ctx: ctx.input_data >= 20,
        )
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.result == 24
    assert calls == [(1, 1), (2, 2), (3, 3)]
    assert result.step_execution_path == ["inc", "inc", "inc", "double", "double", "double"]


async def test_loop_retry_count_restarts_each_iteration() -> None:
    counts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        counts.append(ctx.retry_count)
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopretry")
        .dowhile(create_step(id="it", execute=body), lambda ctx: ctx.input_data < 3)
        .commit()
    )
    await (await wf.create_run()).start(input_data=0)
    assert counts == [0, 0, 0]


async def test_loop_condition_that_raises_fails_block() -> None:
    def bad(ctx: ConditionContext) -> bool:
        raise RuntimeError("loop cond broke")

    wf = create_workflow(id="loopraise").dowhile(inc("it"), bad).commit()
    result = await (await wf.create_run()).start(input_data=0)
    assert result.status == "failed"
    assert str(result.error) == "loop cond broke"


async def test_loop_events_carry_iteration_count() -> None:
    wf = create_workflow(id="loopwire").dountil(inc("it"), lambda ctx: ctx.input_data >= 2).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=0))
    starts = of(chunks, "workflow-step-start", "it")
    results = of(chunks, "workflow-step-result", "it")
    assert [s["metadata"] for s in starts] == [{"iterationCount": 1}, {"iterationCount": 2}]
    assert [r["metadata"] for r in results] == [{"iterationCount": 1}, {"iterationCount": 2}]
    assert len({s["stepCallId"] for s in starts}) == 2


async def test_loop_step_suspends_and_resumes() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.input_data == 1 and ctx.resume_data is None:
            return await ctx.suspend({"at": 1})
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopsusp")
        .dowhile(create_step(id="it", execute=body), lambda ctx: ctx.input_data < 3)
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data=0)
    assert first.status == "suspended"
    output = run.resume_stream(resume_data="go")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", 3)
    counts = [p["metadata"]["iterationCount"] for p in of(chunks, "workflow-step-start", "it")]
    assert counts == [2, 3]


# --- sleep / sleep_until ----------------------------------------------------------------------


async def test_sleep_passes_input_through_and_emits_waiting_then_result() -> None:
    wf = create_workflow(id="slp").then(inc("a")).sleep(5).sleep(lambda ctx: 1).commit()
    run = await wf.create_run()
    output = run.stream(input_data=1)
    chunks = await collect(output)
    result = await output.result
    assert result.result == 2
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "a"),
        ("workflow-step-result", "a"),
        ("workflow-step-waiting", "sleep_slp_0"),
        ("workflow-step-result", "sleep_slp_0"),
        ("workflow-step-waiting", "sleep_slp_1"),
        ("workflow-step-result", "sleep_slp_1"),
        ("workflow-finish", None),
    ]
    waiting = one(chunks, "workflow-step-waiting", "sleep_slp_0")
    assert set(waiting) == {"id", "stepName", "payload", "startedAt", "status"}
    assert waiting["status"] == "waiting"
    assert waiting["payload"] == 2
    assert waiting["stepName"] == "sleep_slp_0"
    res = one(chunks, "workflow-step-result", "sleep_slp_0")
    assert set(res) == {"id", "stepName", "status", "output", "endedAt"}
    assert res["status"] == "success" and res["output"] == 2


async def test_sleep_until_aware_datetime_and_function() -> None:
    t0 = datetime.now(UTC)
    wf = (
        create_workflow(id="slu")
        .sleep_until(t0 + timedelta(milliseconds=20))
        .sleep_until(lambda ctx: datetime.now(UTC) + timedelta(milliseconds=5))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data="x")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", "x")
    assert datetime.now(UTC) >= t0 + timedelta(milliseconds=20)
    assert types(chunks).count("workflow-step-waiting") == 2


async def test_sleep_until_naive_datetime_is_local_time() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"  # UTC+9: a naive value read as UTC would be 9 h away
    time.tzset()
    try:
        when = datetime.now() + timedelta(milliseconds=20)
        assert when.tzinfo is None
        wf = create_workflow(id="naive").sleep_until(when).commit()
        result = await asyncio.wait_for((await wf.create_run()).start(input_data=1), GUARD)
        assert result.status == "success"
        assert time.time() >= when.timestamp()
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


async def test_sleep_ids_count_every_sleep_entry() -> None:
    wf = create_workflow(id="sids").sleep(1).sleep_until(datetime.now(UTC)).sleep(1).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=None))
    assert [p["id"] for p in of(chunks, "workflow-step-waiting")] == [
        "sleep_sids_0",
        "sleep_sids_1",
        "sleep_sids_2",
    ]


async def test_sleep_function_gets_context() -> None:
    seen: list[Any] = []

    def duration(ctx: Any) -> int:
        seen.append(ctx.input_data)
        return 1

    wf = create_workflow(id="sfn").then(inc("a")).sleep(duration).commit()
    result = await (await wf.create_run()).start(input_data=1)
    assert result.result == 2
    assert seen == [2]


async def test_nested_failure_and_sleep_ids() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("inner broke")

    child = create_workflow(id="kid3").sleep(1).then(create_step(id="boom", execute=boom)).commit()
    parent = wf_of(child, const("never", 0), wid="nestfail")
    output = (await parent.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "inner broke"
    assert one(chunks, "workflow-step-waiting", "kid3.sleep_kid3_0")["stepName"] == (
        "kid3.sleep_kid3_0"
    )
    assert one(chunks, "workflow-step-result", "kid3.boom")["status"] == "failed"
    assert one(chunks, "workflow-step-result", "kid3")["status"] == "failed"
    assert finish(chunks)["metadata"]["errorMessage"] == "inner broke"
    assert "never" not in result.steps
