"""Crashes with real processes and SIGKILL, then ``restart()``: in ``sync`` mode no finished step
runs again and the interrupted one runs at most once more; racing restarters have one winner."""

from __future__ import annotations

from pathlib import Path

import crash_app
import pytest
from _crash import (
    died_by_sigkill,
    finish,
    kill,
    ready_pids,
    spawn,
    wait_for,
)

from rxflow import ResumeAlreadyClaimedError

SYNC = {"RXFLOW_TEST_DURABILITY": "sync"}
ALL_STEPS = [f"s{k}" for k in range(1, crash_app.STEPS + 1)]


async def restarted(spec: str, run_id: str) -> None:
    """Restart the run in this process; it ends with the chain's result."""
    wf = crash_app.six(spec)
    run = await wf.get_run(run_id)
    assert run is not None and run.status in ("running", "restarting")
    result = await run.restart()
    assert (result.status, result.result) == ("success", {"n": 21})
    record = await wf.storage.get_run("six", run_id)
    assert record is not None and record.status == "success"
    await wf.storage.close()


@pytest.mark.parametrize("k", range(1, crash_app.STEPS + 1))
async def test_killed_while_step_k_runs(crash_dir: Path, store_spec: str, k: int) -> None:
    process = spawn("six", store_spec, "r", RXFLOW_TEST_BLOCK_AT=str(k), **SYNC)
    wait_for(lambda: crash_app.signalled(f"running.s{k}"), f"s{k} to run")
    kill(process)
    await restarted(store_spec, "r")
    expected = {step: 1 for step in ALL_STEPS}
    expected[f"s{k}"] = 2  # interrupted: run once more, from its stored input
    assert crash_app.executions() == expected


@pytest.mark.parametrize("k", range(1, crash_app.STEPS + 1))
async def test_killed_right_after_step_k_result_is_read(
    crash_dir: Path, store_spec: str, k: int
) -> None:
    died_by_sigkill(spawn("six-seen", store_spec, "r", k, **SYNC))
    seen = crash_app.executions()
    assert seen == {step: 1 for step in ALL_STEPS[:k]} | {
        step: 1 for step in ALL_STEPS[k : k + 1] if step in seen
    }
    wf = crash_app.six(store_spec)
    run = await wf.get_run("r")
    assert run is not None
    result = await run.restart()  # a run stored as finished returns its stored result
    assert (result.status, result.result) == ("success", {"n": 21})
    await wf.storage.close()
    counts = crash_app.executions()
    for step in ALL_STEPS[:k]:
        assert counts[step] == 1, (step, counts)  # read by the consumer: never again
    for index, step in enumerate(ALL_STEPS[k:], start=k):
        # the step after k may have started before the kill: at most once more
        assert counts[step] == (seen.get(step, 0) + 1 if index == k else 1), (step, counts)


async def test_killed_mid_foreach_no_stored_item_runs_again(
    crash_dir: Path, store_spec: str
) -> None:
    died_by_sigkill(spawn("fan-seen", store_spec, "r", 50, **SYNC))
    seen = {int(line) for line in (crash_dir / "seen.log").read_text().split()}
    assert len(seen) == 50
    store = crash_app.open_store(store_spec)
    snapshot = await store.load_snapshot("fan", "r")
    await store.close()
    assert snapshot is not None and snapshot["status"] == "running"
    progress = snapshot["context"]["item"]["metadata"]["foreach"]
    stored = set(progress["done"])
    assert seen <= stored  # what the consumer read survived the crash
    before = crash_app.executions()

    wf = crash_app.fan(store_spec)
    run = await wf.get_run("r")
    assert run is not None
    result = await run.restart()
    await wf.storage.close()
    assert (result.status, result.result) == ("success", [i * 2 for i in range(crash_app.ITEMS)])
    after = crash_app.executions()
    for index in range(crash_app.ITEMS):
        key = f"item{index}"
        if index in stored:
            assert after[key] == 1, key  # stored: never again
        else:
            assert after[key] == before.get(key, 0) + 1, key  # at most once more


async def test_racing_restarters_one_wins_and_its_death_frees_the_run(
    crash_dir: Path, store_spec: str
) -> None:
    kill_at = spawn("six", store_spec, "r", RXFLOW_TEST_BLOCK_AT="3", **SYNC)
    wait_for(lambda: crash_app.signalled("running.s3"), "s3 to run")
    kill(kill_at)
    (crash_dir / "running.s3").unlink()

    # Two restarters race; the winner blocks in s4, the loser is told another caller won.
    racers = [spawn("restart", store_spec, "r", RXFLOW_TEST_BLOCK_AT="4", **SYNC) for _ in range(2)]
    wait_for(lambda: len(ready_pids(crash_dir)) == 2, "both restarters to be ready")
    crash_app.signal("go")
    wait_for(lambda: crash_app.signalled("running.s4"), "the winner to reach s4")
    winner_pid = int((crash_dir / "running.s4").read_text())
    (winner,) = [p for p in racers if p.pid == winner_pid]
    (loser,) = [p for p in racers if p.pid != winner_pid]
    assert finish(loser).startswith("ResumeAlreadyClaimedError")

    # While the winner lives, nobody else can take the run.
    wf = crash_app.six(store_spec)
    run = await wf.get_run("r")
    assert run is not None
    with pytest.raises(ResumeAlreadyClaimedError):
        await run.restart()
    await wf.storage.close()

    kill(winner)  # dead mid-run: its claim frees at once (its process is gone)
    await restarted(store_spec, "r")
    assert crash_app.executions() == {"s1": 1, "s2": 1, "s3": 2, "s4": 2, "s5": 1, "s6": 1}
