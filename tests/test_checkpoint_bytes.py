"""What one checkpoint writes does not grow with the run: a step's checkpoint carries that step,
a foreach item's carries that item, not the results or items stored before them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rxflow import SQLiteStorage, StepContext, create_step, create_workflow
from rxflow.storage.records import Lease


class MeasuringSQLite(SQLiteStorage):
    """Notes the JSON size of each checkpoint's state and results (the bytes it writes)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sizes: list[int] = []
        self.stored = asyncio.Event()  # set by each checkpoint

    async def checkpoint(self, lease: Lease, **kwargs: Any) -> Lease:
        parts = (kwargs.get("state") or {}, kwargs.get("results") or {})
        self.sizes.append(len(json.dumps(parts, separators=(",", ":"))))
        renewed = await super().checkpoint(lease, **kwargs)
        self.stored.set()
        return renewed


async def _next(ctx: StepContext) -> dict[str, Any]:
    return {"n": ctx.input_data["n"] + 1, "text": "x" * 200}


def _square_after_a_checkpoint(storage: MeasuringSQLite) -> Any:
    """An item body that first waits for a checkpoint, so that each item's is a write of its
    own (items settling together would share one: group commit)."""

    async def square(ctx: StepContext) -> dict[str, Any]:
        await storage.stored.wait()
        storage.stored.clear()
        return {"square": ctx.input_data * ctx.input_data, "text": "y" * 200}

    return square


async def test_a_chain_checkpoint_does_not_grow_with_the_steps_before(tmp_path: Path) -> None:
    storage = MeasuringSQLite(tmp_path / "runs.db")
    wf = create_workflow(id="chain", storage=storage, durability="sync")
    for k in range(200):
        wf.then(create_step(id=f"s{k:03d}", execute=_next))
    wf = wf.commit()
    run = await wf.create_run()
    result = await run.start(input_data={"n": 0, "text": ""})
    assert result.status == "success" and result.result["n"] == 200

    # the first checkpoint carries the run's graph once; the last one ends the run
    per_step = storage.sizes[2:-1]
    assert len(per_step) == 198
    # only counters grow (1 to 3 digits: n in the step's input and output, its entry index,
    # its place in the path), never by what earlier steps wrote
    assert max(per_step) - min(per_step) <= 16
    stored = await storage.load_snapshot("chain", run.run_id)
    assert stored is not None
    assert stored["stepExecutionPath"] == [f"s{k:03d}" for k in range(200)]
    assert stored["context"]["s199"]["output"]["n"] == 200
    await storage.close()


async def test_a_foreach_checkpoint_carries_its_item_not_the_items_before(
    tmp_path: Path,
) -> None:
    storage = MeasuringSQLite(tmp_path / "runs.db")
    reader = SQLiteStorage(tmp_path / "runs.db")
    wf = (
        create_workflow(id="each", storage=storage, durability="sync")
        .foreach(
            create_step(id="square", execute=_square_after_a_checkpoint(storage)), concurrency=1
        )
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=list(range(100)))
    async for chunk in output:
        if chunk.type == "workflow-step-progress":
            # sync: the item a progress event reports is stored before the event is read
            # (the block may have ended since: then its result holds the item)
            stored = await reader.load_snapshot("each", run.run_id)
            assert stored is not None
            block = stored["context"]["square"]
            index = chunk.payload.current_index
            if block["status"] == "running":
                progress = block["metadata"]["foreach"]
                assert index in progress["done"]
                assert progress["outputs"][index]["square"] == index * index
            else:
                assert block["output"][index]["square"] == index * index
    result = await output.result
    assert result.status == "success"
    assert [o["square"] for o in result.result] == [i * i for i in range(100)]

    item_sizes = storage.sizes[2:-2]  # after the block's first write, before its end
    assert len(item_sizes) >= 95
    assert max(item_sizes) - min(item_sizes) <= 16  # one item each, whatever came before
    stored = await storage.load_snapshot("each", run.run_id)
    assert stored is not None and stored["context"]["square"]["status"] == "success"
    await reader.close()
    await storage.close()
