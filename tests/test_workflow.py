"""Workflows: the builder's keyword names, chaining with then, and what commit accepts."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from _steps import const, inc, wf_of
from conftest import collect, types

import rxflow
from rxflow import RetryConfig, StepContext, WorkflowDefinitionError, create_step, create_workflow

# --- building ---------------------------------------------------------------------------------


def test_create_workflow_keyword_names() -> None:
    params = inspect.signature(create_workflow).parameters
    for name in [
        "id",
        "input_schema",
        "output_schema",
        "state_schema",
        "request_context_schema",
        "retry_config",
        "storage",
        "executor",
        "description",
        "metadata",
    ]:
        assert name in params, name
    wf = create_workflow(
        id="wf",
        input_schema=None,
        output_schema=None,
        state_schema=None,
        request_context_schema=None,
        retry_config=RetryConfig(attempts=0, delay=0),
        storage=None,
        executor=None,
        description="d",
        metadata={"m": 1},
    )
    assert isinstance(wf, rxflow.Workflow)


def test_builder_method_keyword_names() -> None:
    wf = create_workflow(id="kw")
    assert "allow_failure" in inspect.signature(wf.parallel).parameters
    assert "concurrency" in inspect.signature(wf.foreach).parameters


async def test_then_chains_outputs() -> None:
    result = await (await wf_of(inc("a"), inc("b"), inc("c")).create_run()).start(input_data=0)
    assert result.result == 3
    assert result.step_execution_path == ["a", "b", "c"]


async def test_sequential_entries_never_interleave() -> None:
    async def writer(ctx: StepContext) -> Any:
        await ctx.writer.write("x")
        await asyncio.sleep(0)
        return ctx.input_data

    wf = wf_of(create_step(id="a", execute=writer), create_step(id="b", execute=writer), wid="seq")
    chunks = await collect((await wf.create_run()).stream(input_data=0))
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-finish",
    ]


# --- commit -----------------------------------------------------------------------------------


def test_building_on_committed_workflow_raises() -> None:
    wf = wf_of(const("a", 1))
    with pytest.raises(WorkflowDefinitionError):
        wf.then(const("b", 2))
    with pytest.raises(WorkflowDefinitionError):
        wf.sleep(1)


async def test_create_run_on_uncommitted_raises() -> None:
    wf = create_workflow(id="unc").then(const("a", 1))
    with pytest.raises(WorkflowDefinitionError):
        await wf.create_run()


def test_empty_workflow_rejected_at_commit() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="empty").commit()


def test_duplicate_step_ids_rejected_at_commit() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="dup").then(const("x", 1)).then(const("x", 2)).commit()
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="dup2").parallel([const("x", 1), const("x", 2)]).commit()
