"""PostgresStorage when things fail: a server it cannot reach, connections the server ends (reads
tried again, writes never sent twice, a claim that finds out), a caller cancelled mid-write."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema, server_dsn

from rxflow.errors import StorageError
from rxflow.storage import Storage

PASSWORD = "S3cret-pa55word"


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    from psycopg.conninfo import make_conninfo

    # The store's connections carry a name of their own, so a test can end just them.
    return make_conninfo(fresh_schema(str(tmp_path)), application_name=f"rx-{tmp_path.name}"[:60])


@pytest.fixture
async def store(dsn: str) -> AsyncIterator[Storage]:
    from rxflow.storage.postgres import PostgresStorage

    opened = PostgresStorage(dsn)
    yield opened
    await opened.close()


def app_name(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn)["application_name"])


def locker_dsn(dsn: str) -> str:
    """``dsn`` for a connection of the test's own (it holds the locks the store waits for)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, application_name="rx-locker")


def terminate(dsn: str, *, waiting: bool = False) -> int:
    """End the store's server connections (those waiting on a lock only); how many. Returns
    once they are gone, as after a server restart."""
    condition = " AND wait_event_type = 'Lock'" if waiting else ""
    rows = execute(
        server_dsn(),
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        f" WHERE application_name = %s{condition}",
        (app_name(dsn),),
    )
    return len(rows)


async def until_waiting_on_a_lock(dsn: str) -> None:
    """Wait until one of the store's statements waits for a lock held elsewhere."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = %s AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while execute(server_dsn(), query, (app_name(dsn),))[0][0] == 0:
        assert time.monotonic() < deadline, "the statement never waited for the lock"
        await asyncio.sleep(0.01)


# -- a server that cannot be reached -------------------------------------------------------------


@pytest.mark.parametrize("form", ["uri", "key=value"])
async def test_an_unreachable_server_fails_at_first_use_naming_it_but_not_the_password(
    form: str,
) -> None:
    import psycopg

    from rxflow.storage.postgres import PostgresStorage

    server_dsn()  # PostgreSQL tests only run with the driver installed
    port = free_port()
    dsn = (
        f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/orders"
        if form == "uri"
        else f"host=127.0.0.1 port={port} dbname=orders user=app password={PASSWORD}"
    )
    store = PostgresStorage(dsn)
    started = time.monotonic()

    with pytest.raises(StorageError) as raised:
        await store.list_runs()

    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith(
        f"list_runs: cannot connect: PostgreSQL at host '127.0.0.1', port {port},"
        " database 'orders', user 'app': "
    ), message
    assert PASSWORD not in message and PASSWORD not in repr(store)
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    with pytest.raises(StorageError, match="cannot connect"):  # tried again at each call
        await store.get_run("wf", "r1")
    await store.close()


def test_a_dsn_that_does_not_parse_is_refused_without_repeating_it() -> None:
    from rxflow.storage.postgres import PostgresStorage

    server_dsn()
    with pytest.raises(ValueError, match="not a PostgreSQL connection string") as raised:
        PostgresStorage(f"host=db password={PASSWORD} oops")

    assert PASSWORD not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


async def test_a_pool_that_cannot_connect_fails_with_the_reason() -> None:
    from psycopg_pool import AsyncConnectionPool

    from rxflow.storage.postgres import PostgresStorage

    server_dsn()
    port = free_port()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/orders", open=False
    )
    store = PostgresStorage.from_pool(pool, timeout=1)

    with pytest.raises(
        StorageError, match=f"cannot connect: PostgreSQL at host '127.0.0.1', port {port}"
    ) as raised:
        await store.list_runs()

    assert PASSWORD not in str(raised.value)
    await store.close()
    await pool.close()


# -- connections the server ends -----------------------------------------------------------------


async def test_connections_the_server_ended_while_idle_are_replaced_silently(
    store: Storage, dsn: str
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    assert terminate(dsn) >= 1  # e.g. a server restart, or an idle timeout of a proxy

    await store.persist_snapshot("wf", "r2", snap("r2", "pending"))
    listed = await store.list_runs()

    assert [r.run_id for r in listed.runs] == ["r2", "r1"]


async def test_a_read_whose_connection_is_ended_is_tried_again(store: Storage, dsn: str) -> None:
    import psycopg

    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    locker = await psycopg.AsyncConnection.connect(locker_dsn(dsn))
    await locker.execute("LOCK TABLE rxflow_workflow_snapshot IN ACCESS EXCLUSIVE MODE")
    reading = asyncio.ensure_future(store.get_run("wf", "r1"))
    try:
        await until_waiting_on_a_lock(dsn)
        assert terminate(dsn, waiting=True) == 1
        await until_waiting_on_a_lock(dsn)  # tried again, on another connection
    finally:
        await locker.rollback()
        await locker.close()

    record = await asyncio.wait_for(reading, 10)
    assert record is not None and (record.run_id, record.status) == ("r1", "pending")


async def test_a_write_whose_connection_is_ended_says_it_may_not_be_stored(
    store: Storage, dsn: str
) -> None:
    import psycopg

    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    lease = await store.claim_run("wf", "r1", "running", expected="pending")
    assert lease is not None
    locker = await psycopg.AsyncConnection.connect(locker_dsn(dsn))
    await locker.execute("SELECT 1 FROM rxflow_workflow_snapshot WHERE run_id = 'r1' FOR UPDATE")
    writing = asyncio.ensure_future(store.checkpoint(lease, results={"s1": {"output": 1}}))
    try:
        await until_waiting_on_a_lock(dsn)
        assert terminate(dsn, waiting=True) == 1
        with pytest.raises(StorageError) as raised:
            await asyncio.wait_for(writing, 10)
    finally:
        await locker.rollback()
        await locker.close()

    assert "checkpoint of run 'r1' ('wf'): the connection was lost, so it may or may not" in str(
        raised.value
    )
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert await store.load_results("wf", "r1") == []  # never sent again
    renewed = await store.checkpoint(lease, results={"s1": {"output": 1}})  # the lease decides
    assert renewed.version == lease.version
    assert [r.result for r in await store.load_results("wf", "r1")] == [{"output": 1}]


async def test_a_claim_whose_connection_is_ended_finds_out_whether_it_took_effect(
    store: Storage, dsn: str
) -> None:
    import psycopg

    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    locker = await psycopg.AsyncConnection.connect(locker_dsn(dsn))
    await locker.execute("SELECT 1 FROM rxflow_workflow_snapshot WHERE run_id = 'r1' FOR UPDATE")
    claiming = asyncio.ensure_future(store.claim_run("wf", "r1", "running", expected="pending"))
    try:
        await until_waiting_on_a_lock(dsn)
        assert terminate(dsn, waiting=True) == 1
        with pytest.raises(StorageError, match="did not take effect \\(it can be tried again\\)"):
            await asyncio.wait_for(claiming, 10)
    finally:
        await locker.rollback()
        await locker.close()

    record = await store.get_run("wf", "r1")
    assert record is not None and (record.status, record.lease) == ("pending", None)
    assert await store.claim_run("wf", "r1", "running", expected="pending") is not None


async def test_a_claim_that_took_effect_is_found_by_its_owner(store: Storage, dsn: str) -> None:
    import psycopg

    from rxflow.storage import postgres_leases

    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    lease = await store.claim_run("wf", "r1", "running", expected="pending", owner="me")

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        mine = await postgres_leases.claimed_by(conn, "wf", "r1", "running", "me", None)
        other = await postgres_leases.claimed_by(conn, "wf", "r1", "running", "you", None)
        wrong = await postgres_leases.claimed_by(conn, "wf", "r1", "restarting", "me", None)

    assert (mine, other, wrong) == (lease, None, None)


async def test_a_write_whose_caller_is_cancelled_is_still_carried_out(
    store: Storage, dsn: str
) -> None:
    import psycopg

    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    locker = await psycopg.AsyncConnection.connect(locker_dsn(dsn))
    await locker.execute("SELECT 1 FROM rxflow_workflow_snapshot WHERE run_id = 'r1' FOR UPDATE")
    writing = asyncio.ensure_future(store.update_status("wf", "r1", "canceled"))
    await until_waiting_on_a_lock(dsn)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await locker.rollback()
    await locker.close()

    await store.close()  # waits for the write under way
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn) as again:
        record = await again.get_run("wf", "r1")
    assert record is not None and record.status == "canceled"
