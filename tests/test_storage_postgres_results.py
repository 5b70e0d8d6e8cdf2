"""PostgresStorage's step result records since schema version 2: no foreign key to their run, so
deleting runs deletes them (also when the delete meets a checkpoint in flight); a database of
version 1 (``fixtures/postgres_v1.sql``) upgraded in place; writes naming one run use the key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema
from test_storage_postgres_schema import layout, load_fixture, versions

from rxflow.errors import LeaseLostError

FIXTURE_V1 = Path(__file__).with_name("fixtures") / "postgres_v1.sql"
RESULTS = "rxflow_step_result"


def open_store(dsn: str, **options: Any) -> Any:
    from rxflow.storage.postgres import PostgresStorage

    return PostgresStorage(dsn, **options)


def snap(run_id: str, status: str) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}}


def stored_results(dsn: str) -> list[tuple[str, str, str]]:
    query = f"SELECT workflow_id, run_id, key FROM {RESULTS} ORDER BY seq"
    return [tuple(row) for row in execute(dsn, query)]  # type: ignore[misc]


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return fresh_schema(str(tmp_path))


@pytest.fixture
def v1_dsn(tmp_path: Path) -> str:
    dsn = fresh_schema(f"{tmp_path}/v1")
    load_fixture(dsn, FIXTURE_V1)
    return dsn


async def test_the_upgrade_from_version_1_gives_the_layout_a_new_database_gets(
    dsn: str, v1_dsn: str
) -> None:
    async with open_store(dsn):
        pass
    async with open_store(v1_dsn):
        pass

    assert versions(v1_dsn) == [1, 2]
    new = layout(dsn)
    assert layout(v1_dsn) == new
    assert [c for c in new["constraints"] if "FOREIGN KEY" in c[2]] == []
    assert [name for name, _ in new["triggers"] if name.startswith(RESULTS)] == [
        "rxflow_step_result_clear",
        "rxflow_step_result_remove",
    ]


async def test_the_runs_and_results_of_version_1_read_back_after_the_upgrade(
    v1_dsn: str,
) -> None:
    async with open_store(v1_dsn) as store:
        records = await store.load_results("review", "doc-2")
        suspended = await store.get_run("review", "doc-1")
        orphans = await store.list_runs(orphaned=True)
        events = await store.read_events("review", "doc-2")

    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    assert [(r.key, r.attempt, r.result, r.written_at) for r in records] == [
        (
            "prepare",
            0,
            {"status": "success", "output": {"doc": "b.pdf", "pages": 3}},
            1_700_000_001_150,
        ),
        ("approve", 0, {"status": "success", "output": {"approved": True}}, 1_700_000_001_150),
        (
            "stepExecutionPath#0",
            0,
            {"stepExecutionPath": ["prepare", "approve"], "from": 0},
            1_700_000_001_150,
        ),
        ("notify", 0, {"status": "failed", "error": "smtp down"}, 1_700_000_001_200),
        ("notify", 1, {"status": "success", "output": {"sent": True}}, 1_700_000_001_250),
        ("stepExecutionPath#2", 0, {"stepExecutionPath": ["notify"], "from": 2}, 1_700_000_001_250),
    ]
    assert suspended is not None and suspended.snapshot is not None
    snapshot = suspended.snapshot
    assert (suspended.status, snapshot["status"]) == ("suspended", "suspended")
    assert snapshot["suspendedPaths"] == {"approve": [1]}
    assert snapshot["stepExecutionPath"] == ["prepare", "approve"]
    assert snapshot["context"]["prepare"]["output"] == {"doc": "a.pdf", "pages": 3}
    assert snapshot["context"]["approve"]["suspendPayload"] == {"ask": "approve a.pdf?"}
    assert [(r.run_id, r.status) for r in orphans.runs] == [("order-1", "running")]
    assert [e.event for e in events] == [{"type": "workflow-start"}, {"type": "workflow-finish"}]


async def test_an_upgraded_run_resumes_and_deleting_runs_deletes_their_results(
    v1_dsn: str,
) -> None:
    async with open_store(v1_dsn) as store:
        lease = await store.claim_run("review", "doc-1", "running", expected="suspended")
        assert lease is not None and lease.version == 2
        await store.checkpoint(
            lease,
            state={"status": "success", "suspendedPaths": {}},
            results={"approve": {"status": "success", "output": {"approved": True}}},
            release=True,
        )
        approve = [r for r in await store.load_results("review", "doc-1") if r.key == "approve"]
        assert [(r.attempt, r.result["status"]) for r in approve] == [
            (0, "suspended"),
            (1, "success"),
        ]
        assert await store.delete_run("review", "doc-1")
        assert await store.delete_runs(status="success") == 1  # doc-2
        assert await store.load_results("review", "doc-2") == []

    assert stored_results(v1_dsn) == [
        ("order", "order-1", "reserve"),
        ("order", "order-1", "stepExecutionPath#0"),
    ]


async def test_deleting_runs_in_any_way_deletes_their_results(dsn: str) -> None:
    async with open_store(dsn) as store:
        for run_id in ("r1", "r2", "r3", "r4"):
            await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
            lease = await store.claim_run("wf", run_id, "running", expected="pending")
            assert lease is not None
            await store.checkpoint(
                lease,
                state={"status": "success" if run_id != "r4" else "running"},
                results={"s1": {"output": run_id}, "s2": {"output": 2}},
                release=run_id != "r4",
            )
        assert await store.delete_run("wf", "r1")
        assert await store.delete_runs(status="success", workflow_id="wf") == 2
        assert await store.load_results("wf", "r2") == []
        assert [r.key for r in await store.load_results("wf", "r4")] == ["s1", "s2"]
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"))  # the id again: no past
        assert await store.load_results("wf", "r1") == []

    assert stored_results(dsn) == [("wf", "r4", "s1"), ("wf", "r4", "s2")]
    execute(dsn, "TRUNCATE rxflow_workflow_snapshot")
    assert stored_results(dsn) == []


async def blocked_on_a_lock(dsn: str) -> None:
    """Return once a session of this database waits for a lock (the other side holds it)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = asyncio.get_running_loop().time() + 30
    while execute(dsn, query) != [(1,)]:
        assert asyncio.get_running_loop().time() < deadline, "nobody waited for the lock"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("delete", ["delete_run", "delete_runs"])
async def test_a_delete_that_meets_a_checkpoint_in_flight_leaves_no_result_behind(
    dsn: str, delete: str
) -> None:
    import psycopg

    from rxflow.storage import postgres_leases

    async with open_store(dsn) as store:
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await store.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        # The checkpoint's statement has run and holds the run's row; it commits only once
        # the delete waits for that row.
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await postgres_leases.checkpoint(
                conn, lease, {"status": "failed"}, {"s1": {"output": 1}}, True, None, 30_000
            )
            if delete == "delete_run":
                deleting = asyncio.ensure_future(store.delete_run("wf", "r1"))
            else:
                deleting = asyncio.ensure_future(store.delete_runs(status=["running", "failed"]))
            await blocked_on_a_lock(dsn)
            await conn.commit()
        assert await deleting in (True, 1)
        assert await store.get_run("wf", "r1") is None
        assert await store.load_results("wf", "r1") == []

    assert stored_results(dsn) == []


async def test_a_checkpoint_that_meets_a_delete_in_flight_writes_nothing(dsn: str) -> None:
    import psycopg

    async with open_store(dsn) as store:
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await store.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await conn.execute("DELETE FROM rxflow_workflow_snapshot WHERE run_id = 'r1'")
            writing = asyncio.ensure_future(
                store.checkpoint(lease, state={"value": 1}, results={"s1": {"output": 1}})
            )
            await blocked_on_a_lock(dsn)
            await conn.commit()
        with pytest.raises(LeaseLostError):
            await writing
        assert await store.load_results("wf", "r1") == []

    assert stored_results(dsn) == []


@pytest.mark.parametrize("start", ["new", "version 1"])
async def test_a_write_naming_one_run_reads_it_by_its_key(
    dsn: str, v1_dsn: str, start: str
) -> None:
    # A new table has no statistics: the planner must still take the key (or read the table's
    # one page), not a listing index that scans every run of the workflow (and a connection
    # keeps the plan).
    where = dsn if start == "new" else v1_dsn
    async with open_store(where) as store:
        for i in range(20):
            await store.persist_snapshot("wf", f"r{i}", snap(f"r{i}", "pending"))
    import psycopg

    with psycopg.connect(where, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(
            "PREPARE one (text, text) AS UPDATE rxflow_workflow_snapshot SET updated_at = 0"
            " WHERE workflow_id = $1 AND run_id = $2"
        )
        plan = conn.execute("EXPLAIN EXECUTE one ('wf', 'r1')").fetchall()
    scans = [line for (line,) in plan if "Scan" in line]
    assert len(scans) == 1 and "_by_" not in scans[0], plan
    if start == "new":
        assert "Index Scan using rxflow_workflow_snapshot_pkey" in scans[0], plan
