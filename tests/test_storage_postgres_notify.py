"""Cancel requests reach the owner through PostgreSQL LISTEN/NOTIFY, without polling, across
processes; stores without that capability are checked periodically by ``wait_for_cancel``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema, server_dsn

from rxflow.storage import CancelWaiter, InMemoryStorage, SQLiteStorage, Storage, wait_for_cancel

TESTS = Path(__file__).resolve().parent


def snap(run_id: str, status: str) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}}


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return fresh_schema(str(tmp_path))


@pytest.fixture
async def open_store(dsn: str) -> AsyncIterator[Callable[[], Any]]:
    from rxflow.storage.postgres import PostgresStorage

    opened: list[PostgresStorage] = []

    def open_one() -> PostgresStorage:
        opened.append(PostgresStorage(dsn))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


async def held(store: Any, run_id: str) -> None:
    await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
    assert await store.claim_run("wf", run_id, "running", expected="pending") is not None


async def test_a_cancel_requested_from_another_process_wakes_the_owner(dsn: str) -> None:
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn) as store:
        for run_id in ("r1", "warm-up"):
            await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
        paths = [str(TESTS.parent), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
        owner = subprocess.Popen(
            [sys.executable, str(TESTS / "postgres_worker.py"), "wait_cancel", dsn, "r1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        )
        try:
            await store.persist_snapshot("wf", "warm-up", snap("warm-up", "running"))
            assert await store.request_cancel("wf", "warm-up") == "canceled"
            assert owner.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(owner.stdout.readline), 30)
            assert line == "ready\n", owner.communicate()[1]
            await asyncio.sleep(0.3)  # the owner is waiting; only a notification can wake it

            requested_at = time.monotonic()
            assert await store.request_cancel("wf", "r1") == "requested"
            out, err = await asyncio.to_thread(owner.communicate, timeout=30)
        finally:
            owner.kill()
            await asyncio.to_thread(owner.wait)

    assert owner.returncode == 0, err
    latency = json.loads(out)["woken_at"] - requested_at
    print(f"\ncancel request -> owner woken by NOTIFY in another process: {latency * 1000:.1f} ms")
    assert 0 < latency < 1.0


async def test_a_waiter_is_woken_by_a_cancel_from_another_store(
    open_store: Callable[[], Any],
) -> None:
    owner, other = open_store(), open_store()
    await held(owner, "r1")
    await held(owner, "r2")
    waiting = asyncio.ensure_future(owner.wait_cancel("wf", "r1"))
    unrelated = asyncio.ensure_future(owner.wait_cancel("wf", "r2"))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    started = time.monotonic()
    assert await other.request_cancel("wf", "r1") == "requested"
    await asyncio.wait_for(waiting, 5)
    woken_in = time.monotonic() - started

    await asyncio.sleep(0.2)
    assert not unrelated.done()  # a cancel of r1 does not end the wait for r2
    unrelated.cancel()
    assert woken_in < 1.0


async def test_a_cancel_requested_before_the_wait_returns_at_once(
    open_store: Callable[[], Any],
) -> None:
    store = open_store()
    await held(store, "r1")
    assert await store.request_cancel("wf", "r1") == "requested"

    await asyncio.wait_for(store.wait_cancel("wf", "r1"), 5)


async def test_the_waiter_is_woken_after_its_listening_connection_was_lost(
    open_store: Callable[[], Any],
) -> None:
    owner, other = open_store(), open_store()
    await held(owner, "r1")
    await held(owner, "warm-up")
    await other.request_cancel("wf", "warm-up")
    await asyncio.wait_for(owner.wait_cancel("wf", "warm-up"), 5)  # listening now
    waiting = asyncio.ensure_future(owner.wait_cancel("wf", "r1"))
    await asyncio.sleep(0.1)

    query = (
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
    )
    assert len(execute(server_dsn(), query)) == 1
    await asyncio.sleep(0.5)  # the listener connects again
    assert await other.request_cancel("wf", "r1") == "requested"

    await asyncio.wait_for(waiting, 10)


async def test_a_closed_store_ends_its_waits_with_storage_error(
    open_store: Callable[[], Any],
) -> None:
    from rxflow.errors import StorageError

    store = open_store()
    await held(store, "r1")
    waiting = asyncio.ensure_future(store.wait_cancel("wf", "r1"))
    await asyncio.sleep(0.2)

    await store.close()

    with pytest.raises(StorageError, match="closed"):
        await asyncio.wait_for(waiting, 5)


async def test_wait_for_cancel_uses_notifications_where_the_store_has_them(
    open_store: Callable[[], Any],
) -> None:
    owner, other = open_store(), open_store()
    assert isinstance(owner, CancelWaiter)
    await held(owner, "r1")
    # An interval far beyond the test's bound: only the notification can end the wait in time.
    waiting = asyncio.ensure_future(wait_for_cancel(owner, "wf", "r1", interval=3600))
    await asyncio.sleep(0.2)

    await other.request_cancel("wf", "r1")

    await asyncio.wait_for(waiting, 5)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_stores_without_notifications_are_checked_periodically(
    kind: str, tmp_path: Path
) -> None:
    store: Storage = InMemoryStorage() if kind == "memory" else SQLiteStorage(tmp_path / "r.db")
    assert not isinstance(store, CancelWaiter)
    await held(store, "r1")
    waiting = asyncio.ensure_future(wait_for_cancel(store, "wf", "r1", interval=0.05))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    await store.request_cancel("wf", "r1")

    await asyncio.wait_for(waiting, 2)
    await store.close()


async def test_a_follower_is_woken_by_records_appended_by_another_store(
    open_store: Callable[[], Any],
) -> None:
    follower, writer = open_store(), open_store()
    chunk = {"type": "workflow-step-output", "runId": "r1", "from": "USER", "payload": {}}
    waiting = asyncio.ensure_future(follower.wait_events("wf", "r1", after_seq=-1))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    await writer.append_events("wf", "r1", 0, [chunk])
    await asyncio.wait_for(waiting, 5)

    await asyncio.wait_for(follower.wait_events("wf", "r1", after_seq=-1), 5)  # at once
    later = asyncio.ensure_future(follower.wait_events("wf", "r1", after_seq=0))
    await asyncio.sleep(0.2)
    assert not later.done()
    await writer.append_events("wf", "r1", 1, [chunk, chunk])
    await asyncio.wait_for(later, 5)
    assert [r.seq for r in await follower.read_events("wf", "r1")] == [0, 1, 2]
