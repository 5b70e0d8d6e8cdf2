"""``InMemoryStorage`` beyond the shared contract: data kept by reference, no awaits inside,
and ``max_runs`` (finished runs beyond it dropped, those finished earliest first)."""

from __future__ import annotations

from typing import Any

import pytest

from rxflow.storage import InMemoryStorage

T0 = 1_700_000_000_000


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


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


async def test_memory_keeps_checkpointed_state_and_results_by_reference() -> None:
    storage = InMemoryStorage()
    snapshot = snap("r1", "pending")
    await storage.persist_snapshot("wf", "r1", snapshot)
    lease = await storage.claim_run("wf", "r1", "running", expected="pending")
    assert lease is not None
    value, result = {"big": list(range(10))}, {"output": {"rows": [1, 2, 3]}}

    await storage.checkpoint(lease, state={"value": value}, results={"a": result})

    loaded = await storage.load_snapshot("wf", "r1")
    assert loaded is not None and loaded["value"] is value and loaded["context"]["a"] is result
    assert (await storage.load_results("wf", "r1"))[0].result is result
    assert snapshot == snap("r1", "pending")  # the persisted dict itself is never changed
    assert await storage.load_snapshot("wf", "r1") is loaded  # assembled once per change


async def test_memory_calls_never_yield_to_the_loop() -> None:
    storage = InMemoryStorage()
    await storage.persist_snapshot("wf", "r2", snap("r2", "pending"))
    lease = await storage.claim_run("wf", "r2", "running", expected="pending")
    assert lease is not None
    calls = [
        storage.persist_snapshot("wf", "r1", snap("r1", "suspended")),
        storage.load_snapshot("wf", "r1"),
        storage.update_status("wf", "r1", "running", expected="suspended"),
        storage.get_run("wf", "r1"),
        storage.list_runs(orphaned=True),
        storage.claim_run("wf", "r1", "restarting", expected="running"),
        storage.renew_lease(lease),
        storage.checkpoint(lease, state={"value": 1}, results={"a": {}}),
        storage.load_results("wf", "r2"),
        storage.request_cancel("wf", "r2"),
        storage.cancel_requested("wf", "r2"),
        storage.release_lease(lease),
        storage.delete_run("wf", "r1"),
        storage.delete_runs(),
        storage.close(),
    ]
    for call in calls:
        with pytest.raises(StopIteration):
            call.send(None)  # finishes on its first step: no suspension point inside


async def test_finished_runs_beyond_max_runs_are_dropped_earliest_finished_first() -> None:
    storage = InMemoryStorage(max_runs=3)
    for run_id in ("a", "b", "c"):
        await storage.persist_snapshot("wf", run_id, snap(run_id, "running"))
    await storage.update_status("wf", "b", "success")
    await storage.update_status("wf", "a", "failed")  # b finished first, then a

    await storage.persist_snapshot("wf", "d", snap("d", "pending"))  # 4 runs: one must go
    assert await storage.get_run("wf", "b") is None
    await storage.persist_snapshot("wf", "e", snap("e", "suspended"))
    assert await storage.get_run("wf", "a") is None

    await storage.persist_snapshot("wf", "f", snap("f", "pending"))  # nothing finished left
    listed = await storage.list_runs()
    assert sorted(r.run_id for r in listed.runs) == ["c", "d", "e", "f"]

    await storage.update_status("wf", "c", "canceled")  # over the bound: dropped at once
    assert sorted(r.run_id for r in (await storage.list_runs()).runs) == ["d", "e", "f"]


async def test_a_run_that_runs_again_leaves_the_drop_queue() -> None:
    storage = InMemoryStorage(max_runs=2)
    await storage.persist_snapshot("wf", "a", snap("a", "success"))
    await storage.persist_snapshot("wf", "b", snap("b", "success"))
    lease = await storage.claim_run("wf", "a", "running", expected="success")  # runs again
    assert lease is not None

    await storage.persist_snapshot("wf", "c", snap("c", "pending"))

    assert sorted(r.run_id for r in (await storage.list_runs()).runs) == ["a", "c"]
    await storage.checkpoint(lease, state={"status": "success"}, release=True)
    assert sorted(r.run_id for r in (await storage.list_runs()).runs) == ["a", "c"]
    await storage.persist_snapshot("wf", "d", snap("d", "pending"))
    assert sorted(r.run_id for r in (await storage.list_runs()).runs) == ["c", "d"]


async def test_every_way_a_run_finishes_counts_for_max_runs() -> None:
    storage = InMemoryStorage(max_runs=0)
    await storage.persist_snapshot("wf", "persisted", snap("persisted", "success"))
    await storage.persist_snapshot("wf", "cas", snap("cas", "running"))
    await storage.update_status("wf", "cas", "failed")
    await storage.persist_snapshot("wf", "cancelled", snap("cancelled", "pending"))
    assert await storage.request_cancel("wf", "cancelled") == "canceled"

    assert (await storage.list_runs()).total == 0


def test_max_runs_defaults_to_ten_thousand_and_none_keeps_everything() -> None:
    assert InMemoryStorage().max_runs == 10_000
    assert InMemoryStorage(max_runs=None).max_runs is None
    for bad in (-1, 1.5, "10", True):
        with pytest.raises(ValueError, match="max_runs must be an int >= 0 or None"):
            InMemoryStorage(max_runs=bad)  # type: ignore[arg-type]


async def test_unbounded_keeps_every_finished_run() -> None:
    storage = InMemoryStorage(max_runs=None)
    for i in range(50):
        await storage.persist_snapshot("wf", f"r{i}", snap(f"r{i}", "success"))

    assert (await storage.list_runs()).total == 50
