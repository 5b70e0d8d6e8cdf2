"""``SQLiteStorage`` beyond the shared contract: its file, its thread, its errors, processes.

The contract every store meets is in ``storage_conformance``; the in-memory store's own
behaviour in ``test_storage_memory.py``, the upgrade of older files in ``test_storage_upgrade.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rxflow
from rxflow.errors import StorageError
from rxflow.storage import InMemoryStorage, RunList, RunRecord, SQLiteStorage

T0 = 1_700_000_000_000
WORKER = Path(__file__).with_name("storage_worker.py")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def clock() -> int:
    return T0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


# -- SQLiteStorage ------------------------------------------------------------------------------


async def test_sqlite_survives_reopening_the_file(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "suspended"), resource_id="u1")
        await storage.update_status("wf", "r1", "waiting")
        before = await storage.get_run("wf", "r1")

    async with SQLiteStorage(str(db_path)) as reopened:
        assert await reopened.get_run("wf", "r1") == before
        assert (await reopened.list_runs()).total == 1


async def test_sqlite_file_is_in_wal_mode_with_the_documented_tables(db_path: Path) -> None:
    async with SQLiteStorage(db_path, clock=clock) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="u1")
        lease = await storage.claim_run("wf", "r1", "running", expected="pending", owner="o")
        assert lease is not None
        await storage.checkpoint(lease, state={"value": {"n": 1}}, results={"a": {"output": 2}})

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM rxflow_schema_version").fetchall() == [(2,)]
        row = conn.execute(
            "SELECT workflow_id, run_id, resource_id, status, snapshot, patch, lease_owner,"
            " lease_version, lease_expires_at, lease_pid, cancel_requested"
            " FROM rxflow_workflow_snapshot"
        ).fetchone()
        results = conn.execute(
            "SELECT workflow_id, run_id, key, attempt, result, written_at FROM rxflow_step_result"
        ).fetchall()
    conn.close()
    assert row == (
        "wf",
        "r1",
        "u1",
        "running",
        json.dumps(snap("r1", "pending"), separators=(",", ":")),  # as persisted, never rewritten
        '{"status":"running","value":{"n":1}}',  # what claims and checkpoints changed since
        "o",
        1,
        T0 + 30_000,
        os.getpid(),
        0,
    )
    assert results == [("wf", "r1", "a", 0, '{"output":2}', T0)]


async def test_sqlite_keeps_writes_in_call_order(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        writes = [
            storage.persist_snapshot("wf", "r1", snap("r1", "running", value={"i": i}))
            for i in range(50)
        ]
        await asyncio.gather(*writes)
        assert await storage.load_snapshot("wf", "r1") == snap("r1", "running", value={"i": 49})


async def test_sqlite_carries_out_a_write_whose_caller_was_cancelled(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        gate = threading.Event()
        # Hold the connection on the worker, so the write below cannot run at once and queues.
        held = asyncio.ensure_future(storage.worker.call("hold", lambda conn: gate.wait()))
        await asyncio.sleep(0)
        try:
            task = asyncio.create_task(storage.persist_snapshot("wf", "r1", snap("r1", "canceled")))
            await asyncio.sleep(0)  # one loop step: the task makes its call and waits
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            gate.set()
        await held

        assert await storage.load_snapshot("wf", "r1") == snap("r1", "canceled")


async def test_sqlite_in_memory_database() -> None:
    async with SQLiteStorage(":memory:", clock=clock) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "success"))
        assert await storage.get_run("wf", "r1") == RunRecord(
            "wf", "r1", None, "success", snap("r1", "success"), T0, T0
        )


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        ("{not json", "cannot be read"),
        ("[1, 2]", "JSON list, not an object"),
        ("", "cannot be read"),
    ],
)
async def test_sqlite_unreadable_snapshot_raises_storage_error(
    db_path: Path, garbage: str, reason: str
) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "bad-run", snap("bad-run", "suspended"))
        await storage.persist_snapshot("other-wf", "ok", snap("ok", "success"))
        with sqlite3.connect(db_path) as conn:
            conn.execute(
                "UPDATE rxflow_workflow_snapshot SET snapshot = ? WHERE run_id = 'bad-run'",
                (garbage,),
            )
        conn.close()

        calls = [
            storage.load_snapshot("wf", "bad-run"),
            storage.get_run("wf", "bad-run"),
            storage.update_status("wf", "bad-run", "running", expected="suspended"),
            storage.claim_run("wf", "bad-run", "running", expected="suspended"),
        ]
        for call in calls:
            with pytest.raises(StorageError, match=f"'bad-run'.*{reason}"):
                await call
        # Listing reports the bad run in its row; the other runs still read fine.
        listed = await storage.list_runs()
        assert [(r.run_id, r.snapshot is None) for r in listed.runs] == [
            ("ok", False),
            ("bad-run", True),
        ]
        assert listed.runs[1].error is not None
        assert listed.runs[1].error.startswith("stored snapshot of run 'bad-run' of workflow 'wf'")
        assert reason in listed.runs[1].error
        record = await storage.get_run("other-wf", "ok")
        assert record is not None and record.snapshot == snap("ok", "success")
        assert await storage.delete_run("wf", "bad-run") is True


async def test_sqlite_reports_an_unreadable_result_in_its_row(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await storage.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        await storage.checkpoint(lease, results={"a": {"output": 1}})
        with sqlite3.connect(db_path) as conn:
            conn.execute("UPDATE rxflow_step_result SET result = '{oops'")
        conn.close()

        with pytest.raises(StorageError, match="stored result 'a' of run 'r1'.*cannot be read"):
            await storage.load_snapshot("wf", "r1")
        with pytest.raises(StorageError, match="stored result 'a' of run 'r1'"):
            await storage.load_results("wf", "r1")
        (listed,) = (await storage.list_runs()).runs
        assert listed.snapshot is None and listed.error is not None
        assert listed.error.startswith("stored result 'a' of run 'r1' of workflow 'wf'")


async def test_sqlite_a_checkpoint_that_is_not_json_data_writes_nothing(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await storage.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        before = await storage.get_run("wf", "r1")

        with pytest.raises(StorageError, match="result 'b' of run 'r1'.*not JSON data"):
            await storage.checkpoint(
                lease, state={"value": {"n": 1}}, results={"a": {"ok": 1}, "b": {"bad": {1}}}
            )
        with pytest.raises(StorageError, match="snapshot of run 'r1'.*not JSON data"):
            await storage.checkpoint(lease, state={"value": {1, 2}})

        assert await storage.get_run("wf", "r1") == before
        assert await storage.load_results("wf", "r1") == []
        await storage.checkpoint(lease, results={"a": {"ok": 1}})  # still usable
        assert [r.attempt for r in await storage.load_results("wf", "r1")] == [0]


async def test_sqlite_refuses_a_snapshot_that_is_not_json_data(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        with pytest.raises(StorageError, match="'r1'.*not JSON data"):
            await storage.persist_snapshot("wf", "r1", snap("r1", "running", value={1, 2}))
        assert await storage.get_run("wf", "r1") is None
        await storage.persist_snapshot("wf", "r1", snap("r1", "running"))  # still usable


async def test_sqlite_errors_are_wrapped_with_their_cause(tmp_path: Path) -> None:
    not_a_database = tmp_path / "junk.db"
    not_a_database.write_bytes(b"this is not an SQLite file" * 100)
    storage = SQLiteStorage(not_a_database)

    with pytest.raises(StorageError, match="junk.db") as caught:
        await storage.get_run("wf", "r1")
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    await storage.close()


async def test_sqlite_reports_a_lock_held_past_busy_timeout(db_path: Path) -> None:
    async with SQLiteStorage(db_path, busy_timeout_ms=0) as storage:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file
        with pytest.raises(StorageError, match="'r1'.*locked") as caught:
            await storage.persist_snapshot("wf", "r1", snap("r1", "running"))
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert await storage.get_run("wf", "r1") is None  # readers are not blocked in WAL mode

        other.execute("ROLLBACK")
        other.close()
        await storage.persist_snapshot("wf", "r1", snap("r1", "running"))
        assert await storage.load_snapshot("wf", "r1") == snap("r1", "running")


async def test_sqlite_needs_an_existing_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no directory"):
        SQLiteStorage(tmp_path / "missing" / "runs.db")


# -- SQLiteStorage across processes -------------------------------------------------------------


def start_workers(argv_list: list[list[str]]) -> list[subprocess.Popen[str]]:
    """Start the workers and wait until each says ``ready`` (nobody starts before ``go``)."""
    paths = [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for argv in argv_list
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != "ready\n":
            proc.kill()
            pytest.fail(f"worker did not get ready: {line!r} {proc.communicate()[1]}")
    return procs


def release(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def results(procs: list[subprocess.Popen[str]]) -> Iterator[Any]:
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert err == ""
        yield json.loads(out)


async def test_four_processes_write_one_file_at_once(db_path: Path) -> None:
    procs = start_workers([["write", str(db_path), str(k), "200"] for k in range(4)])
    release(procs)

    outcome = await asyncio.to_thread(lambda: list(results(procs)))

    assert outcome == [{"written": 200}] * 4
    async with SQLiteStorage(db_path) as storage:
        listed = await storage.list_runs("wf", limit=1000)
        assert listed.total == 800
        assert {r.run_id for r in listed.runs} == {
            f"w{k}-{i}" for k in range(4) for i in range(200)
        }
        for k in range(4):
            assert (await storage.list_runs(resource_id=f"worker-{k}")).total == 200
        record = await storage.get_run("wf", "w3-199")
        assert record is not None and record.snapshot["value"] == {"i": 199}


async def test_one_claim_wins_across_tasks_and_processes(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as first, SQLiteStorage(db_path) as second:
        await first.persist_snapshot("wf", "contested", snap("contested", "suspended"))
        await second.get_run("wf", "contested")  # both connections open before the race
        procs = start_workers([["claim", str(db_path)] for _ in range(4)])
        release(procs)

        claims = [
            (first if i % 2 else second).update_status(
                "wf", "contested", "running", expected="suspended"
            )
            for i in range(10)
        ]
        in_process = await asyncio.gather(*claims)
        in_workers = [r["won"] for r in await asyncio.to_thread(lambda: list(results(procs)))]

        assert (in_process + in_workers).count(True) == 1
        assert len(in_process + in_workers) == 14
        record = await first.get_run("wf", "contested")
        assert record is not None
        assert (record.status, record.snapshot["status"]) == ("running", "running")


# --- the protocol's signatures and listing ----------------------------------------------------


EXPECTED_SIGNATURES = {
    "persist_snapshot": "(self, workflow_id, run_id, snapshot, *, resource_id=None)",
    "load_snapshot": "(self, workflow_id, run_id)",
    "update_status": "(self, workflow_id, run_id, status, *, expected=None)",
    "get_run": "(self, workflow_id, run_id)",
    "list_runs": (
        "(self, workflow_id=None, *, status=None, resource_id=None, limit=100, offset=0,"
        " orphaned=False)"
    ),
    "delete_run": "(self, workflow_id, run_id)",
    "delete_runs": "(self, *, workflow_id=None, older_than=None, status=None)",
    "claim_run": "(self, workflow_id, run_id, status, *, expected, owner=None)",
    "renew_lease": "(self, lease)",
    "release_lease": "(self, lease)",
    "checkpoint": "(self, lease, *, state=None, results=None, release=False)",
    "load_results": "(self, workflow_id, run_id)",
    "request_cancel": "(self, workflow_id, run_id)",
    "cancel_requested": "(self, workflow_id, run_id)",
    "close": "(self)",
}


def _bare_signature(function: Any) -> str:
    signature = inspect.signature(function)
    bare = signature.replace(
        parameters=[
            p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )
    return str(bare)


@pytest.mark.parametrize("cls", [rxflow.Storage, InMemoryStorage, SQLiteStorage])
@pytest.mark.parametrize("method", sorted(EXPECTED_SIGNATURES))
def test_storage_protocol_signatures(cls: Any, method: str) -> None:
    function = getattr(cls, method)
    assert inspect.iscoroutinefunction(function)
    assert _bare_signature(function) == EXPECTED_SIGNATURES[method]


def _snap(run_id: str, status: str) -> dict[str, Any]:
    return snap(run_id, status, version=1)


async def test_storage_compare_and_set_and_listing(storage: Any) -> None:
    await storage.persist_snapshot("wf", "a", _snap("a", "suspended"), resource_id="user-1")
    await storage.persist_snapshot("wf", "b", _snap("b", "pending"))
    await storage.persist_snapshot("other", "c", _snap("c", "pending"), resource_id="user-1")

    assert await storage.update_status("wf", "a", "running", expected="pending") is False
    assert (await storage.get_run("wf", "a")).status == "suspended"
    assert await storage.update_status("wf", "a", "running", expected=("pending", "suspended"))
    record = await storage.get_run("wf", "a")
    assert record.status == "running" and record.snapshot["status"] == "running"
    assert (await storage.load_snapshot("wf", "a"))["status"] == "running"
    assert record.resource_id == "user-1"
    assert await storage.update_status("wf", "a", "canceled") is True
    assert await storage.update_status("wf", "missing", "canceled") is False
    assert await storage.update_status("wf", "missing", "canceled", expected="running") is False

    everything = await storage.list_runs()
    assert isinstance(everything, RunList) and everything.total == 3
    assert [r.run_id for r in everything.runs] == ["c", "b", "a"]  # newest first
    assert [r.run_id for r in (await storage.list_runs("wf")).runs] == ["b", "a"]
    assert [r.run_id for r in (await storage.list_runs(resource_id="user-1")).runs] == ["c", "a"]
    assert [r.run_id for r in (await storage.list_runs(status="pending")).runs] == ["c", "b"]
    page = await storage.list_runs(limit=1, offset=1)
    assert ([r.run_id for r in page.runs], page.total) == (["b"], 3)

    assert await storage.delete_run("wf", "b") is True
    assert await storage.delete_run("wf", "b") is False
    assert await storage.get_run("wf", "b") is None
    assert await storage.load_snapshot("wf", "b") is None


# -- capabilities: durable, and the live-snapshot lane -------------------------------------------


class RecordingMemory(InMemoryStorage):
    """A subclass of the in-memory store that records the snapshots handed to it."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        super().__init__()
        self.written: list[dict[str, Any]] = []

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        self.written.append(snapshot)
        await super().persist_snapshot(workflow_id, run_id, snapshot, resource_id=resource_id)


class PlainStore:
    """A user's store that declares no capability (it wraps the in-memory one)."""

    def __init__(self) -> None:
        self.inner = InMemoryStorage()
        self.written: list[dict[str, Any]] = []

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        self.written.append(snapshot)
        await self.inner.persist_snapshot(workflow_id, run_id, snapshot, resource_id=resource_id)

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        return await self.inner.load_snapshot(workflow_id, run_id)

    async def update_status(self, workflow_id: str, run_id: str, status: str, **kw: Any) -> bool:
        return await self.inner.update_status(workflow_id, run_id, status, **kw)

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        return await self.inner.get_run(workflow_id, run_id)

    async def list_runs(self, *args: Any, **kwargs: Any) -> RunList:
        return await self.inner.list_runs(*args, **kwargs)

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        return await self.inner.delete_run(workflow_id, run_id)

    async def close(self) -> None:
        await self.inner.close()


def _two_step_workflow(store: Any, seen: list[dict[str, Any] | None]) -> Any:
    from rxflow import create_step, create_workflow

    async def first(ctx: Any) -> int:
        await asyncio.sleep(0.01)  # yields: a durable store's trail is written meanwhile
        return int(ctx.input_data) + 1

    async def second(ctx: Any) -> int:
        await asyncio.sleep(0.01)
        seen.append(await store.load_snapshot(ctx.workflow_id, ctx.run_id))  # a read mid-run
        return int(ctx.input_data) * 10

    return (
        create_workflow(id="caps", storage=store)
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=second))
        .commit()
    )


def test_stores_declare_their_capabilities(tmp_path: Path) -> None:
    from rxflow.storage.protocol import follow_live, is_durable

    memory, sqlite = InMemoryStorage(), SQLiteStorage(tmp_path / "caps.db")
    assert (memory.durable, sqlite.durable) == (False, True)
    assert (is_durable(memory), is_durable(sqlite), is_durable(PlainStore())) == (
        False,
        True,
        True,
    )
    assert sqlite.follow_live("wf", "r1", dict) is False
    assert memory.follow_live("wf", "unknown", dict) is False  # nothing stored to follow
    assert follow_live(PlainStore(), "wf", "r1", dict) is False  # no lane declared


async def test_a_subclass_of_the_memory_store_gets_the_live_lane() -> None:
    from rxflow.results import StepResult

    store = RecordingMemory()
    seen: list[dict[str, Any] | None] = []
    run = await _two_step_workflow(store, seen).create_run()

    result = await run.start(input_data=1)

    assert (result.status, result.result) == ("success", 20)
    # Not durable: the pending snapshot and the final one, nothing per step.
    assert [s["status"] for s in store.written] == ["pending", "success"]
    # Read mid-run through the live lane: the progress as of then, in wire form.
    mid = seen[0]
    assert mid is not None and mid["status"] == "running"
    assert mid["context"]["first"]["status"] == "success"
    assert mid["context"]["first"]["output"] == 2
    assert "second" not in mid["context"]
    # The run's own final snapshot hands its step results over as objects...
    final_context = store.written[-1]["context"]
    assert [type(final_context[k]) for k in ("first", "second")] == [StepResult, StepResult]
    # ...and a read returns them in wire form.
    stored = await store.load_snapshot("caps", run.run_id)
    assert stored is not None
    assert stored["context"]["second"]["output"] == 20
    assert type(stored["context"]["second"]) is dict


async def test_a_store_that_declares_nothing_is_durable_without_a_live_lane() -> None:
    store = PlainStore()
    seen: list[dict[str, Any] | None] = []
    run = await _two_step_workflow(store, seen).create_run()

    result = await run.start(input_data=1)

    assert (result.status, result.result) == ("success", 20)
    statuses = [s["status"] for s in store.written]
    assert statuses[0] == "pending" and statuses[-1] == "success"
    assert "running" in statuses  # the trail of snapshots a durable store gets
    for snapshot in store.written:  # every snapshot is wire data
        assert all(
            type(value) is dict for key, value in snapshot["context"].items() if key != "input"
        )
    mid = seen[0]
    assert mid is not None and mid["context"]["first"]["output"] == 2
