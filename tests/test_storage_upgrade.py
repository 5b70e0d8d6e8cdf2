"""A SQLite file written by rxflow 0.1.0 (schema version 1) is upgraded in place when opened.

``fixtures/storage_v1.db`` was made by that version with ``fixtures/make_storage_v1.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rxflow import create_step, create_workflow
from rxflow.errors import StorageError
from rxflow.storage import RunRecord, SQLiteStorage

FIXTURE = Path(__file__).with_name("fixtures") / "storage_v1.db"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    shutil.copyfile(FIXTURE, path)
    return path


def rows_as_written(path: Path) -> list[RunRecord]:
    """The runs as version 1 stored them, read with plain sqlite3 (before any upgrade)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT workflow_id, run_id, resource_id, status, snapshot, created_at, updated_at"
            " FROM rxflow_workflow_snapshot ORDER BY created_at DESC, rowid DESC"
        ).fetchall()
    finally:
        conn.close()
    return [RunRecord(*row[:4], json.loads(row[4]), *row[5:]) for row in rows]


def tables(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: [c[1] for c in conn.execute(f"PRAGMA table_info({n})")] for n in names}
    finally:
        conn.close()


async def test_the_fixture_is_a_version_1_file() -> None:
    assert set(tables(FIXTURE)) == {"rxflow_workflow_snapshot"}
    assert [(r.run_id, r.status) for r in rows_as_written(FIXTURE)] == [
        ("order-1", "running"),
        ("doc-3", "pending"),
        ("doc-2", "success"),
        ("doc-1", "suspended"),
    ]


async def test_every_run_reads_back_as_it_was_written(old_file: Path) -> None:
    before = rows_as_written(old_file)

    async with SQLiteStorage(old_file) as storage:
        listed = await storage.list_runs(limit=10)
        one_by_one = [await storage.get_run(r.workflow_id, r.run_id) for r in before]
        snapshots = [await storage.load_snapshot(r.workflow_id, r.run_id) for r in before]

    assert listed.runs == before and listed.total == 4
    assert one_by_one == before
    assert snapshots == [r.snapshot for r in before]


async def test_the_upgrade_adds_the_new_tables_and_columns(old_file: Path) -> None:
    async with SQLiteStorage(old_file):
        pass

    found = tables(old_file)
    assert set(found) == {"rxflow_workflow_snapshot", "rxflow_step_result", "rxflow_schema_version"}
    assert found["rxflow_workflow_snapshot"][7:] == [
        "patch",
        "results_base",
        "lease_owner",
        "lease_version",
        "lease_expires_at",
        "lease_host",
        "lease_pid",
        "cancel_requested",
    ]
    conn = sqlite3.connect(old_file)
    assert conn.execute("SELECT version FROM rxflow_schema_version").fetchall() == [(2,)]
    conn.close()


async def test_upgraded_runs_take_part_in_leases(old_file: Path) -> None:
    async with SQLiteStorage(old_file) as storage:
        orphans = await storage.list_runs(orphaned=True)
        assert [r.run_id for r in orphans.runs] == ["order-1"]  # running, and nobody holds it

        lease = await storage.claim_run("order", "order-1", "restarting", expected="running")
        assert lease is not None and lease.version == 1
        await storage.checkpoint(lease, results={"ship": {"status": "success"}})
        snapshot = await storage.load_snapshot("order", "order-1")
        assert snapshot is not None and list(snapshot["context"]) == ["input", "charge", "ship"]

        assert await storage.request_cancel("review", "doc-1") == "canceled"


async def test_a_suspended_run_of_the_old_file_resumes(old_file: Path) -> None:
    async def prepare(ctx: Any) -> Any:
        return {"doc": ctx.input_data, "pages": 3}

    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"ask": f"approve {ctx.input_data['doc']}?"})
        return {**ctx.input_data, "approved": ctx.resume_data}

    async def notify(ctx: Any) -> Any:
        return {"sent": True, **ctx.input_data}

    wf = (
        create_workflow(id="review", storage=SQLiteStorage(old_file))
        .then(create_step(id="prepare", execute=prepare))
        .then(create_step(id="approve", execute=approve))
        .then(create_step(id="notify", execute=notify))
        .commit()
    )
    try:
        run = await wf.create_run(run_id="doc-1")
        result = await run.resume(resume_data="lgtm")
    finally:
        await wf.storage.close()

    assert result.status == "success"
    assert result.result == {"sent": True, "doc": "spec.md", "pages": 3, "approved": "lgtm"}


async def test_a_file_of_a_newer_schema_is_refused(old_file: Path) -> None:
    async with SQLiteStorage(old_file):
        pass
    conn = sqlite3.connect(old_file)
    with conn:
        conn.execute("UPDATE rxflow_schema_version SET version = 3")
    conn.close()

    storage = SQLiteStorage(old_file)
    with pytest.raises(StorageError, match="newer rxflow \\(schema version 3\\).*up to 2"):
        await storage.list_runs()
    await storage.close()


UPGRADE = """
import asyncio, json, sys
from rxflow.storage import SQLiteStorage
async def main():
    print("ready", flush=True)
    sys.stdin.readline()
    async with SQLiteStorage(sys.argv[1]) as storage:
        print(json.dumps((await storage.list_runs()).total), flush=True)
asyncio.run(main())
"""


async def test_processes_opening_an_old_file_at_once_upgrade_it_once(old_file: Path) -> None:
    env_path = str(PROJECT_ROOT)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE, str(old_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": env_path, "PATH": ""},
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()

    outcomes = await asyncio.to_thread(lambda: [p.communicate(timeout=60) for p in procs])

    assert [(p.returncode, out, err) for p, (out, err) in zip(procs, outcomes, strict=True)] == [
        (0, "4\n", "")
    ] * 4
    conn = sqlite3.connect(old_file)
    assert conn.execute("SELECT version FROM rxflow_schema_version").fetchall() == [(2,)]
    conn.close()
