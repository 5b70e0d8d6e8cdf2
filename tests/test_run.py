"""Runs: create_run, start and stream, the run's keyword names and ids."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from _steps import ask, const, one_step, wf_of
from conftest import GUARD

import rxflow
from rxflow import StepContext, create_step

# --- names and ids ----------------------------------------------------------------------------


def test_run_method_keyword_names() -> None:
    def names(fn: Any) -> set[str]:
        return set(inspect.signature(fn).parameters)

    assert {"run_id", "resource_id"} <= names(rxflow.Workflow.create_run)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
    } <= names(rxflow.Run.start)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
        "close_on_suspend",
        "history_limit",
    } <= names(rxflow.Run.stream)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
    } <= names(rxflow.Run.resume)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
        "history_limit",
    } <= names(rxflow.Run.resume_stream)
    assert inspect.signature(rxflow.Run.stream).parameters["close_on_suspend"].default is True
    for name in ("cancel", "observe_stream", "watch", "restart"):
        assert callable(getattr(rxflow.Run, name))


async def test_run_has_run_id_workflow_id_resource_id() -> None:
    wf = wf_of(const("a", 1), wid="ids")
    run = await wf.create_run(run_id="r-ids", resource_id="user-1")
    assert run.run_id == "r-ids"
    assert run.workflow_id == "ids"
    assert run.resource_id == "user-1"
    anon = await wf.create_run()
    assert isinstance(anon.run_id, str) and anon.run_id
    assert anon.resource_id is None


# --- create_run -------------------------------------------------------------------------------


async def test_create_run_with_live_id_returns_same_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    wf = wf_of(create_step(id="s", execute=body))
    run = await wf.create_run(run_id="live-1")
    output = run.stream(input_data=None)
    again = await wf.create_run(run_id="live-1")
    assert again is run
    gate.set()
    assert (await output.result).status == "success"


async def test_create_run_with_a_live_id_returns_the_same_run() -> None:
    wf = one_step("live", ask)
    run = await wf.create_run(run_id="live-1")
    assert await wf.create_run(run_id="live-1") is run


# --- stream -----------------------------------------------------------------------------------


async def test_stream_starts_eagerly_and_returns_same_output_twice() -> None:
    ran = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        ran.set()
        return 1

    run = await wf_of(create_step(id="s", execute=body)).create_run()
    output = run.stream(input_data=None)
    assert output.status == "running"
    await asyncio.wait_for(ran.wait(), GUARD)  # nobody has read the output yet
    assert run.stream(input_data=None) is output
    assert (await output.result).status == "success"
