"""PostgresStorage beyond the conformance suite: a pool of your own, the server's clock, values
PostgreSQL's JSON cannot hold, options and names."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema, server_dsn

import rxflow.storage
from rxflow.errors import StorageError
from rxflow.storage.protocol import now_ms

PASSWORD = "S3cret-pa55word"


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return fresh_schema(str(tmp_path))


def test_the_class_is_exported_lazily() -> None:
    server_dsn()
    from rxflow.storage.postgres import PostgresStorage

    assert rxflow.storage.PostgresStorage is PostgresStorage
    assert "PostgresStorage" in rxflow.storage.__all__


@pytest.mark.parametrize("autocommit", [False, True])
async def test_a_pool_of_your_own_is_used_and_left_open(dsn: str, autocommit: bool) -> None:
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from rxflow.storage.postgres import PostgresStorage

    # Not the store's choices: transactions left to the caller, rows as dicts.
    kwargs = {"autocommit": autocommit, "row_factory": dict_row}
    async with AsyncConnectionPool(dsn, kwargs=kwargs, min_size=1, max_size=3) as pool:
        store = PostgresStorage.from_pool(pool)
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="u1")
        lease = await store.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        await store.checkpoint(lease, state={"value": {"n": 1}}, results={"s1": {"output": 2}})
        listed = await store.list_runs(resource_id="u1")
        await store.close()

        assert not pool.closed
        async with pool.connection() as conn:
            row = await (
                await conn.execute("SELECT status FROM rxflow_workflow_snapshot")
            ).fetchone()
    assert row == {"status": "running"}
    assert listed.total == 1 and listed.runs[0].snapshot == snap(
        "r1", "running", value={"n": 1}, context={"s1": {"output": 2}}
    )


async def test_leases_and_timestamps_are_on_the_servers_clock(dsn: str) -> None:
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn, lease_ttl=12) as store:
        before = now_ms()
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await store.claim_run("wf", "r1", "running", expected="pending")
        after = now_ms()
        record = await store.get_run("wf", "r1")

    assert lease is not None and record is not None
    (server,) = execute(dsn, "SELECT updated_at FROM rxflow_workflow_snapshot")
    assert before <= record.created_at <= record.updated_at == server[0] <= after
    assert lease.expires_at == record.updated_at + 12_000


@pytest.mark.parametrize(
    ("value", "reason"),
    [(float("nan"), "Out of range float values are not JSON compliant"), ({1j}, "not JSON")],
)
async def test_a_value_that_is_not_json_is_refused_naming_the_run(
    dsn: str, value: Any, reason: str
) -> None:
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn) as store:
        with pytest.raises(StorageError, match="snapshot of run 'r1' of workflow 'wf' is not JSON"):
            await store.persist_snapshot("wf", "r1", snap("r1", "pending", value={"x": value}))
        await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
        lease = await store.claim_run("wf", "r1", "running", expected="pending")
        assert lease is not None
        with pytest.raises(StorageError, match=f"result 's1' of run 'r1'.*{reason}"):
            await store.checkpoint(lease, results={"s1": {"output": value}})
        assert await store.load_results("wf", "r1") == []


async def test_text_postgresql_cannot_store_is_a_storage_error(dsn: str) -> None:
    import psycopg

    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn) as store:
        with pytest.raises(StorageError, match="persist_snapshot of run 'r1'") as raised:
            await store.persist_snapshot("wf", "r1", snap("r1", "pending", value={"x": "a\x00b"}))
        assert isinstance(raised.value.__cause__, psycopg.DataError)
        assert await store.get_run("wf", "r1") is None


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"min_size": 3, "max_size": 2}, ValueError, "min_size and max_size"),
        ({"max_size": 0, "min_size": 0}, ValueError, "max_size must be at least 1"),
        ({"timeout": 0}, ValueError, "timeout must be a number of seconds > 0"),
        ({"lease_ttl": -1}, ValueError, "lease_ttl must be a number of seconds > 0"),
    ],
)
def test_options_are_checked_when_the_store_is_made(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    from rxflow.storage.postgres import PostgresStorage

    server_dsn()
    with pytest.raises(error, match=match):
        PostgresStorage("postgresql://localhost/db", **options)


def test_the_repr_names_the_server_but_not_the_password() -> None:
    from rxflow.storage.postgres import PostgresStorage

    server_dsn()
    store = PostgresStorage(f"postgresql://app:{PASSWORD}@db.internal:6432/orders")

    assert repr(store) == (
        "<PostgresStorage PostgreSQL at host 'db.internal', port 6432, database 'orders',"
        " user 'app'>"
    )
    assert store.where in repr(store) and store.durable is True


async def test_retention_forgets_the_event_logs_of_the_runs_it_deletes(dsn: str) -> None:
    from rxflow.storage.postgres import PostgresStorage

    chunk = {"type": "workflow-finish", "runId": "r", "from": "WORKFLOW", "payload": {}}
    async with PostgresStorage(dsn) as store:
        for run_id, status in [("old", "success"), ("live", "suspended")]:
            await store.persist_snapshot("wf", run_id, snap(run_id, status))
            await store.append_events("wf", run_id, 0, [chunk])

        assert await store.delete_runs() == 1

        assert await store.read_events("wf", "old") == []
        assert [r.seq for r in await store.read_events("wf", "live")] == [0]


async def test_operations_at_once_on_a_pool_of_one_connection_all_get_it(dsn: str) -> None:
    # The store keeps the connection its last operation used for the next one; one waiting
    # for the pool must still get it (a connection kept aside would leave it waiting).
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn, max_size=1, timeout=5) as store:
        await store.persist_snapshot("wf", "r0", snap("r0", "pending"))
        writes = [
            store.persist_snapshot("wf", f"r{i}", snap(f"r{i}", "pending")) for i in range(1, 9)
        ]
        reads = [store.get_run("wf", "r0") for _ in range(8)]
        done = await asyncio.gather(*writes, *reads)
        listed = await store.list_runs("wf")

    assert done[:8] == [None] * 8
    assert all(record is not None and record.run_id == "r0" for record in done[8:])
    assert listed.total == 9
