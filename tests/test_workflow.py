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
from rxflow.storage import InMemoryStorage

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


# --- bad definitions are refused at create_workflow, naming the parameter ---------------------


def test_a_storage_that_is_not_a_storage_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="wf", storage="x.db")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "workflow 'wf': storage must be a Storage such as InMemoryStorage() or "
        "SQLiteStorage(path), got 'x.db'"
    )
    with pytest.raises(WorkflowDefinitionError, match="^workflow 'wf': storage must be a Storage"):
        create_workflow(id="wf", storage=InMemoryStorage)  # type: ignore[arg-type]
    storage = InMemoryStorage()
    assert create_workflow(id="wf", storage=storage).storage is storage


@pytest.mark.parametrize(
    "name", ["input_schema", "output_schema", "state_schema", "request_context_schema"]
)
def test_a_schema_that_is_not_a_type_is_refused_at_create_workflow(name: str) -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="wf", **{name: 42})
    assert str(caught.value) == (
        f"workflow 'wf': {name} must be a type (a class, or a typing form such as list[int]), "
        "got 42"
    )


def test_workflow_metadata_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="wf", metadata="str")  # type: ignore[arg-type]
    assert str(caught.value) == "workflow 'wf': metadata must be a mapping or None, got 'str'"


def test_an_uncommitted_nested_workflow_is_refused_where_it_is_added() -> None:
    inner = create_workflow(id="inner").then(const("a", 1))
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="outer").then(inner)
    assert str(caught.value) == (
        "workflow 'outer': then(): nested workflow 'inner' must be committed first"
    )
