"""list_runs beyond the snapshot basics: orphaned runs, leases shown, damaged rows reported."""

from __future__ import annotations

from typing import Any

import pytest

from rxflow.errors import StorageError
from rxflow.storage import RunRecord, Storage

from .cases import T0, FakeClock, StoreCase


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def seed(store: Storage, clock: FakeClock) -> None:
    """One run per situation, created a millisecond apart (so newest-first order is known)."""
    for run_id, status in [
        ("pending", "pending"),
        ("unclaimed-running", "running"),  # e.g. written by an older rxflow, or by hand
        ("live", "pending"),
        ("expired", "pending"),
        ("restart-expired", "pending"),
        ("suspended", "pending"),
        ("done", "success"),
    ]:
        await store.persist_snapshot("wf", run_id, snap(run_id, status))
        clock.advance(0.001)
    await store.persist_snapshot("other-wf", "elsewhere", snap("elsewhere", "running"))
    clock.advance(0.001)

    expired = await store.claim_run("wf", "expired", "running", expected="pending")
    restart = await store.claim_run("wf", "restart-expired", "restarting", expected="pending")
    suspended = await store.claim_run("wf", "suspended", "running", expected="pending")
    assert expired and restart and suspended
    await store.checkpoint(suspended, state={"status": "suspended"}, release=True)
    clock.advance(30)  # the two leases above expire
    assert await store.claim_run("wf", "live", "running", expected="pending") is not None


async def ids(store: Storage, workflow_id: str | None = None, **kwargs: Any) -> Any:
    listed = await store.list_runs(workflow_id, **kwargs)
    return [r.run_id for r in listed.runs], listed.total


async def test_orphaned_runs_are_running_ones_nobody_holds(
    store: Storage, clock: FakeClock
) -> None:
    await seed(store, clock)

    orphans = ["restart-expired", "expired", "unclaimed-running"]
    assert await ids(store, "wf", orphaned=True) == (orphans, 3)
    assert await ids(store, orphaned=True) == (["elsewhere", *orphans], 4)
    assert await ids(store, "wf", orphaned=True, status="running") == (
        ["expired", "unclaimed-running"],
        2,
    )
    assert await ids(store, "wf", orphaned=True, limit=1, offset=1) == (["expired"], 3)
    every = ["done", "suspended", "restart-expired", "expired", "live", "unclaimed-running"]
    assert await ids(store, "wf", orphaned=False) == ([*every, "pending"], 7)

    clock.advance(30)  # now the live lease expired too
    assert await ids(store, "wf", orphaned=True) == (
        ["restart-expired", "expired", "live", "unclaimed-running"],
        4,
    )


async def test_listed_runs_show_their_lease(store: Storage, clock: FakeClock) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    lease = await store.claim_run("wf", "r1", "running", expected="pending")

    listed = await store.list_runs("wf")

    assert [r.lease for r in listed.runs] == [lease]


async def test_a_damaged_run_is_reported_in_its_row_and_the_others_still_list(
    case: StoreCase, store: Storage, clock: FakeClock
) -> None:
    for run_id in ("a", "bad", "c"):
        await store.persist_snapshot("wf", run_id, snap(run_id, "suspended"), resource_id="u")
        clock.advance(0.001)
    await case.corrupt(store, "wf", "bad")

    listed = await store.list_runs("wf")

    assert [r.run_id for r in listed.runs] == ["c", "bad", "a"] and listed.total == 3
    good = {r.run_id: r.snapshot for r in listed.runs if r.run_id != "bad"}
    assert good == {"c": snap("c", "suspended"), "a": snap("a", "suspended")}
    bad = listed.runs[1]
    assert bad == RunRecord(
        workflow_id="wf",
        run_id="bad",
        resource_id="u",
        status="suspended",
        snapshot=None,
        created_at=T0 + 1,
        updated_at=bad.updated_at,
        error=bad.error,
    )
    assert bad.error is not None and "'bad'" in bad.error and "cannot be read" in bad.error
    assert [r.error for r in listed.runs] == [None, bad.error, None]
    with pytest.raises(StorageError, match="'bad'"):
        await store.get_run("wf", "bad")
    with pytest.raises(StorageError, match="'bad'"):
        await store.load_snapshot("wf", "bad")
    assert await store.delete_run("wf", "bad") is True
