"""Cancel requests: a live owner is asked (and learns at its next renewal or checkpoint); a run
nobody owns is cancelled on the spot, fencing out any former owner."""

from __future__ import annotations

from typing import Any

import pytest

from rxflow.errors import LeaseLostError
from rxflow.storage import Lease, Storage

from .cases import T0, FakeClock


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def claimed(store: Storage, run_id: str = "r1") -> Lease:
    await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
    lease = await store.claim_run("wf", run_id, "running", expected="pending", owner="a")
    assert lease is not None
    return lease


async def test_a_live_owner_is_asked_and_sees_it_at_renewal_and_checkpoint(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store)
    assert await store.cancel_requested("wf", "r1") is False

    assert await store.request_cancel("wf", "r1") == "requested"
    assert await store.request_cancel("wf", "r1") == "requested"  # asking twice is harmless

    assert await store.cancel_requested("wf", "r1") is True
    renewed = await store.renew_lease(lease)
    assert renewed.cancel_requested is True
    after = await store.checkpoint(renewed, results={"s": {"status": "canceled"}})
    assert after.cancel_requested is True
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease is not None
    assert (record.status, record.lease.cancel_requested) == ("running", True)

    await store.checkpoint(after, state={"status": "canceled"}, release=True)
    assert await store.request_cancel("wf", "r1") == "finished"


async def test_a_run_whose_lease_expired_is_cancelled_directly(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store)
    await store.checkpoint(lease, results={"s1": {"output": 1}})
    clock.advance(30)

    assert await store.request_cancel("wf", "r1") == "canceled"

    record = await store.get_run("wf", "r1")
    assert record is not None and record.snapshot is not None
    assert (record.status, record.snapshot["status"], record.lease) == (
        "canceled",
        "canceled",
        None,
    )
    assert record.snapshot["context"] == {"s1": {"output": 1}}
    assert record.updated_at == T0 + 30_000
    with pytest.raises(LeaseLostError):  # the former owner comes back: refused
        await store.checkpoint(lease, state={"status": "success"})
    with pytest.raises(LeaseLostError):
        await store.renew_lease(lease)
    assert await store.claim_run("wf", "r1", "restarting", expected="running") is None
    assert await store.cancel_requested("wf", "r1") is True


@pytest.mark.parametrize("status", ["pending", "suspended", "running", "restarting"])
async def test_a_run_nobody_owns_is_cancelled_directly(store: Storage, status: str) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", status))

    assert await store.request_cancel("wf", "r1") == "canceled"

    assert await store.load_snapshot("wf", "r1") == snap("r1", "canceled")
    assert await store.claim_run("wf", "r1", "running", expected=status) is None


async def test_a_suspended_run_whose_owner_released_it_is_cancelled_directly(
    store: Storage,
) -> None:
    lease = await claimed(store)
    await store.checkpoint(lease, state={"status": "suspended"}, release=True)

    assert await store.request_cancel("wf", "r1") == "canceled"
    record = await store.get_run("wf", "r1")
    assert record is not None and record.status == "canceled"


@pytest.mark.parametrize("status", ["success", "failed", "canceled", "tripwire"])
async def test_a_finished_run_is_left_alone(store: Storage, clock: FakeClock, status: str) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", status))
    before = await store.get_run("wf", "r1")
    clock.advance(1)

    assert await store.request_cancel("wf", "r1") == "finished"

    assert await store.get_run("wf", "r1") == before
    assert await store.cancel_requested("wf", "r1") is False


async def test_an_unknown_run_has_no_cancel(store: Storage) -> None:
    assert await store.request_cancel("wf", "nope") is None
    assert await store.cancel_requested("wf", "nope") is False


async def test_whoever_takes_over_a_run_asked_to_cancel_learns_it_at_the_claim(
    store: Storage, clock: FakeClock
) -> None:
    await claimed(store)
    assert await store.request_cancel("wf", "r1") == "requested"
    clock.advance(30)  # the owner died before it acted on the request

    lease = await store.claim_run("wf", "r1", "restarting", expected="running")

    assert lease is not None and lease.cancel_requested is True
