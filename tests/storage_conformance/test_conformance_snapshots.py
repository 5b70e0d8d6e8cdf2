"""The snapshot side of the storage contract: persist, load, status compare-and-set, keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from rxflow.errors import StorageError
from rxflow.storage import RunList, RunRecord, Storage
from rxflow.storage.protocol import now_ms

from .cases import T0, FakeClock


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def test_the_store_satisfies_the_protocol(store: Storage) -> None:
    assert isinstance(store, Storage)


async def test_persist_then_load_round_trips_the_snapshot(store: Storage) -> None:
    snapshot = snap(
        "r1",
        "suspended",
        value={"count": 3, "ratio": 0.25, "ok": True, "none": None},
        context={"input": {"text": "héllo ✓", "items": [1, [2, 3], {"k": "v"}]}},
        suspendedPaths={"approve": [1]},
    )
    await store.persist_snapshot("wf", "r1", snapshot)

    assert await store.load_snapshot("wf", "r1") == snapshot


async def test_unknown_runs_are_none_false_or_empty(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "running"))

    assert await store.load_snapshot("wf", "nope") is None
    assert await store.load_snapshot("other-wf", "r1") is None
    assert await store.get_run("wf", "nope") is None
    assert await store.update_status("wf", "nope", "running") is False
    assert await store.update_status("wf", "nope", "running", expected="suspended") is False
    assert await store.delete_run("wf", "nope") is False
    assert await store.list_runs("other-wf") == RunList(runs=[], total=0)


async def test_get_run_has_every_field(store: Storage, clock: FakeClock) -> None:
    snapshot = snap("r1", "pending")
    await store.persist_snapshot("wf", "r1", snapshot, resource_id="user-7")

    assert await store.get_run("wf", "r1") == RunRecord(
        workflow_id="wf",
        run_id="r1",
        resource_id="user-7",
        status="pending",
        snapshot=snapshot,
        created_at=T0,
        updated_at=T0,
    )


async def test_replacing_keeps_created_at_and_resource_id(store: Storage, clock: FakeClock) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="user-7")
    clock.now = T0 + 250
    await store.persist_snapshot("wf", "r1", snap("r1", "running", value={"n": 1}))

    record = await store.get_run("wf", "r1")
    assert record is not None
    assert (record.status, record.snapshot["value"]) == ("running", {"n": 1})
    assert (record.resource_id, record.created_at, record.updated_at) == ("user-7", T0, T0 + 250)


async def test_replacing_with_a_new_resource_id_takes_it(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"), resource_id="user-7")
    await store.persist_snapshot("wf", "r1", snap("r1", "running"), resource_id="user-8")

    record = await store.get_run("wf", "r1")
    assert record is not None and record.resource_id == "user-8"


async def test_real_timestamps_are_epoch_milliseconds(open_store: Callable[..., Storage]) -> None:
    store = open_store()  # on the wall clock
    before = now_ms()
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    after = now_ms()

    record = await store.get_run("wf", "r1")
    assert record is not None
    assert type(record.created_at) is int and type(record.updated_at) is int
    assert before <= record.created_at == record.updated_at <= after
    assert 1_600_000_000_000 < record.created_at < 4_000_000_000_000


async def test_update_status_without_expected_always_writes(
    store: Storage, clock: FakeClock
) -> None:
    original = snap("r1", "suspended", value={"kept": True})
    await store.persist_snapshot("wf", "r1", original, resource_id="user-7")
    clock.now = T0 + 10

    assert await store.update_status("wf", "r1", "canceled") is True

    record = await store.get_run("wf", "r1")
    assert record == RunRecord(
        workflow_id="wf",
        run_id="r1",
        resource_id="user-7",
        status="canceled",
        snapshot=snap("r1", "canceled", value={"kept": True}),
        created_at=T0,
        updated_at=T0 + 10,
    )
    assert await store.load_snapshot("wf", "r1") == snap("r1", "canceled", value={"kept": True})
    assert original["status"] == "suspended"  # the caller's dict is never changed


async def test_update_status_with_one_expected_status(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "suspended"))

    assert await store.update_status("wf", "r1", "running", expected="running") is False
    assert (await store.load_snapshot("wf", "r1")) == snap("r1", "suspended")

    assert await store.update_status("wf", "r1", "running", expected="suspended") is True
    assert await store.update_status("wf", "r1", "running", expected="suspended") is False
    record = await store.get_run("wf", "r1")
    assert record is not None
    assert (record.status, record.snapshot["status"]) == ("running", "running")


async def test_update_status_with_a_tuple_of_expected_statuses(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "waiting"))

    assert await store.update_status("wf", "r1", "x", expected=("running", "suspended")) is False
    assert await store.update_status("wf", "r1", "canceled", expected=("running", "waiting"))
    assert await store.update_status("wf", "r1", "x", expected=()) is False
    assert (await store.load_snapshot("wf", "r1")) == snap("r1", "canceled")


@pytest.mark.parametrize(
    "kind", [list, tuple, set, frozenset, lambda s: dict.fromkeys(s).keys()], ids=repr
)
async def test_update_status_takes_any_collection_of_expected_statuses(
    store: Storage, kind: Callable[[list[str]], Any]
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "waiting"))

    assert (
        await store.update_status("wf", "r1", "x", expected=kind(["running", "suspended"])) is False
    )
    assert await store.update_status("wf", "r1", "canceled", expected=kind(["running", "waiting"]))
    assert await store.update_status("wf", "r1", "x", expected=kind([])) is False
    assert (await store.load_snapshot("wf", "r1")) == snap("r1", "canceled")


@pytest.mark.parametrize("expected", [3, [1, "running"], iter(["running"])], ids=repr)
async def test_update_status_refuses_expected_that_is_not_statuses(
    store: Storage, expected: Any
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "running"))

    with pytest.raises(TypeError, match="expected must be a status, a collection of statuses"):
        await store.update_status("wf", "r1", "x", expected=expected)
    assert (await store.load_snapshot("wf", "r1")) == snap("r1", "running")


async def test_update_status_is_seen_by_list_runs(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "suspended"))
    await store.update_status("wf", "r1", "running")

    assert [r.run_id for r in (await store.list_runs(status="running")).runs] == ["r1"]
    assert (await store.list_runs(status="suspended")).total == 0


async def test_only_one_of_many_concurrent_claims_wins(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "suspended"))

    claims = [store.update_status("wf", "r1", "running", expected="suspended") for _ in range(10)]
    assert sorted(await asyncio.gather(*claims)) == [False] * 9 + [True]


async def test_list_runs_is_newest_first_then_latest_inserted(
    store: Storage, clock: FakeClock
) -> None:
    for run_id, created_at in [("a", T0), ("b", T0 + 5), ("c", T0 + 5), ("d", T0 + 1)]:
        clock.now = created_at
        await store.persist_snapshot("wf", run_id, snap(run_id, "running"))
    clock.now = T0 + 99
    await store.persist_snapshot("wf", "b", snap("b", "success"))  # replacing does not move it

    listed = await store.list_runs("wf")
    assert [r.run_id for r in listed.runs] == ["c", "b", "d", "a"]
    assert listed.total == 4


async def test_list_runs_filters_and_pages(store: Storage, clock: FakeClock) -> None:
    rows = [
        ("wf-a", "r1", "success", "alice"),
        ("wf-a", "r2", "failed", "bob"),
        ("wf-a", "r3", "success", None),
        ("wf-b", "r4", "success", "alice"),
        ("wf-b", "r5", "suspended", "alice"),
    ]
    for workflow_id, run_id, status, resource_id in rows:
        clock.now += 1
        await store.persist_snapshot(
            workflow_id, run_id, snap(run_id, status), resource_id=resource_id
        )

    async def ids(workflow_id: str | None = None, **kwargs: Any) -> tuple[list[str], int]:
        listed = await store.list_runs(workflow_id, **kwargs)
        return [r.run_id for r in listed.runs], listed.total

    assert await ids() == (["r5", "r4", "r3", "r2", "r1"], 5)
    assert await ids("wf-a") == (["r3", "r2", "r1"], 3)
    assert await ids(status="success") == (["r4", "r3", "r1"], 3)
    assert await ids(resource_id="alice") == (["r5", "r4", "r1"], 3)
    assert await ids("wf-b", status="success", resource_id="alice") == (["r4"], 1)
    assert await ids("wf-a", resource_id="carol") == ([], 0)
    assert await ids(limit=2) == (["r5", "r4"], 5)
    assert await ids(limit=2, offset=2) == (["r3", "r2"], 5)
    assert await ids(limit=2, offset=4) == (["r1"], 5)
    assert await ids(offset=9) == ([], 5)
    assert await ids(limit=0) == ([], 5)
    assert await ids(status="success", limit=1, offset=1) == (["r3"], 3)


async def test_list_runs_rejects_a_negative_page(store: Storage) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.list_runs(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        await store.list_runs(offset=-1)


async def test_delete_run(store: Storage, clock: FakeClock) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "success"))
    clock.now += 1
    await store.persist_snapshot("wf", "r2", snap("r2", "success"))

    assert await store.delete_run("wf", "r1") is True
    assert await store.delete_run("wf", "r1") is False
    assert await store.get_run("wf", "r1") is None
    assert await store.load_snapshot("wf", "r1") is None
    assert [r.run_id for r in (await store.list_runs()).runs] == ["r2"]

    clock.now += 1
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))  # a new run again
    record = await store.get_run("wf", "r1")
    assert record is not None and record.created_at == T0 + 2
    assert [r.run_id for r in (await store.list_runs()).runs] == ["r1", "r2"]


async def test_runs_are_keyed_by_workflow_and_run_id(store: Storage) -> None:
    await store.persist_snapshot("wf-a", "same", snap("same", "success"))
    await store.persist_snapshot("wf-b", "same", snap("same", "failed"))

    assert await store.update_status("wf-a", "same", "canceled") is True
    assert await store.delete_run("wf-b", "same") is True
    record = await store.get_run("wf-a", "same")
    assert record is not None and record.status == "canceled"


async def test_a_snapshot_needs_a_status(store: Storage) -> None:
    with pytest.raises(ValueError, match="status"):
        await store.persist_snapshot("wf", "r1", {"runId": "r1"})
    with pytest.raises(TypeError, match="dict"):
        await store.persist_snapshot("wf", "r1", [("status", "x")])  # type: ignore[arg-type]
    assert await store.get_run("wf", "r1") is None


async def test_a_closed_storage_raises_storage_error(store: Storage) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    lease = await store.claim_run("wf", "r1", "running", expected="pending")
    assert lease is not None
    await store.close()
    await store.close()  # closing twice is harmless

    calls = [
        store.persist_snapshot("wf", "r2", snap("r2", "pending")),
        store.load_snapshot("wf", "r1"),
        store.update_status("wf", "r1", "x"),
        store.get_run("wf", "r1"),
        store.list_runs(),
        store.delete_run("wf", "r1"),
        store.delete_runs(),
        store.claim_run("wf", "r1", "running", expected="running"),
        store.renew_lease(lease),
        store.release_lease(lease),
        store.checkpoint(lease, state={"value": 1}),
        store.load_results("wf", "r1"),
        store.request_cancel("wf", "r1"),
        store.cancel_requested("wf", "r1"),
    ]
    for call in calls:
        with pytest.raises(StorageError, match="closed"):
            await call
