"""Run ids: random UUID4 strings by default, distinct across forked workers; a given id is kept."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from _steps import echo

from rxflow import SQLiteStorage, create_step, create_workflow
from rxflow.engine.state import new_call_id
from rxflow.storage import sqlite_runs


def is_uuid4(text: str) -> bool:
    parsed = uuid.UUID(text)
    return parsed.version == 4 and str(parsed) == text


def build(storage: Any) -> Any:
    return (
        create_workflow(id="ids", storage=storage).then(create_step(id="s", execute=echo)).commit()
    )


async def test_a_new_run_gets_a_uuid4_string() -> None:
    wf = build(None)
    first, second = await wf.create_run(), await wf.create_run()
    assert isinstance(first.run_id, str) and is_uuid4(first.run_id)
    assert is_uuid4(second.run_id) and second.run_id != first.run_id
    result = await first.start(input_data=1)
    assert result.run_id == first.run_id


async def test_a_given_run_id_is_kept(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = build(storage)
    run = await wf.create_run(run_id="order-17")
    assert run.run_id == "order-17"
    assert (await run.start(input_data=2)).run_id == "order-17"
    record = await storage.get_run("ids", "order-17")
    assert record is not None and record.snapshot is not None
    assert record.snapshot["runId"] == "order-17"
    await storage.close()


# --- workers forked after import (a prefork server, gunicorn --preload) ----------------------

RUNS_PER_WORKER = 5


def _worker(db: str, ids: Any) -> None:
    async def main() -> None:
        storage = SQLiteStorage(db)
        wf = build(storage)
        for _ in range(RUNS_PER_WORKER):
            run = await wf.create_run()
            await run.start(input_data=run.run_id)
            ids.put(("run", run.run_id))
        ids.put(("call", new_call_id()))
        await storage.close()

    asyncio.run(main())


def test_workers_forked_after_import_make_distinct_run_ids(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    new_call_id()  # the parent has made ids before forking, as an imported app may
    context = multiprocessing.get_context("fork")
    ids = context.Queue()
    workers = [context.Process(target=_worker, args=(db, ids)) for _ in range(3)]
    for worker in workers:
        worker.start()
    made = [ids.get(timeout=60) for _ in range(3 * (RUNS_PER_WORKER + 1))]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    run_ids = [value for kind, value in made if kind == "run"]
    assert len(run_ids) == 15 and len(set(run_ids)) == 15
    assert all(is_uuid4(run_id) for run_id in run_ids)
    call_heads = {value.rpartition("-")[0] for kind, value in made if kind == "call"}
    assert len(call_heads) == 3  # each worker draws its own step call id prefix
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT run_id, status FROM rxflow_workflow_snapshot WHERE workflow_id = 'ids'"
        ).fetchall()
        # every run kept its own result: none overwrote another's row
        results = {
            run_id: (sqlite_runs.load_snapshot(conn, "ids", run_id) or {}).get("result")
            for run_id, _ in rows
        }
    conn.close()
    assert sorted(run_id for run_id, _ in rows) == sorted(run_ids)
    assert {status for _, status in rows} == {"success"}
    assert results == {run_id: run_id for run_id in run_ids}
