"""Retention: ``delete_runs`` by workflow, age and status (finished runs only, by default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rxflow.storage import Storage

from .cases import T0, FakeClock

STATUSES = ["pending", "running", "suspended", "success", "failed", "canceled", "tripwire"]


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def stored(store: Storage) -> list[str]:
    return sorted(r.run_id for r in (await store.list_runs(limit=1000)).runs)


async def test_by_default_every_finished_run_goes_and_the_others_stay(store: Storage) -> None:
    for status in STATUSES:
        await store.persist_snapshot("wf", status, snap(status, status))
    lease = await store.claim_run("wf", "success", "success", expected="success")
    assert lease is not None
    await store.checkpoint(lease, results={"s": {"output": 1}}, release=True)

    assert await store.delete_runs() == 4

    assert await stored(store) == ["pending", "running", "suspended"]
    assert await store.load_results("wf", "success") == []
    assert await store.delete_runs() == 0


async def test_older_than_counts_back_from_the_last_write(store: Storage, clock: FakeClock) -> None:
    for run_id in ("old", "edge", "new"):
        await store.persist_snapshot("wf", run_id, snap(run_id, "pending"))
    clock.advance(10)
    await store.update_status("wf", "edge", "success")
    await store.update_status("wf", "old", "success")  # created first, but written last
    clock.advance(50)
    await store.update_status("wf", "new", "success")
    clock.advance(10)  # old and edge were last written 60 s ago, new 10 s ago

    assert await store.delete_runs(older_than=timedelta(seconds=60, milliseconds=1)) == 0
    assert await store.delete_runs(older_than=timedelta(seconds=59, milliseconds=999)) == 2
    assert await stored(store) == ["new"]


async def test_older_than_a_moment(store: Storage, clock: FakeClock) -> None:
    await store.persist_snapshot("wf", "a", snap("a", "success"))
    clock.advance(1)
    await store.persist_snapshot("wf", "b", snap("b", "success"))
    moment = datetime.fromtimestamp((T0 + 1_000) / 1000, tz=UTC)

    assert await store.delete_runs(older_than=moment) == 1
    assert await stored(store) == ["b"]


async def test_by_status_and_workflow(store: Storage) -> None:
    for workflow_id in ("wf-a", "wf-b"):
        for status in STATUSES:
            await store.persist_snapshot(workflow_id, status, snap(status, status))

    assert await store.delete_runs(workflow_id="wf-a", status="running") == 1
    assert await store.delete_runs(status=["suspended", "failed"]) == 4
    assert await store.delete_runs(workflow_id="wf-b", status={"pending", "success"}) == 2
    assert await store.delete_runs(status=()) == 0

    listed = await store.list_runs(limit=100)
    assert sorted((r.workflow_id, r.run_id) for r in listed.runs) == [
        ("wf-a", "canceled"),
        ("wf-a", "pending"),
        ("wf-a", "success"),
        ("wf-a", "tripwire"),
        ("wf-b", "canceled"),
        ("wf-b", "running"),
        ("wf-b", "tripwire"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"older_than": 60}, "older_than must be a timedelta, a datetime or None"),
        ({"status": 3}, "status must be a status, a collection of statuses or None"),
        ({"status": ["success", 1]}, "status must be a status"),
    ],
)
async def test_bad_arguments_delete_nothing(
    store: Storage, kwargs: dict[str, Any], match: str
) -> None:
    await store.persist_snapshot("wf", "r1", snap("r1", "success"))

    with pytest.raises(TypeError, match=match):
        await store.delete_runs(**kwargs)

    assert await stored(store) == ["r1"]
