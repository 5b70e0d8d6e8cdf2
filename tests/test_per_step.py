"""Step-by-step runs (``per_step=True``): one top-level entry per segment, then ``paused``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import collect, kinds

from rxflow import (
    InMemoryStorage,
    ResumeError,
    SQLiteStorage,
    StepContext,
    Storage,
    create_step,
    create_workflow,
)
from rxflow.events import WorkflowPaused

START, STEP, RESULT, PROGRESS, PAUSED, FINISH = (
    "workflow-start",
    "workflow-step-start",
    "workflow-step-result",
    "workflow-step-progress",
    "workflow-paused",
    "workflow-finish",
)


def five(storage: Storage, ran: list[str]) -> Any:
    """A 5-entry workflow: a step, a parallel block, a step, a foreach, a step."""

    def add(step_id: str, n: int) -> Any:
        async def body(ctx: StepContext) -> int:
            ran.append(step_id)
            return int(ctx.input_data) + n

        return create_step(id=step_id, execute=body)

    return (
        create_workflow(id="five", storage=storage)
        .then(add("a", 1))
        .parallel([add("b", 1), add("c", 2)])
        .then(
            create_step(id="pair", execute=lambda ctx: [ctx.input_data["b"], ctx.input_data["c"]])
        )
        .foreach(add("item", 10), concurrency=1)
        .then(create_step(id="total", execute=lambda ctx: sum(ctx.input_data)))
        .commit()
    )


SEGMENTS = [
    [(STEP, "a"), (RESULT, "a")],
    [(STEP, "b"), (STEP, "c"), (RESULT, "b"), (RESULT, "c")],
    [(STEP, "pair"), (RESULT, "pair")],
    [(STEP, "item"), (PROGRESS, "item"), (PROGRESS, "item"), (RESULT, "item")],
    [(STEP, "total"), (RESULT, "total")],
]
STORED = [
    {"a": 1},
    {"a": 1, "b": 2, "c": 3},
    {"a": 1, "b": 2, "c": 3, "pair": [2, 3]},
    {"a": 1, "b": 2, "c": 3, "pair": [2, 3], "item": [12, 13]},
    {"a": 1, "b": 2, "c": 3, "pair": [2, 3], "item": [12, 13], "total": 25},
]


def outputs(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v["output"] for k, v in snapshot["context"].items() if k != "input"}


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_five_entries_one_segment_each_paused_until_the_last(
    store: str, tmp_path: Path
) -> None:
    storage: Storage = InMemoryStorage() if store == "memory" else SQLiteStorage(tmp_path / "r.db")
    ran: list[str] = []
    wf = five(storage, ran)
    run = await wf.create_run()
    try:
        for index, segment in enumerate(SEGMENTS):
            last = index == len(SEGMENTS) - 1
            if index == 0:
                output = run.stream(input_data=0, per_step=True)
            else:
                output = run.resume_stream(per_step=True)
            chunks = await collect(output)
            ending = [(FINISH, None)] if last else [(PAUSED, None), (FINISH, None)]
            assert kinds(chunks) == [(START, None), *segment, *ending]
            finish = chunks[-1].to_dict()["payload"]
            result = await output.result
            status = "success" if last else "paused"
            assert (finish["workflowStatus"], output.status, result.status) == (status,) * 3
            assert run.status == status
            if not last:
                assert chunks[-2] == WorkflowPaused(run_id=run.run_id)
                assert chunks[-2].to_dict() == {
                    "type": "workflow-paused",
                    "runId": run.run_id,
                    "from": "WORKFLOW",
                    "payload": {},
                }
                assert "finalWorkflowResult" not in finish and result.result is None
            stored = await storage.load_snapshot("five", run.run_id)
            assert stored is not None
            assert (stored["status"], outputs(stored)) == (status, STORED[index])
            record = await storage.get_run("five", run.run_id)
            assert record is not None and record.status == status
        assert result.result == 25
        assert ran == ["a", "b", "c", "item", "item"]
    finally:
        await storage.close()


async def test_resume_without_per_step_runs_the_rest_and_a_new_run_object_continues() -> None:
    storage = InMemoryStorage()
    ran: list[str] = []
    run = await five(storage, ran).create_run()
    paused = await run.start(input_data=0, per_step=True)
    assert (paused.status, paused.result, list(paused.steps)) == ("paused", None, ["a"])
    again = await five(storage, ran).get_run(run.run_id)
    assert again is not None and again.status == "paused"
    second = await again.resume(per_step=True)
    assert (second.status, sorted(second.steps)) == ("paused", ["a", "b", "c"])
    rest = await again.resume()
    assert (rest.status, rest.result) == ("success", 25)
    assert rest.step_execution_path == ["a", "b", "c", "pair", "item", "total"]
    assert ran == ["a", "b", "c", "item", "item"]


async def test_a_paused_run_refuses_resume_data_and_can_be_canceled() -> None:
    storage = InMemoryStorage()
    run = await five(storage, []).create_run()
    await run.start(input_data=0, per_step=True)
    with pytest.raises(ResumeError, match="is paused between two steps"):
        await run.resume(resume_data={"x": 1})
    with pytest.raises(TypeError, match="per_step must be a bool"):
        await run.resume(per_step="yes")  # type: ignore[arg-type]
    await run.cancel()
    stored = await storage.load_snapshot("five", run.run_id)
    assert stored["status"] == "canceled"


async def test_a_single_entry_workflow_ends_normally_and_a_failure_is_not_paused() -> None:
    storage = InMemoryStorage()

    async def boom(ctx: StepContext) -> int:
        raise ValueError("boom")

    wf = (
        create_workflow(id="one", storage=storage)
        .then(create_step(id="boom", execute=boom))
        .then(create_step(id="never", execute=lambda ctx: 1))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=0, per_step=True)
    chunks = await collect(output)
    assert kinds(chunks) == [(START, None), (STEP, "boom"), (RESULT, "boom"), (FINISH, None)]
    assert (await output.result).status == "failed"
    single = create_workflow(id="single", storage=storage).then(
        create_step(id="only", execute=lambda ctx: 7)
    )
    only = await single.commit().create_run()
    assert (await only.start(input_data=0, per_step=True)).result == 7


async def test_time_travel_step_by_step() -> None:
    storage = InMemoryStorage()
    ran: list[str] = []
    run = await five(storage, ran).create_run()
    assert (await run.start(input_data=0)).result == 25
    ran.clear()
    output = run.time_travel_stream(step="c", input_data=10, per_step=True)
    chunks = await collect(output)
    assert kinds(chunks) == [
        (START, None),
        (STEP, "c"),
        (RESULT, "c"),
        (PAUSED, None),
        (FINISH, None),
    ]
    assert (await output.result).status == "paused"
    stored = await storage.load_snapshot("five", run.run_id)
    assert (stored["status"], outputs(stored)) == ("paused", {"a": 1, "b": 2, "c": 12})
    rest = await run.resume()
    assert (rest.status, rest.result) == ("success", 12 + 22)
    assert ran == ["c", "item", "item"]
