"""Stored snapshots: their documented keys, when they are written, and unreadable ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _steps import PaymentDeclined, add_one, ask, echo
from conftest import _poll_until, collect, now_ms, within

from rxflow import (
    InMemoryStorage,
    RequestContext,
    SQLiteStorage,
    StorageError,
    create_step,
    create_workflow,
)

# --- what a run writes, and when --------------------------------------------------------------


SNAPSHOT_KEYS = {
    "runId",
    "status",
    "value",
    "context",
    "activePaths",
    "suspendedPaths",
    "resumeLabels",
    "stepExecutionPath",
    "serializedStepGraph",
    "result",
    "error",
    "requestContext",
    "tracingContext",
    "timestamp",
    "version",
}


async def test_a_run_writes_a_snapshot_with_every_documented_key(storage: Any) -> None:
    async def first(ctx: Any) -> Any:
        ctx.set_state({"n": 1})
        return {"user_key": ctx.input_data}

    wf = (
        create_workflow(id="snap", storage=storage)
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=echo))
        .commit()
    )
    run = await wf.create_run(run_id="s-1", resource_id="owner")
    pending = await storage.get_run("snap", "s-1")
    assert pending.status == "pending" and pending.resource_id == "owner"

    before = now_ms()
    result = await run.start(input_data=5, request_context=RequestContext({"who": "me"}))
    snapshot = await storage.load_snapshot("snap", "s-1")
    assert SNAPSHOT_KEYS <= set(snapshot)
    assert snapshot["runId"] == "s-1"
    assert snapshot["status"] == "success"
    assert snapshot["value"] == {"n": 1}
    assert snapshot["context"]["input"] == 5
    assert snapshot["context"]["first"]["output"] == {"user_key": 5}
    assert snapshot["context"]["second"]["status"] == "success"
    assert snapshot["stepExecutionPath"] == ["first", "second"]
    assert snapshot["result"] == {"user_key": 5}
    assert snapshot["error"] is None
    assert snapshot["requestContext"] == {"who": "me"}
    assert isinstance(snapshot["version"], int)
    assert isinstance(snapshot["timestamp"], int) and snapshot["timestamp"] >= before
    assert isinstance(snapshot["serializedStepGraph"], list)
    json.dumps(snapshot)
    assert result.to_dict()["steps"]["first"] == snapshot["context"]["first"]


async def test_suspended_and_failed_snapshots(storage: Any) -> None:
    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"q": 1}, resume_label="manager")
        raise PaymentDeclined("declined")

    wf = (
        create_workflow(id="snap2", storage=storage)
        .then(create_step(id="approve", execute=approve))
        .commit()
    )
    run = await wf.create_run(run_id="s-2")
    await run.start(input_data=None)
    snapshot = await storage.load_snapshot("snap2", "s-2")
    assert snapshot["status"] == "suspended"
    assert "approve" in snapshot["suspendedPaths"]
    assert "manager" in snapshot["resumeLabels"]
    assert snapshot["context"]["approve"]["suspendPayload"] == {"q": 1}

    result = await run.resume(label="manager", resume_data=1)
    assert result.status == "failed"
    snapshot = await storage.load_snapshot("snap2", "s-2")
    assert snapshot["status"] == "failed"
    assert snapshot["error"] == {"message": "declined", "name": "PaymentDeclined"}
    assert snapshot["suspendedPaths"] == {}


async def test_snapshot_writes_finish_before_result_resolves(storage: Any) -> None:
    wf = (
        create_workflow(id="ordered", storage=storage)
        .then(create_step(id="a", execute=add_one))
        .then(create_step(id="b", execute=add_one))
        .commit()
    )
    result = await (await wf.create_run(run_id="o-1")).start(input_data=1)
    record = await storage.get_run("ordered", "o-1")
    assert (record.status, record.snapshot["result"]) == ("success", result.result)

    output = (await wf.create_run(run_id="o-2")).stream(input_data=1)
    await within(output.result)
    record = await storage.get_run("ordered", "o-2")
    assert record.status == "success"
    assert record.snapshot["stepExecutionPath"] == ["a", "b"]
    await within(collect(output))


async def _progress_seen_while_running(storage: Any) -> list[Any]:
    seen: list[Any] = []

    async def a(ctx: Any) -> Any:
        return "a done"

    async def b(ctx: Any) -> Any:
        async def after_a() -> Any:
            record = await storage.get_run("progress", ctx.run_id)
            return record if "a" in record.snapshot["stepExecutionPath"] else None

        record = await _poll_until(after_a)
        seen.append((record.status, record.snapshot["context"]["a"]["output"]))
        return None

    wf = (
        create_workflow(id="progress", storage=storage)
        .then(create_step(id="a", execute=a))
        .then(create_step(id="b", execute=b))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    return seen


async def test_the_store_holds_progress_after_each_top_level_entry(storage: Any) -> None:
    assert await _progress_seen_while_running(storage) == [("running", "a done")]


# --- snapshots that cannot be read ------------------------------------------------------------


async def test_an_unsupported_snapshot_version_fails_loudly() -> None:
    storage = InMemoryStorage()
    wf = (
        create_workflow(id="versions", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="v-1")).start(input_data=None)
    stored = await storage.load_snapshot("versions", "v-1")
    await storage.persist_snapshot("versions", "v-2", {**stored, "runId": "v-2", "version": 999})

    fresh = (
        create_workflow(id="versions", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await fresh.create_run(run_id="v-2")
        await run.resume(resume_data=1)


async def test_an_unreadable_sqlite_snapshot_raises_storage_error_when_attaching(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.db"
    storage = SQLiteStorage(path)
    wf = (
        create_workflow(id="unreadable", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="u-1")).start(input_data=None)
    await storage.close()
    with sqlite3.connect(path) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert "rxflow_workflow_snapshot" in tables
        conn.execute(
            "UPDATE rxflow_workflow_snapshot SET snapshot = '{broken' WHERE run_id = 'u-1'"
        )
    conn.close()

    reopened = SQLiteStorage(path)
    wf2 = (
        create_workflow(id="unreadable", storage=reopened)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        await reopened.load_snapshot("unreadable", "u-1")
    with pytest.raises(StorageError):
        await wf2.create_run(run_id="u-1")
    await reopened.close()


async def test_a_snapshot_without_a_version_is_a_storage_error() -> None:
    storage = InMemoryStorage()
    await storage.persist_snapshot("no-version", "nv-1", {"runId": "nv-1", "status": "suspended"})
    wf = (
        create_workflow(id="no-version", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await wf.create_run(run_id="nv-1")
        await run.resume(resume_data=1)


async def test_a_malformed_snapshot_is_a_storage_error() -> None:
    storage = InMemoryStorage()
    wf = (
        create_workflow(id="malformed", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    await (await wf.create_run(run_id="m-1")).start(input_data=None)
    stored = await storage.load_snapshot("malformed", "m-1")
    await storage.persist_snapshot("malformed", "m-2", {**stored, "runId": "m-2", "context": [1]})
    fresh = (
        create_workflow(id="malformed", storage=storage)
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    with pytest.raises(StorageError):
        run = await fresh.create_run(run_id="m-2")
        await run.resume(resume_data=1)
