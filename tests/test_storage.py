"""The storage contract (SPEC §13, §16), run against ``InMemoryStorage`` and ``SQLiteStorage``."""

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
import rxflow.storage.memory as memory_module
import rxflow.storage.sqlite as sqlite_module
from rxflow.errors import StorageError
from rxflow.storage import InMemoryStorage, RunList, RunRecord, SQLiteStorage, Storage
from rxflow.storage.protocol import now_ms

T0 = 1_700_000_000_000
WORKER = Path(__file__).with_name("storage_worker.py")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """Stands in for ``now_ms`` so timestamps and their ties are chosen by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(memory_module, "now_ms", fake)
    monkeypatch.setattr(sqlite_module, "now_ms", fake)
    return fake


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


# -- the contract, for both implementations ---------------------------------------------------


async def test_both_implementations_satisfy_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)


async def test_persist_then_load_round_trips_the_snapshot(storage: Storage) -> None:
    snapshot = snap(
        "r1",
        "suspended",
        value={"count": 3, "ratio": 0.25, "ok": True, "none": None},
        context={"input": {"text": "héllo ✓", "items": [1, [2, 3], {"k": "v"}]}},
        suspendedPaths={"approve": [1]},
    )
    await storage.persist_snapshot("wf", "r1", snapshot)

    assert await storage.load_snapshot("wf", "r1") == snapshot


async def test_unknown_runs_are_none_false_or_empty(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "running"))

    assert await storage.load_snapshot("wf", "nope") is None
    assert await storage.load_snapshot("other-wf", "r1") is None
    assert await storage.get_run("wf", "nope") is None
    assert await storage.update_status("wf", "nope", "running") is False
    assert await storage.update_status("wf", "nope", "running", expected="suspended") is False
    assert await storage.delete_run("wf", "nope") is False
    assert await storage.list_runs("other-wf") == RunList(runs=[], total=0)


async def test_get_run_has_every_field(storage: Storage, clock: FakeClock) -> None:
    snapshot = snap("r1", "pending")
    await storage.persist_snapshot("wf", "r1", snapshot, resource_id="user-7")

    assert await storage.get_run("wf", "r1") == RunRecord(
        workflow_id="wf",
        run_id="r1",
        resource_id="user-7",
        status="pending",
        snapshot=snapshot,
        created_at=T0,
        updated_at=T0,
    )


async def test_replacing_keeps_created_at_and_resource_id(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="user-7")
    clock.now = T0 + 250
    await storage.persist_snapshot("wf", "r1", snap("r1", "running", value={"n": 1}))

    record = await storage.get_run("wf", "r1")
    assert record is not None
    assert (record.status, record.snapshot["value"]) == ("running", {"n": 1})
    assert (record.resource_id, record.created_at, record.updated_at) == ("user-7", T0, T0 + 250)


async def test_replacing_with_a_new_resource_id_takes_it(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="user-7")
    await storage.persist_snapshot("wf", "r1", snap("r1", "running"), resource_id="user-8")

    record = await storage.get_run("wf", "r1")
    assert record is not None and record.resource_id == "user-8"


async def test_real_timestamps_are_epoch_milliseconds(storage: Storage) -> None:
    before = now_ms()
    await storage.persist_snapshot("wf", "r1", snap("r1", "pending"))
    after = now_ms()

    record = await storage.get_run("wf", "r1")
    assert record is not None
    assert type(record.created_at) is int and type(record.updated_at) is int
    assert before <= record.created_at == record.updated_at <= after
    assert 1_600_000_000_000 < record.created_at < 4_000_000_000_000


async def test_update_status_without_expected_always_writes(
    storage: Storage, clock: FakeClock
) -> None:
    original = snap("r1", "suspended", value={"kept": True})
    await storage.persist_snapshot("wf", "r1", original, resource_id="user-7")
    clock.now = T0 + 10

    assert await storage.update_status("wf", "r1", "canceled") is True

    record = await storage.get_run("wf", "r1")
    assert record == RunRecord(
        workflow_id="wf",
        run_id="r1",
        resource_id="user-7",
        status="canceled",
        snapshot=snap("r1", "canceled", value={"kept": True}),
        created_at=T0,
        updated_at=T0 + 10,
    )
    assert await storage.load_snapshot("wf", "r1") == snap("r1", "canceled", value={"kept": True})
    assert original["status"] == "suspended"  # the caller's dict is never changed


async def test_update_status_with_one_expected_status(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "suspended"))

    assert await storage.update_status("wf", "r1", "running", expected="running") is False
    assert (await storage.load_snapshot("wf", "r1")) == snap("r1", "suspended")

    assert await storage.update_status("wf", "r1", "running", expected="suspended") is True
    assert await storage.update_status("wf", "r1", "running", expected="suspended") is False
    record = await storage.get_run("wf", "r1")
    assert record is not None
    assert (record.status, record.snapshot["status"]) == ("running", "running")


async def test_update_status_with_a_tuple_of_expected_statuses(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "waiting"))

    assert await storage.update_status("wf", "r1", "x", expected=("running", "suspended")) is False
    assert await storage.update_status("wf", "r1", "canceled", expected=("running", "waiting"))
    assert await storage.update_status("wf", "r1", "x", expected=()) is False
    assert (await storage.load_snapshot("wf", "r1")) == snap("r1", "canceled")


async def test_update_status_is_seen_by_list_runs(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "suspended"))
    await storage.update_status("wf", "r1", "running")

    assert [r.run_id for r in (await storage.list_runs(status="running")).runs] == ["r1"]
    assert (await storage.list_runs(status="suspended")).total == 0


async def test_only_one_of_many_concurrent_claims_wins(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "suspended"))

    claims = [storage.update_status("wf", "r1", "running", expected="suspended") for _ in range(10)]
    assert sorted(await asyncio.gather(*claims)) == [False] * 9 + [True]


async def test_list_runs_is_newest_first_then_latest_inserted(
    storage: Storage, clock: FakeClock
) -> None:
    for run_id, created_at in [("a", T0), ("b", T0 + 5), ("c", T0 + 5), ("d", T0 + 1)]:
        clock.now = created_at
        await storage.persist_snapshot("wf", run_id, snap(run_id, "running"))
    clock.now = T0 + 99
    await storage.persist_snapshot("wf", "b", snap("b", "success"))  # replacing does not move it

    listed = await storage.list_runs("wf")
    assert [r.run_id for r in listed.runs] == ["c", "b", "d", "a"]
    assert listed.total == 4


async def test_list_runs_filters_and_pages(storage: Storage, clock: FakeClock) -> None:
    rows = [
        ("wf-a", "r1", "success", "alice"),
        ("wf-a", "r2", "failed", "bob"),
        ("wf-a", "r3", "success", None),
        ("wf-b", "r4", "success", "alice"),
        ("wf-b", "r5", "suspended", "alice"),
    ]
    for workflow_id, run_id, status, resource_id in rows:
        clock.now += 1
        await storage.persist_snapshot(
            workflow_id, run_id, snap(run_id, status), resource_id=resource_id
        )

    async def ids(workflow_id: str | None = None, **kwargs: Any) -> tuple[list[str], int]:
        listed = await storage.list_runs(workflow_id, **kwargs)
        return [r.run_id for r in listed.runs], listed.total

    assert await ids() == (["r5", "r4", "r3", "r2", "r1"], 5)
    assert await ids("wf-a") == (["r3", "r2", "r1"], 3)
    assert await ids(status="success") == (["r4", "r3", "r1"], 3)
    assert await ids(resource_id="alice") == (["r5", "r4", "r1"], 3)
    assert await ids("wf-b", status="success", resource_id="alice") == (["r4"], 1)
    assert await ids("wf-a", resource_id="carol") == ([], 0)
    assert await ids(limit=2) == (["r5", "r4"], 5)
    assert await ids(limit=2, offset=2) == (["r3", "r2"], 5)
    assert await ids(limit=2, offset=4) == (["r1"], 5)
    assert await ids(offset=9) == ([], 5)
    assert await ids(limit=0) == ([], 5)
    assert await ids(status="success", limit=1, offset=1) == (["r3"], 3)


async def test_list_runs_rejects_a_negative_page(storage: Storage) -> None:
    with pytest.raises(ValueError, match="limit"):
        await storage.list_runs(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        await storage.list_runs(offset=-1)


async def test_delete_run(storage: Storage, clock: FakeClock) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "success"))
    clock.now += 1
    await storage.persist_snapshot("wf", "r2", snap("r2", "success"))

    assert await storage.delete_run("wf", "r1") is True
    assert await storage.delete_run("wf", "r1") is False
    assert await storage.get_run("wf", "r1") is None
    assert await storage.load_snapshot("wf", "r1") is None
    assert [r.run_id for r in (await storage.list_runs()).runs] == ["r2"]

    clock.now += 1
    await storage.persist_snapshot("wf", "r1", snap("r1", "pending"))  # a new run again
    record = await storage.get_run("wf", "r1")
    assert record is not None and record.created_at == T0 + 2
    assert [r.run_id for r in (await storage.list_runs()).runs] == ["r1", "r2"]


async def test_runs_are_keyed_by_workflow_and_run_id(storage: Storage) -> None:
    await storage.persist_snapshot("wf-a", "same", snap("same", "success"))
    await storage.persist_snapshot("wf-b", "same", snap("same", "failed"))

    assert await storage.update_status("wf-a", "same", "canceled") is True
    assert await storage.delete_run("wf-b", "same") is True
    record = await storage.get_run("wf-a", "same")
    assert record is not None and record.status == "canceled"


async def test_a_snapshot_needs_a_status(storage: Storage) -> None:
    with pytest.raises(ValueError, match="status"):
        await storage.persist_snapshot("wf", "r1", {"runId": "r1"})
    with pytest.raises(TypeError, match="dict"):
        await storage.persist_snapshot("wf", "r1", [("status", "x")])  # type: ignore[arg-type]
    assert await storage.get_run("wf", "r1") is None


async def test_a_closed_storage_raises_storage_error(storage: Storage) -> None:
    await storage.persist_snapshot("wf", "r1", snap("r1", "success"))
    await storage.close()
    await storage.close()  # closing twice is harmless

    calls = [
        storage.persist_snapshot("wf", "r2", snap("r2", "pending")),
        storage.load_snapshot("wf", "r1"),
        storage.update_status("wf", "r1", "x"),
        storage.get_run("wf", "r1"),
        storage.list_runs(),
        storage.delete_run("wf", "r1"),
    ]
    for call in calls:
        with pytest.raises(StorageError, match="closed"):
            await call


# -- InMemoryStorage: by reference --------------------------------------------------------------


async def test_memory_keeps_snapshots_by_reference() -> None:
    storage = InMemoryStorage()
    snapshot = snap("r1", "suspended")
    await storage.persist_snapshot("wf", "r1", snapshot)

    assert await storage.load_snapshot("wf", "r1") is snapshot
    record = await storage.get_run("wf", "r1")
    assert record is not None and record.snapshot is snapshot

    await storage.update_status("wf", "r1", "running")
    updated = await storage.load_snapshot("wf", "r1")
    assert updated is not snapshot and updated == {**snapshot, "status": "running"}
    assert updated is not None and updated["value"] is snapshot["value"]  # a shallow copy
    assert snapshot["status"] == "suspended"


async def test_memory_calls_never_yield_to_the_loop() -> None:
    storage = InMemoryStorage()
    calls = [
        storage.persist_snapshot("wf", "r1", snap("r1", "suspended")),
        storage.load_snapshot("wf", "r1"),
        storage.update_status("wf", "r1", "running", expected="suspended"),
        storage.get_run("wf", "r1"),
        storage.list_runs(),
        storage.delete_run("wf", "r1"),
        storage.close(),
    ]
    for call in calls:
        with pytest.raises(StopIteration):
            call.send(None)  # finishes on its first step: no suspension point inside


# -- SQLiteStorage ------------------------------------------------------------------------------


async def test_sqlite_survives_reopening_the_file(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "suspended"), resource_id="u1")
        await storage.update_status("wf", "r1", "waiting")
        before = await storage.get_run("wf", "r1")

    async with SQLiteStorage(str(db_path)) as reopened:
        assert await reopened.get_run("wf", "r1") == before
        assert (await reopened.list_runs()).total == 1


async def test_sqlite_file_is_in_wal_mode_with_the_documented_table(db_path: Path) -> None:
    async with SQLiteStorage(db_path) as storage:
        await storage.persist_snapshot("wf", "r1", snap("r1", "running"), resource_id="u1")

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        row = conn.execute(
            "SELECT workflow_id, run_id, resource_id, status, snapshot"
            " FROM rxflow_workflow_snapshot"
        ).fetchone()
    conn.close()
    assert row == (
        "wf",
        "r1",
        "u1",
        "running",
        json.dumps(snap("r1", "running"), separators=(",", ":")),
    )


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
        storage._executor.submit(gate.wait)  # hold the worker so the write below stays queued
        task = asyncio.create_task(storage.persist_snapshot("wf", "r1", snap("r1", "canceled")))
        await asyncio.sleep(0)  # one loop step: the task makes its call and waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()

        assert await storage.load_snapshot("wf", "r1") == snap("r1", "canceled")


async def test_sqlite_in_memory_database(clock: FakeClock) -> None:
    async with SQLiteStorage(":memory:") as storage:
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
            storage.list_runs(),
            storage.list_runs("wf"),
            storage.update_status("wf", "bad-run", "running", expected="suspended"),
        ]
        for call in calls:
            with pytest.raises(StorageError, match=f"'bad-run'.*{reason}"):
                await call
        assert (await storage.list_runs("other-wf")).total == 1  # other runs still read fine
        assert await storage.delete_run("wf", "bad-run") is True


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
    "list_runs": "(self, workflow_id=None, *, status=None, resource_id=None, limit=100, offset=0)",
    "delete_run": "(self, workflow_id, run_id)",
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
