"""``SQLiteStorage``'s group commit: while several runs hold leases, the small writes made in
one loop turn share one transaction, each in its own savepoint (one failing write fails alone).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rxflow import create_step, create_workflow
from rxflow.errors import LeaseLostError, StorageError
from rxflow.storage import SQLiteStorage


def snap(run_id: str, status: str = "running") -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    async with SQLiteStorage(tmp_path / "runs.db") as storage:
        yield storage


def count_commits(storage: SQLiteStorage) -> list[str]:
    """Statements the store's connection runs from now on that end a transaction."""
    seen: list[str] = []
    conn = storage.worker._conn
    assert conn is not None
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


async def claimed(storage: SQLiteStorage, *run_ids: str) -> list[Any]:
    leases = []
    for run_id in run_ids:
        await storage.persist_snapshot("wf", run_id, snap(run_id))
        lease = await storage.claim_run("wf", run_id, "running", expected="running")
        assert lease is not None
        leases.append(lease)
    return leases


async def test_writes_of_several_runs_in_one_loop_turn_share_one_commit(
    store: SQLiteStorage,
) -> None:
    leases = await claimed(store, "r1", "r2", "r3")
    commits = count_commits(store)

    renewed = await asyncio.gather(
        *(
            store.checkpoint(lease, results={"s1": {"status": "success", "output": i}})
            for i, lease in enumerate(leases)
        )
    )

    assert commits == ["COMMIT"]
    assert [lease.run_id for lease in renewed] == ["r1", "r2", "r3"]
    for i, run_id in enumerate(["r1", "r2", "r3"]):
        records = await store.load_results("wf", run_id)
        assert [(r.key, r.result) for r in records] == [("s1", {"status": "success", "output": i})]


async def test_a_lone_run_writes_at_once_without_waiting_for_a_group(
    store: SQLiteStorage,
) -> None:
    (lease,) = await claimed(store, "r1")
    commits = count_commits(store)

    await store.checkpoint(lease, results={"s1": {"status": "success", "output": 1}})
    await store.checkpoint(lease, results={"s2": {"status": "success", "output": 2}})

    assert commits == ["COMMIT", "COMMIT"]


async def test_a_failing_write_in_a_group_fails_alone_and_stores_nothing(
    store: SQLiteStorage,
) -> None:
    first, second = await claimed(store, "r1", "r2")
    await store.append_events("wf", "r2", 0, [{"type": "workflow-start"}])
    taken_over = await store.claim_run("wf", "r1", "running", expected="running", owner="other")
    assert taken_over is None  # the lease is still held: take it over by releasing first
    assert await store.release_lease(first)
    assert await store.claim_run("wf", "r1", "running", expected="running", owner="other")

    outcomes = await asyncio.gather(
        store.checkpoint(first, results={"lost": {"status": "success", "output": 0}}),
        store.checkpoint(second, results={"kept": {"status": "success", "output": 1}}),
        store.append_events("wf", "r2", 5, [{"type": "gap"}]),
        store.append_events("wf", "r2", 1, [{"type": "workflow-finish"}]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], LeaseLostError)
    assert outcomes[1].run_id == "r2"  # type: ignore[union-attr]
    assert isinstance(outcomes[2], StorageError)
    assert "record 5 is not the next one (1)" in str(outcomes[2])
    assert outcomes[3] is None
    assert await store.load_results("wf", "r1") == []
    assert [r.key for r in await store.load_results("wf", "r2")] == ["kept"]
    events = await store.read_events("wf", "r2")
    assert [(e.seq, e.event["type"]) for e in events] == [
        (0, "workflow-start"),
        (1, "workflow-finish"),
    ]


async def test_a_group_the_lane_cannot_take_goes_to_the_worker_in_order(
    store: SQLiteStorage,
) -> None:
    leases = await claimed(store, "r1", "r2")
    gate = threading.Event()
    # A call queued on the worker first: the group must wait behind it, then commit there.
    held = asyncio.ensure_future(store.worker.call("hold", lambda conn: gate.wait()))
    await asyncio.sleep(0)
    writes = asyncio.gather(
        *(
            store.checkpoint(lease, results={"s": {"status": "success", "output": i}})
            for i, lease in enumerate(leases)
        )
    )
    later = asyncio.ensure_future(store.persist_snapshot("wf", "r3", snap("r3")))
    try:
        await asyncio.sleep(0.01)
        assert not writes.done() and not later.done()
    finally:
        gate.set()
    await held
    await writes
    await later

    for i, run_id in enumerate(["r1", "r2"]):
        assert [r.result for r in await store.load_results("wf", run_id)] == [
            {"status": "success", "output": i}
        ]
    assert await store.load_snapshot("wf", "r3") == snap("r3")


async def test_a_cancelled_writer_in_a_group_is_still_stored(store: SQLiteStorage) -> None:
    first, second = await claimed(store, "r1", "r2")
    task = asyncio.ensure_future(
        store.checkpoint(first, results={"s": {"status": "success", "output": 1}})
    )
    other = asyncio.ensure_future(
        store.checkpoint(second, results={"s": {"status": "success", "output": 2}})
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await other

    assert [r.result for r in await store.load_results("wf", "r1")] == [
        {"status": "success", "output": 1}
    ]


async def test_many_concurrent_runs_on_one_file_all_succeed(tmp_path: Path) -> None:
    async def inc(ctx: Any) -> int:
        return int(ctx.input_data) + 1

    async with SQLiteStorage(tmp_path / "runs.db") as storage:
        wf = create_workflow(id="chain", storage=storage, durability="sync")
        for i in range(5):
            wf = wf.then(create_step(id=f"s{i}", execute=inc))
        chain = wf.commit()

        async def one(start: int) -> Any:
            run = await chain.create_run()
            return await run.start(input_data=start)

        results = await asyncio.gather(*(one(i) for i in range(40)))

        assert [r.status for r in results] == ["success"] * 40
        assert [r.result for r in results] == [i + 5 for i in range(40)]
        listed = await storage.list_runs("chain", status="success", limit=100)
        assert listed.total == 40
