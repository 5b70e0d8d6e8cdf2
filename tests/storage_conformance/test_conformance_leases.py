"""Leases: renewal, release, and fencing (a former owner's writes are refused, typed)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from rxflow.errors import LeaseLostError, StorageError
from rxflow.storage import Lease, Storage

from .cases import T0, FakeClock


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def claimed(store: Storage, run_id: str = "r1", owner: str = "a") -> Lease:
    await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
    lease = await store.claim_run("wf", run_id, "running", expected="pending", owner=owner)
    assert lease is not None
    return lease


async def test_renewal_extends_the_lease_from_now(store: Storage, clock: FakeClock) -> None:
    lease = await claimed(store)
    clock.advance(10)

    renewed = await store.renew_lease(lease)

    assert renewed == attrs.evolve(lease, expires_at=T0 + 40_000)
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease == renewed
    clock.advance(29.999)
    assert await store.claim_run("wf", "r1", "restarting", expected="running") is None


async def test_a_late_renewal_succeeds_while_nobody_took_the_run(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store)
    clock.advance(45)  # expired, but nobody claimed it meanwhile: the fencing version decides

    renewed = await store.renew_lease(lease)

    assert renewed.expires_at == T0 + 75_000
    assert await store.claim_run("wf", "r1", "restarting", expected="running") is None


async def test_a_former_owner_is_refused_after_a_takeover(store: Storage, clock: FakeClock) -> None:
    stale = await claimed(store, owner="a")
    await store.checkpoint(stale, state={"value": {"by": "a"}}, results={"s1": {"v": "a"}})
    clock.advance(30)
    fresh = await store.claim_run("wf", "r1", "restarting", expected="running", owner="b")
    assert fresh is not None and fresh.version == 2
    await store.checkpoint(fresh, state={"value": {"by": "b"}})
    before = (await store.get_run("wf", "r1"), await store.load_results("wf", "r1"))

    with pytest.raises(LeaseLostError, match=r"'r1'.*'b' \(fencing version 2\).*'a'"):
        await store.checkpoint(stale, state={"value": {"by": "a", "late": True}})
    with pytest.raises(LeaseLostError):
        await store.checkpoint(stale, results={"s2": {"v": "late"}})
    with pytest.raises(LeaseLostError):
        await store.renew_lease(stale)
    assert await store.release_lease(stale) is False

    assert (await store.get_run("wf", "r1"), await store.load_results("wf", "r1")) == before
    assert issubclass(LeaseLostError, StorageError)


async def test_a_forged_lease_is_refused(store: Storage) -> None:
    lease = await claimed(store, owner="a")

    for forged in (attrs.evolve(lease, owner="b"), attrs.evolve(lease, version=2)):
        with pytest.raises(LeaseLostError):
            await store.checkpoint(forged, state={"value": 1})
        with pytest.raises(LeaseLostError):
            await store.renew_lease(forged)
        assert await store.release_lease(forged) is False
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease == lease


async def test_the_lease_of_a_deleted_run_is_lost_even_when_the_run_comes_back(
    store: Storage,
) -> None:
    old = await claimed(store, owner="a")
    assert await store.delete_run("wf", "r1") is True

    with pytest.raises(LeaseLostError, match="no longer stored"):
        await store.checkpoint(old, state={"value": 1})
    new = await claimed(store, owner="b")  # the same run id, created again
    with pytest.raises(LeaseLostError):
        await store.checkpoint(old, state={"value": 1})
    assert await store.release_lease(old) is False
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease == new


async def test_a_releasing_checkpoint_gives_the_run_up_in_the_same_write(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store)
    clock.advance(1)

    released = await store.checkpoint(
        lease, state={"status": "suspended"}, results={"s1": {"v": 1}}, release=True
    )

    assert released == attrs.evolve(lease, expires_at=0)
    record = await store.get_run("wf", "r1")
    assert record is not None and record.snapshot is not None
    assert (record.status, record.lease, record.updated_at) == ("suspended", None, T0 + 1_000)
    assert record.snapshot["context"] == {"s1": {"v": 1}}
    with pytest.raises(LeaseLostError, match="owned by nobody"):
        await store.checkpoint(released, state={"value": 1})
    resumed = await store.claim_run("wf", "r1", "running", expected="suspended")
    assert resumed is not None and resumed.version == 2
