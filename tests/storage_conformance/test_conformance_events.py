"""The event log: records numbered from 0 in order, no gap and no overlap, read from any
number, forgotten with the run, and shared by every process that opens the same store."""

from __future__ import annotations

import pytest

from rxflow.errors import StorageError
from rxflow.storage import EventLog, LoggedEvent, Storage, event_log


def logged(store: Storage) -> EventLog:
    """The store's event log (an optional capability: stores without one are skipped)."""
    log = event_log(store)
    if log is None:
        pytest.skip(f"{type(store).__name__} keeps no event log")
    return log


def chunk(n: int) -> dict[str, object]:
    return {"type": "workflow-step-output", "runId": "r1", "from": "USER", "payload": {"n": n}}


async def test_records_are_numbered_in_order_and_read_from_any_number(store: Storage) -> None:
    log = logged(store)
    assert await log.read_events("wf", "r1") == []
    await log.append_events("wf", "r1", 0, [chunk(0), chunk(1)])
    await log.append_events("wf", "r1", 2, [chunk(2)])
    assert await log.read_events("wf", "r1") == [
        LoggedEvent(0, chunk(0)),
        LoggedEvent(1, chunk(1)),
        LoggedEvent(2, chunk(2)),
    ]
    assert await log.read_events("wf", "r1", after_seq=0, limit=1) == [LoggedEvent(1, chunk(1))]
    assert await log.read_events("wf", "r1", after_seq=2) == []
    assert await log.read_events("wf", "r2") == []  # another run has its own log


async def test_a_gap_or_an_overlap_is_refused_and_writes_nothing(store: Storage) -> None:
    log = logged(store)
    await log.append_events("wf", "r1", 0, [chunk(0)])
    with pytest.raises(StorageError, match="record 0 is not the next one \\(1\\)"):
        await log.append_events("wf", "r1", 0, [chunk(9)])
    with pytest.raises(StorageError, match="record 2 is not the next one \\(1\\)"):
        await log.append_events("wf", "r1", 2, [chunk(9)])
    assert await log.read_events("wf", "r1") == [LoggedEvent(0, chunk(0))]


async def test_deleting_the_run_forgets_its_log(store: Storage) -> None:
    log = logged(store)
    await store.persist_snapshot("wf", "r1", {"runId": "r1", "status": "success", "context": {}})
    await log.append_events("wf", "r1", 0, [chunk(0)])
    assert await store.delete_run("wf", "r1") is True
    assert await log.read_events("wf", "r1") == []
    await log.append_events("wf", "r1", 0, [chunk(5)])  # numbering starts again
    assert await log.read_events("wf", "r1") == [LoggedEvent(0, chunk(5))]


async def test_another_opening_of_a_shared_store_reads_the_same_log(
    shared_store: Storage, shared_case: object, tmp_path: object
) -> None:
    log = logged(shared_store)
    await log.append_events("wf", "r1", 0, [chunk(0), chunk(1)])
    other = shared_case.open(tmp_path)  # type: ignore[attr-defined]
    try:
        other_log = logged(other)
        assert await other_log.read_events("wf", "r1", after_seq=0) == [LoggedEvent(1, chunk(1))]
        await other_log.append_events("wf", "r1", 2, [chunk(2)])
        assert [r.seq for r in await log.read_events("wf", "r1")] == [0, 1, 2]
    finally:
        await other.close()
