"""The committed graph: ``commit()`` freezes a workflow into a ``WorkflowGraph`` whose
serialised form every snapshot of its runs stores."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import attrs
import pytest

from rxflow import Step, create_step, create_workflow
from rxflow.graph import MapEntry, ParallelEntry, StepEntry, WorkflowGraph
from rxflow.storage import InMemoryStorage, SQLiteStorage, Storage


async def _echo(ctx: Any) -> Any:
    return ctx.input_data


async def _first_graph_step_id(index: int, storage: Storage | None) -> str:
    wf = create_workflow(id=f"wf{index}", storage=storage)
    wf.then(create_step(id=f"s{index}", execute=_echo)).commit()
    run = await wf.create_run()
    snapshot = await wf.storage.load_snapshot(wf.id, run.run_id)
    assert snapshot is not None
    step_id: str = snapshot["serializedStepGraph"][0]["step"]["id"]
    return step_id


async def test_every_stored_graph_is_its_own_workflows(tmp_path: Path) -> None:
    # A graph cached by id(workflow) was served to a later workflow that reused the id of a
    # collected one: 188 of these 200 stored another workflow's graph.
    sqlite = SQLiteStorage(tmp_path / "runs.db")
    gc.freeze()  # older objects aside, so that each collection only walks this loop's objects
    try:
        for i in range(200):
            assert await _first_graph_step_id(i, None) == f"s{i}"  # in memory
            assert await _first_graph_step_id(i, sqlite) == f"s{i}"
            gc.collect()
    finally:
        gc.unfreeze()
        await sqlite.close()


def test_commit_freezes_the_graph_with_the_workflows_settings() -> None:
    a = create_step(id="a", execute=_echo)
    wf = create_workflow(id="frozen", input_schema=int, description="d").then(a).commit()
    graph = wf.graph
    assert isinstance(graph, WorkflowGraph)
    assert (graph.id, graph.description, graph.input_schema) == ("frozen", "d", int)
    assert graph.retry_config is wf.retry_config
    assert graph.entries == (StepEntry(a),)
    assert graph.serialized == [
        {"type": "step", "step": {"id": "a", "description": None}},
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        graph.id = "other"  # type: ignore[misc]


def test_a_nested_workflow_is_its_graph_in_the_parent() -> None:
    inner = create_workflow(id="inner").then(create_step(id="x", execute=_echo)).commit()
    b = create_step(id="b", execute=_echo)
    outer = create_workflow(id="outer").then(inner).parallel([b]).map(lambda ctx: 1).commit()
    first = outer.graph.entries[0]
    assert isinstance(first, StepEntry) and first.step is inner.graph
    assert isinstance(outer.graph.entries[1], ParallelEntry)
    assert isinstance(outer.graph.entries[2], MapEntry)
    # The builder keeps what was passed: the user's workflow, a Step.
    assert outer.steps["inner"] is inner
    assert isinstance(inner, Step)
    assert outer.program.nested["inner"].graph is inner.graph
    assert outer.graph.serialized[0] == {
        "type": "step",
        "step": {
            "id": "inner",
            "description": None,
            "component": "WORKFLOW",
            "serializedStepFlow": [{"type": "step", "step": {"id": "x", "description": None}}],
        },
    }


async def test_runs_of_a_nested_workflow_store_the_nested_graph() -> None:
    inner = create_workflow(id="inner").then(create_step(id="x", execute=_echo)).commit()
    outer = create_workflow(id="outer", storage=InMemoryStorage()).then(inner).commit()
    run = await outer.create_run()
    result = await run.start(input_data=3)
    assert (result.status, result.result) == ("success", 3)
    snapshot = await outer.storage.load_snapshot("outer", run.run_id)
    assert snapshot is not None
    assert snapshot["serializedStepGraph"] == outer.graph.serialized
