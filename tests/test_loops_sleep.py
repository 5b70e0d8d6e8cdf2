"""dowhile / dountil and sleep / sleep_until: iteration counts, events, pass-through."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import collect, kinds

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
