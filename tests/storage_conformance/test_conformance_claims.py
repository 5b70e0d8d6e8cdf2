"""Claims: a compare-and-set of the run's status that also takes its lease; one winner, always."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest

from rxflow.storage import Lease, Storage
from rxflow.storage.lease import this_host

from .cases import T0, FakeClock


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def test_a_claim_takes_the_run_and_its_lease(store: Storage, clock: FakeClock) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="u1")
    clock.advance(1)

    lease = await store.claim_run("wf", "r1", "running", expected="pending", owner="worker-a")

    assert lease == Lease(
        workflow_id="wf",
        run_id="r1",
        owner="worker-a",
        version=1,
        expires_at=T0 + 1_000 + 30_000,
        host=this_host(),
        pid=os.getpid(),
        cancel_requested=False,
    )
    record = await store.get_run("wf", "r1")
    assert record is not None and record.snapshot is not None
    assert (record.status, record.snapshot["status"]) == ("running", "running")
    assert (record.lease, record.updated_at, record.resource_id) == (lease, T0 + 1_000, "u1")
    assert store.lease_ttl == 30.0


async def test_a_claim_without_an_owner_gets_a_fresh_unique_one(store: Storage) -> None:
    for run_id in ("r1", "r2"):
        await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))

    first = await store.claim_run("wf", "r1", "running", expected="pending")
    second = await store.claim_run("wf", "r2", "running", expected="pending")

    assert first is not None and second is not None
    assert first.owner != second.owner
    assert len(first.owner) == 32 and int(first.owner, 16) >= 0


async def test_a_claim_from_another_status_or_of_an_unknown_run_loses(
    store: Storage, clock: FakeClock
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "success"))
    before = await store.get_run("wf", "r1")
    clock.advance(1)

    assert await store.claim_run("wf", "r1", "running", expected="pending") is None
    assert await store.claim_run("wf", "r1", "running", expected=()) is None
    assert await store.claim_run("wf", "nope", "running", expected="pending") is None
    assert await store.get_run("wf", "r1") == before


@pytest.mark.parametrize("kind", [list, tuple, set, frozenset], ids=lambda k: k.__name__)
async def test_a_claim_takes_any_collection_of_expected_statuses(
    store: Storage, kind: Callable[[list[str]], Any]
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "running"))

    lease = await store.claim_run("wf", "r1", "restarting", expected=kind(["running", "x"]))

    assert lease is not None and lease.version == 1
    record = await store.get_run("wf", "r1")
    assert record is not None and record.status == "restarting"


async def test_a_claim_needs_expected_statuses(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))

    with pytest.raises(TypeError, match="expected"):
        await store.claim_run("wf", "r1", "running", expected=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected"):
        await store.claim_run("wf", "r1", "running", expected=[1])  # type: ignore[list-item]


async def test_one_of_twenty_concurrent_claimers_wins(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))

    claims = [
        store.claim_run("wf", "r1", "running", expected="pending", owner=f"claimer-{i}")
        for i in range(20)
    ]
    leases = await asyncio.gather(*claims)

    winners = [lease for lease in leases if lease is not None]
    assert len(winners) == 1 and leases.count(None) == 19
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease == winners[0]
    assert winners[0].version == 1


async def test_a_held_lease_blocks_claims_until_it_expires(
    store: Storage, clock: FakeClock
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    first = await store.claim_run("wf", "r1", "running", expected="pending", owner="a")
    assert first is not None

    clock.advance(29.999)
    assert await store.claim_run("wf", "r1", "restarting", expected="running", owner="b") is None

    clock.advance(0.001)  # now exactly at expiry: the lease is free
    second = await store.claim_run("wf", "r1", "restarting", expected="running", owner="b")

    assert second is not None
    assert (second.owner, second.version, second.expires_at) == ("b", 2, T0 + 60_000)
    record = await store.get_run("wf", "r1")
    assert record is not None and (record.status, record.lease) == ("restarting", second)


async def test_the_lease_length_is_a_store_option(
    open_store: Callable[..., Storage], clock: FakeClock
) -> None:
    store = open_store(clock=clock, lease_ttl=2.5)
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))

    lease = await store.claim_run("wf", "r1", "running", expected="pending")

    assert store.lease_ttl == 2.5
    assert lease is not None and lease.expires_at == T0 + 2_500


@pytest.mark.parametrize("lease_ttl", [0, -1, "30", True, None])
def test_the_lease_length_must_be_a_positive_number(
    open_store: Callable[..., Storage], lease_ttl: Any
) -> None:
    with pytest.raises(ValueError, match="lease_ttl must be a number of seconds > 0"):
        open_store(lease_ttl=lease_ttl)


async def test_a_released_lease_lets_the_next_claim_in_at_once(
    store: Storage, clock: FakeClock
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    first = await store.claim_run("wf", "r1", "running", expected="pending")
    assert first is not None

    assert await store.release_lease(first) is True
    assert await store.release_lease(first) is False  # nothing left to give up
    record = await store.get_run("wf", "r1")
    assert record is not None and (record.status, record.lease) == ("running", None)

    second = await store.claim_run("wf", "r1", "restarting", expected="running")
    assert second is not None and second.version == 2
    assert await store.release_lease(first) is False  # an old lease never releases a new one
    record = await store.get_run("wf", "r1")
    assert record is not None and record.lease == second
