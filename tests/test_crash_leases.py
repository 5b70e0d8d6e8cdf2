"""Leases and checkpoint modes with real processes: an owner paused past its lease loses the run
to a restarter and every later write of its is refused; what a crash costs in the async and
exit modes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import crash_app
import pytest
from _crash import BOUND, finish, kill, spawn, wait_for

from rxflow import RunAlreadyStartedError

ALL_STEPS = [f"s{k}" for k in range(1, crash_app.STEPS + 1)]


async def _orphaned(spec: str, run_id: str) -> None:
    """Wait until the run's lease expired (it is listed as orphaned)."""
    store = crash_app.open_store(spec)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while run_id not in [r.run_id for r in (await store.list_runs(orphaned=True)).runs]:
        assert loop.time() < deadline, "the paused owner's lease never expired"
        await asyncio.sleep(0.02)
    await store.close()


async def test_an_owner_paused_past_its_lease_cannot_write_over_its_successor(
    crash_dir: Path, store_spec: str
) -> None:
    owner = spawn(
        "six-outcome",
        store_spec,
        "r",
        RXFLOW_TEST_BLOCK_AT="3",
        RXFLOW_TEST_GO_ON="continue",
        RXFLOW_TEST_LEASE_TTL="1",
        RXFLOW_TEST_DURABILITY="sync",
    )
    wait_for(lambda: crash_app.signalled("running.s3"), "s3 to run")
    owner.send_signal(signal.SIGSTOP)  # a long pause: its lease runs out, its process lives
    try:
        await _orphaned(store_spec, "r")

        wf = crash_app.six(store_spec)
        run = await wf.get_run("r")
        assert run is not None
        result = await run.restart()  # the successor claims the run and finishes it
        assert (result.status, result.result) == ("success", {"n": 21})
        await wf.storage.close()
    finally:
        crash_app.signal("continue")
        owner.send_signal(signal.SIGCONT)

    # The owner wakes, its s3 ends; its next write carries the old lease and is refused.
    assert finish(owner) == "failed LeaseLostError"
    wf = crash_app.six(store_spec)
    record = await wf.storage.get_run("six", "r")
    assert record is not None and record.snapshot is not None
    assert (record.status, record.snapshot["result"]) == ("success", {"n": 21})
    assert record.lease is None
    await wf.storage.close()
    # s3 ran in both processes; the paused owner never got past it
    assert crash_app.executions() == {"s1": 1, "s2": 1, "s3": 2, "s4": 1, "s5": 1, "s6": 1}


async def _restart(spec: str, run_id: str) -> None:
    wf = crash_app.six(spec)
    run = await wf.get_run(run_id)
    assert run is not None
    before = await wf.storage.load_snapshot("six", run_id)
    result = await run.restart()
    assert (result.status, result.result) == ("success", {"n": 21}), (result.error, before)
    record = await wf.storage.get_run("six", run_id)
    assert record is not None and record.status == "success"
    await wf.storage.close()


@pytest.mark.parametrize("k", [1, 4, 6])
async def test_async_mode_killed_while_step_k_runs(
    crash_dir: Path, store_spec: str, k: int
) -> None:
    process = spawn(
        "six", store_spec, "r", RXFLOW_TEST_BLOCK_AT=str(k), RXFLOW_TEST_DURABILITY="async"
    )
    wait_for(lambda: crash_app.signalled(f"running.s{k}"), f"s{k} to run")
    kill(process)

    await _restart(store_spec, "r")

    counts = crash_app.executions()
    for step in ALL_STEPS[: k - 1]:  # finished: may run again (its write may not have landed)
        assert counts[step] in (1, 2), (step, counts)
    assert counts[f"s{k}"] == 2  # interrupted: once more
    for step in ALL_STEPS[k:]:
        assert counts[step] == 1, (step, counts)


async def test_exit_mode_killed_mid_run_starts_over(crash_dir: Path, store_spec: str) -> None:
    process = spawn("six", store_spec, "r", RXFLOW_TEST_BLOCK_AT="4", RXFLOW_TEST_DURABILITY="exit")
    wait_for(lambda: crash_app.signalled("running.s4"), "s4 to run")
    kill(process)
    wf = crash_app.six(store_spec)
    record = await wf.storage.get_run("six", "r")
    assert record is not None and record.snapshot is not None
    # stored at its start only: running, no step result
    assert record.status == "running"
    assert set(record.snapshot["context"]) <= {"input"}
    await wf.storage.close()

    await _restart(store_spec, "r")

    assert crash_app.executions() == {"s1": 2, "s2": 2, "s3": 2, "s4": 2, "s5": 1, "s6": 1}


async def test_a_start_of_a_run_another_process_runs_is_refused(
    crash_dir: Path, store_spec: str
) -> None:
    owner = spawn("six", store_spec, "r", RXFLOW_TEST_BLOCK_AT="2", RXFLOW_TEST_DURABILITY="sync")
    wait_for(lambda: crash_app.signalled("running.s2"), "s2 to run")
    wf = crash_app.six(store_spec)
    run = await wf.get_run("r")
    assert run is not None
    with pytest.raises(RunAlreadyStartedError):
        await run.start(input_data={"n": 0})
    await wf.storage.close()
    kill(owner)
    assert crash_app.executions() == {"s1": 1, "s2": 1}
