"""Checkpoint modes in one process: what each writes, when readers see results, bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rxflow import SQLiteStorage, StepContext, WorkflowDefinitionError, create_step, create_workflow
from rxflow.storage.records import Lease


class CountingSQLite(SQLiteStorage):
    """Counts the run's own writes: whole snapshots and checkpoints."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.snapshots = 0
        self.checkpoints = 0

    async def persist_snapshot(self, *args: Any, **kwargs: Any) -> None:
        self.snapshots += 1
        await super().persist_snapshot(*args, **kwargs)

    async def checkpoint(self, lease: Lease, **kwargs: Any) -> Lease:
        self.checkpoints += 1
        return await super().checkpoint(lease, **kwargs)


async def _add_one(ctx: StepContext) -> int:
    return int(ctx.input_data) + 1


def _chain(storage: SQLiteStorage, steps: int = 5, **options: Any) -> Any:
    wf = create_workflow(id="chain", storage=storage, **options)
    for k in range(steps):
        wf.then(create_step(id=f"s{k}", execute=_add_one))
    return wf.commit()


@pytest.mark.parametrize(("mode", "checkpoints"), [("sync", 6), ("exit", 2)])
async def test_writes_of_a_five_step_chain(tmp_path: Path, mode: str, checkpoints: int) -> None:
    storage = CountingSQLite(tmp_path / "runs.db")
    wf = _chain(storage, durability=mode)
    run = await wf.create_run()
    result = await run.start(input_data=0)
    assert (result.status, result.result) == ("success", 5)
    # sync: one group-committed write per entry, then the end; exit: the start and the end.
    assert (storage.snapshots, storage.checkpoints) == (1, checkpoints)
    stored = await storage.load_snapshot("chain", run.run_id)
    assert stored is not None and stored["status"] == "success"
    assert [stored["context"][f"s{k}"]["output"] for k in range(5)] == [1, 2, 3, 4, 5]
    assert [r.key for r in await storage.load_results("chain", run.run_id)].count("s0") == 1
    await storage.close()


async def test_a_run_verb_overrides_the_workflow_mode(tmp_path: Path) -> None:
    storage = CountingSQLite(tmp_path / "runs.db")
    wf = _chain(storage, durability="sync")
    run = await wf.create_run()
    assert (await run.start(input_data=0, durability="exit")).result == 5
    assert storage.checkpoints == 2
    await storage.close()


async def test_sync_mode_a_result_event_is_stored_before_it_is_read(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = _chain(storage)  # sync is the default
    run = await wf.create_run()
    seen = []
    async for chunk in run.stream(input_data=0):
        if chunk.type == "workflow-step-result":
            stored = await storage.load_snapshot("chain", run.run_id)
            assert stored is not None
            seen.append((chunk.payload.id, stored["context"][chunk.payload.id]["status"]))
    assert seen == [(f"s{k}", "success") for k in range(5)]
    await storage.close()


async def test_unknown_modes_are_refused_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="w", durability="fast")  # type: ignore[arg-type]
    assert (
        str(caught.value)
        == "workflow 'w': durability must be 'sync', 'async' or 'exit', got 'fast'"
    )
    storage = SQLiteStorage(tmp_path / "runs.db")
    run = await _chain(storage).create_run()
    with pytest.raises(ValueError) as bad:
        await run.start(input_data=0, durability="later")  # type: ignore[arg-type]
    assert str(bad.value) == "durability must be 'sync', 'async' or 'exit', got 'later'"
    assert run.status == "pending"
    await storage.close()
