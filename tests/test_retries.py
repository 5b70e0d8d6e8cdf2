"""Retries: attempt counts, a step's override of the workflow's config, delay, NonRetryableError."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _steps import one_step, wf_of
from conftest import collect, shape, within

from rxflow import NonRetryableError, RetryConfig, StepContext, create_step

# --- attempts and the step's override ---------------------------------------------------------


def failing(sid: str, attempts: list[int], exc: type[Exception] = ValueError, **kw: Any) -> Any:
    async def body(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        raise exc("boom")

    return create_step(id=sid, execute=body, **kw)


async def test_step_retries_override_and_retry_count() -> None:
    attempts: list[int] = []
    wf = wf_of(
        failing("f", attempts, retries=2),
        wid="retry",
        retry_config=RetryConfig(attempts=5, delay=0),
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert attempts == [0, 1, 2]
    # no events per attempt
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "f"),
        ("workflow-step-result", "f"),
        ("workflow-finish", None),
    ]


async def test_retries_none_falls_back_to_workflow_retry_config() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts), wid="fallback", retry_config=RetryConfig(attempts=1))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0, 1]


async def test_retries_zero_means_no_retry() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts, retries=0), wid="zero", retry_config=RetryConfig(attempts=3))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0]


async def test_retry_then_success() -> None:
    attempts: list[int] = []

    async def flaky(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise ValueError("not yet")
        return "ok"

    wf = wf_of(create_step(id="flaky", execute=flaky, retries=3), wid="flaky")
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "ok")
    assert attempts == [0, 1, 2]


async def test_total_runs_are_attempts_plus_one_without_events_per_attempt() -> None:
    attempts: list[int] = []

    async def flaky(ctx: Any) -> Any:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise RuntimeError("again")
        return "ok"

    wf = one_step("retry", flaky, retry_config=RetryConfig(attempts=2, delay=0))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await within(collect(output))
    assert attempts == [0, 1, 2]
    assert [c.type for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert (await within(output.result)).result == "ok"

    attempts.clear()
    wf = one_step("exhausted", flaky, retry_config=RetryConfig(attempts=1, delay=0))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed" and attempts == [0, 1]


@pytest.mark.parametrize(("step_retries", "expected_calls"), [(None, 4), (1, 2), (0, 1)])
async def test_step_retries_override_the_workflow_attempts(
    step_retries: int | None, expected_calls: int
) -> None:
    calls: list[int] = []

    async def always(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        raise RuntimeError("down")

    wf = one_step(
        "override",
        always,
        retry_config=RetryConfig(attempts=3, delay=0),
        step_options={"retries": step_retries},
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert calls == list(range(expected_calls))


async def test_resume_retry_count_starts_again_at_zero() -> None:
    counts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        counts.append(ctx.retry_count)
        if ctx.retry_count == 0 and ctx.resume_data is None:
            raise ValueError("retry me")
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return "ok"

    run = await wf_of(create_step(id="s", execute=body, retries=2)).create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    assert (await run.resume(resume_data=1)).status == "success"
    assert counts == [0, 1, 0]


# --- the delay between attempts ---------------------------------------------------------------


async def test_retry_delay_is_in_milliseconds() -> None:
    attempts: list[float] = []

    async def body(ctx: StepContext) -> Any:
        attempts.append(time.monotonic())
        raise ValueError("x")

    wf = wf_of(
        create_step(id="f", execute=body),
        wid="delay",
        retry_config=RetryConfig(attempts=1, delay=30),
    )
    await (await wf.create_run()).start(input_data=None)
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.025
    assert attempts[1] - attempts[0] < 5


async def test_retry_delay_is_waited_between_attempts() -> None:
    stamps: list[float] = []

    async def flaky(ctx: Any) -> Any:
        stamps.append(time.monotonic())
        if len(stamps) < 3:
            raise RuntimeError("again")
        return None

    wf = one_step("delay", flaky, retry_config=RetryConfig(attempts=2, delay=30))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(gap >= 0.029 for gap in gaps), gaps


# --- NonRetryableError ------------------------------------------------------------------------


async def test_non_retryable_error_stops_at_once() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts, exc=NonRetryableError, retries=3), wid="nre")
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0]
    assert isinstance(result.error, NonRetryableError)


async def test_non_retryable_error_ignores_the_workflow_attempts() -> None:
    calls: list[int] = []

    async def body(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        raise NonRetryableError("permanent")

    wf = one_step("nonretry", body, retry_config=RetryConfig(attempts=5, delay=0))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert calls == [0]
    assert isinstance(result.error, NonRetryableError)
