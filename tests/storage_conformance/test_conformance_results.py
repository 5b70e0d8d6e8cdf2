"""Checkpoints: the control state patched, each step result its own record, written once."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from rxflow.storage import Lease, ResultRecord, Storage

from .cases import T0, FakeClock, StoreCase


def snap(run_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}, **extra}


async def claimed(store: Storage, snapshot: dict[str, Any] | None = None) -> Lease:
    await store.persist_snapshot("wf", "r1", snapshot or snap("r1", "pending"))
    lease = await store.claim_run("wf", "r1", "running", expected="pending", owner="a")
    assert lease is not None
    return lease


async def test_a_checkpoint_patches_the_state_and_adds_results(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store, snap("r1", "pending", activePaths=[], timestamp=T0))
    clock.advance(1)

    renewed = await store.checkpoint(
        lease,
        state={"context": {"input": {"n": 2}}, "activePaths": [1], "timestamp": T0 + 1_000},
        results={"double": {"status": "success", "output": 4}, "log": {"status": "success"}},
    )

    assert renewed.expires_at == T0 + 31_000
    expected = snap(
        "r1",
        "running",
        activePaths=[1],
        timestamp=T0 + 1_000,
        context={
            "input": {"n": 2},
            "double": {"status": "success", "output": 4},
            "log": {"status": "success"},
        },
    )
    assert await store.load_snapshot("wf", "r1") == expected
    record = await store.get_run("wf", "r1")
    assert record is not None and (record.snapshot, record.updated_at) == (expected, T0 + 1_000)
    assert (await store.list_runs()).runs[0].snapshot == expected
    records = await store.load_results("wf", "r1")
    first_seq = records[0].seq  # seq only orders a run's records: any increasing numbers
    assert records == [
        ResultRecord("double", 0, first_seq, {"status": "success", "output": 4}, T0 + 1_000),
        ResultRecord("log", 0, records[1].seq, {"status": "success"}, T0 + 1_000),
    ]
    assert first_seq < records[1].seq


async def test_a_result_written_again_keeps_the_earlier_attempt(
    store: Storage, clock: FakeClock
) -> None:
    lease = await claimed(store)
    lease = await store.checkpoint(lease, results={"fetch": {"output": "first"}})
    clock.advance(1)
    lease = await store.checkpoint(lease, results={"other": {"output": 0}})
    clock.advance(1)
    await store.checkpoint(lease, results={"fetch": {"output": "second"}})

    records = await store.load_results("wf", "r1")

    assert [(r.key, r.attempt, r.result, r.written_at) for r in records] == [
        ("fetch", 0, {"output": "first"}, T0),
        ("other", 0, {"output": 0}, T0 + 1_000),
        ("fetch", 1, {"output": "second"}, T0 + 2_000),
    ]
    assert records[0].seq < records[1].seq < records[2].seq
    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None
    assert snapshot["context"] == {"fetch": {"output": "second"}, "other": {"output": 0}}


async def test_a_persisted_snapshot_replaces_the_context_and_keeps_the_records(
    store: Storage,
) -> None:
    lease = await claimed(store)
    lease = await store.checkpoint(lease, results={"a": {"output": 1}})
    replaced = snap("r1", "running", context={"input": 7})
    await store.persist_snapshot("wf", "r1", replaced)

    assert await store.load_snapshot("wf", "r1") == replaced
    lease = await store.checkpoint(lease, results={"a": {"output": 2}})  # the lease survives

    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot == snap("r1", "running", context={"input": 7, "a": {"output": 2}})
    records = await store.load_results("wf", "r1")
    assert [(r.key, r.attempt, r.result) for r in records] == [
        ("a", 0, {"output": 1}),
        ("a", 1, {"output": 2}),
    ]


async def test_a_checkpoint_status_is_the_run_status(store: Storage) -> None:
    lease = await claimed(store)

    await store.checkpoint(lease, state={"status": "suspended", "suspendedPaths": {"s": [0]}})

    record = await store.get_run("wf", "r1")
    assert record is not None and record.snapshot is not None
    assert (record.status, record.snapshot["status"]) == ("suspended", "suspended")
    assert record.snapshot["suspendedPaths"] == {"s": [0]}
    assert [r.run_id for r in (await store.list_runs(status="suspended")).runs] == ["r1"]


async def test_an_empty_checkpoint_only_renews(store: Storage, clock: FakeClock) -> None:
    lease = await claimed(store)
    before = await store.load_snapshot("wf", "r1")
    clock.advance(5)

    renewed = await store.checkpoint(lease)

    assert renewed.expires_at == T0 + 35_000
    assert await store.load_snapshot("wf", "r1") == before
    assert await store.load_results("wf", "r1") == []


async def test_update_status_after_checkpoints_keeps_their_state_and_results(
    store: Storage,
) -> None:
    lease = await claimed(store)
    await store.checkpoint(lease, state={"value": {"k": 1}}, results={"a": {"output": 1}})

    assert await store.update_status("wf", "r1", "canceled", expected=["running"]) is True

    assert await store.load_snapshot("wf", "r1") == snap(
        "r1", "canceled", value={"k": 1}, context={"a": {"output": 1}}
    )


@pytest.mark.parametrize(
    ("state", "results", "error"),
    [
        ({"status": 3}, None, ValueError),
        ({1: "x"}, None, TypeError),
        ({"context": [1]}, None, TypeError),
        ("status", None, TypeError),
        (None, [("a", 1)], TypeError),
        (None, {2: {"output": 1}}, TypeError),
    ],
)
async def test_a_checkpoint_with_bad_arguments_writes_nothing(
    store: Storage, state: Any, results: Any, error: type[Exception]
) -> None:
    lease = await claimed(store)
    before = await store.get_run("wf", "r1")

    with pytest.raises(error):
        await store.checkpoint(lease, state=state, results=results)

    assert await store.get_run("wf", "r1") == before
    assert await store.load_results("wf", "r1") == []


async def test_checkpoints_cost_the_same_at_the_end_of_a_200_step_run(
    case: StoreCase, store: Storage, tmp_path: Path
) -> None:
    steps = 200
    graph = [
        {"type": "step", "step": {"id": f"step-{i}", "description": None}} for i in range(steps)
    ]
    results = [
        {"status": "success", "payload": {"i": i}, "output": {"text": "x" * 400, "i": i}}
        for i in range(steps)
    ]
    result_size = len(json.dumps(results[0], separators=(",", ":")))
    lease = await claimed(store, snap("r1", "pending", serializedStepGraph=graph))
    meter = case.meter(store, tmp_path)
    try:
        stored_before = meter.stored()
        written = []
        for i in range(steps):
            mark = meter.mark()
            lease = await store.checkpoint(
                lease,
                state={"activePaths": [i], "value": {"step": i}, "timestamp": T0 + i},
                results={f"step-{i}": results[i]},
            )
            written.append(meter.written_since(mark))
        stored_growth = meter.stored() - stored_before
        whole = await store.load_snapshot("wf", "r1")
        assert whole is not None and len(whole["context"]) == steps
        mark = meter.mark()
        await store.persist_snapshot("wf", "r1", whole)  # what a whole-snapshot write costs
        whole_write = meter.written_since(mark)
    finally:
        meter.close()

    early, late = statistics.median(written[10:30]), statistics.median(written[180:200])
    assert late <= early * 1.5, (early, late)
    if not case.by_reference:  # the meter does see a write that grows with the run
        assert whole_write > late * 5, (whole_write, late)
    assert stored_growth <= steps * (result_size + 1_024), (stored_growth, result_size)


def _block(outputs: list[Any], done: list[int], suspended: list[Any]) -> dict[str, Any]:
    foreach = {"outputs": outputs, "done": done, "suspended": suspended}
    return {"status": "running", "payload": [1, 2, 3, 4], "metadata": {"foreach": foreach}}


def _item(index: int, status: str, value: Any) -> dict[str, Any]:
    field = "output" if status == "success" else "suspendPayload"
    return {"foreachItem": index, "status": status, field: value}


async def test_foreach_item_records_fold_into_their_running_block(store: Storage) -> None:
    lease = await claimed(store)
    lease = await store.checkpoint(lease, results={"each": _block([None] * 4, [], [])})
    lease = await store.checkpoint(lease, results={"each#2": _item(2, "success", 30)})
    lease = await store.checkpoint(lease, results={"each#0": _item(0, "suspended", {"ask": 1})})
    lease = await store.checkpoint(lease, results={"each#3": _item(3, "success", 40)})

    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None
    assert snapshot["context"] == {"each": _block([None, None, 30, 40], [2, 3], [[0, {"ask": 1}]])}
    record = await store.get_run("wf", "r1")
    assert record is not None and record.snapshot == snapshot

    # the suspended item succeeds on resume; a record of an item outside the block is left out
    lease = await store.checkpoint(lease, results={"each#0": _item(0, "success", 10)})
    await store.checkpoint(lease, results={"each#9": _item(9, "success", 0)})
    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None
    assert snapshot["context"] == {"each": _block([10, None, 30, 40], [2, 3, 0], [])}


async def test_item_records_of_a_finished_block_are_left_out(store: Storage) -> None:
    lease = await claimed(store)
    lease = await store.checkpoint(lease, results={"each": _block([None] * 4, [], [])})
    lease = await store.checkpoint(lease, results={"each#1": _item(1, "success", 20)})
    final = {"status": "success", "output": [1, 20, 3, 4]}
    await store.checkpoint(lease, results={"each": final})

    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None and snapshot["context"] == {"each": final}


async def test_execution_path_records_extend_the_stored_path(store: Storage) -> None:
    lease = await claimed(store, snap("r1", "pending", stepExecutionPath=[]))
    lease = await store.checkpoint(lease, state={"stepExecutionPath": ["a"]})
    lease = await store.checkpoint(
        lease, results={"stepExecutionPath#1": {"stepExecutionPath": ["b", "c"], "from": 1}}
    )
    lease = await store.checkpoint(
        lease, results={"stepExecutionPath#3": {"stepExecutionPath": ["d"], "from": 3}}
    )

    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None
    assert (snapshot["stepExecutionPath"], snapshot["context"]) == (["a", "b", "c", "d"], {})

    # a checkpoint storing the whole path again is not undone by the parts stored before it
    await store.checkpoint(lease, state={"stepExecutionPath": ["a", "b", "c", "d", "e"]})
    snapshot = await store.load_snapshot("wf", "r1")
    assert snapshot is not None and snapshot["stepExecutionPath"] == ["a", "b", "c", "d", "e"]
