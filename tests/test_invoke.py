"""Step invocation: the way a step runs is chosen once from what it is (plain async, checked,
thread, nested workflow), and every way retries, cancels and reports alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from _steps import Num, wf_of
from conftest import collect, shape

from rxflow import RetryConfig, StepContext, create_step, create_workflow
from rxflow.engine.invoke import compile_step


def _as(kind: str, sid: str, body: Callable[[StepContext], Any]) -> Any:
    """A step (or nested workflow) of ``kind`` whose work is ``body`` (a plain function)."""
    if kind == "thread":
        return create_step(id=sid, execute=body)

    async def run(ctx: StepContext) -> Any:
        return body(ctx)

    if kind == "plain":
        return create_step(id=sid, execute=run)
    if kind == "checked":
        return create_step(id=sid, execute=run, output_schema=int)
    inner = create_step(id="inner", execute=run)
    return create_workflow(id=sid).then(inner).commit()


KINDS = ["plain", "checked", "thread", "nested"]


def test_the_strategy_is_chosen_from_the_step_kind() -> None:
    def chosen(step: Any) -> str:
        return compile_step(step).kind

    async def body(ctx: StepContext) -> int:
        return 1

    def sync_body(ctx: StepContext) -> int:
        return 1

    assert chosen(create_step(id="a", execute=body)) == "plain"
    assert chosen(create_step(id="a", execute=body, output_schema=int)) == "checked"
    assert chosen(create_step(id="a", execute=body, input_schema=int)) == "checked"
    assert chosen(create_step(id="a", execute=body, request_context_schema=Num)) == "checked"
    assert chosen(create_step(id="a", execute=sync_body)) == "thread"
    assert chosen(create_step(id="a", execute=sync_body, input_schema=int)) == "thread"
    nested = create_workflow(id="n").then(create_step(id="a", execute=body)).commit()
    assert chosen(nested.graph) == "nested"


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_retries_until_success_without_events_per_attempt(kind: str) -> None:
    calls: list[int] = []

    def flaky(ctx: StepContext) -> int:
        calls.append(ctx.retry_count)
        if len(calls) < 3:
            raise ValueError(f"attempt {len(calls)}")
        return 7

    wf = wf_of(_as(kind, "s", flaky), wid=f"retry-{kind}", retry_config=RetryConfig(attempts=2))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success"
    assert result.result == 7
    # A nested workflow is retried as a whole: its inner step starts at attempt 0 each time.
    assert calls == ([0, 0, 0] if kind == "nested" else [0, 1, 2])
    outer = [c for c in shape(chunks) if c[1] in (None, "s")]
    assert outer == [
        ("workflow-start", None),
        ("workflow-step-start", "s"),
        ("workflow-step-result", "s"),
        ("workflow-finish", None),
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_fails_with_the_last_error_once_retries_run_out(kind: str) -> None:
    calls: list[int] = []

    def fails(ctx: StepContext) -> int:
        calls.append(ctx.retry_count)
        raise ValueError(f"attempt {len(calls)}")

    wf = wf_of(_as(kind, "s", fails), wid=f"fail-{kind}", retry_config=RetryConfig(attempts=1))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert len(calls) == 2
    assert str(result.error) == "attempt 2"
    assert str(result.steps["s"].error) == "attempt 2"


async def test_a_checked_output_that_breaks_its_schema_is_retried() -> None:
    outputs: list[Any] = ["not an int", 5]
    attempts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        return outputs[ctx.retry_count]

    step = create_step(id="s", execute=body, output_schema=int)
    wf = wf_of(step, wid="checked-output", retry_config=RetryConfig(attempts=1))
    result = await (await wf.create_run()).start(input_data=None)
    assert attempts == [0, 1]
    assert result.status == "success" and result.result == 5


@pytest.mark.parametrize("kind", ["checked", "thread"])
async def test_a_bad_input_fails_at_once_without_running_the_body(kind: str) -> None:
    ran: list[int] = []

    async def async_body(ctx: StepContext) -> int:
        ran.append(ctx.retry_count)
        return 1

    def sync_body(ctx: StepContext) -> int:
        ran.append(ctx.retry_count)
        return 1

    body: Any = async_body if kind == "checked" else sync_body
    step = create_step(id="s", execute=body, input_schema=Num)
    wf = wf_of(step, wid=f"bad-input-{kind}", retry_config=RetryConfig(attempts=3))
    result = await (await wf.create_run()).start(input_data={"value": "x"})
    assert ran == []
    assert result.status == "failed"
    assert "$.value: expected int, got 'x'" in str(result.error)


@pytest.mark.parametrize("kind", ["plain", "checked", "thread"])
async def test_abort_then_raise_is_canceled_for_every_body_kind(kind: str) -> None:
    def aborts(ctx: StepContext) -> int:
        ctx.abort()
        raise RuntimeError("raised after abort")

    wf = wf_of(_as(kind, "s", aborts), wid=f"abort-{kind}", retry_config=RetryConfig(attempts=2))
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "canceled"
    assert result.steps["s"].status == "canceled"
    assert [(c.type, getattr(c.payload, "status", None)) for c in chunks][1:] == [
        ("workflow-step-start", "running"),
        ("workflow-step-result", "canceled"),
        ("workflow-canceled", None),
        ("workflow-finish", None),
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_while_waiting_to_retry_cancels_the_step(kind: str) -> None:
    first_failed = threading.Event()  # set from a worker thread for a thread body
    attempts: list[int] = []

    def fails(ctx: StepContext) -> int:
        attempts.append(ctx.retry_count)
        first_failed.set()
        raise ValueError("fails")

    wf = wf_of(
        _as(kind, "s", fails),
        wid=f"cancel-delay-{kind}",
        retry_config=RetryConfig(attempts=3, delay=60_000),
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await asyncio.to_thread(first_failed.wait, 5)
    await asyncio.wait_for(run.cancel(), 5)
    chunks = await collect(output)
    assert attempts == [0]
    outer = [
        (c.type, getattr(c.payload, "status", None))
        for c in chunks
        if getattr(c.payload, "id", None) in (None, "s")
    ]
    assert outer == [
        ("workflow-start", None),
        ("workflow-step-start", "running"),
        ("workflow-step-result", "canceled"),
        ("workflow-canceled", None),
        ("workflow-finish", None),
    ]
    assert (await output.result).steps["s"].status == "canceled"
