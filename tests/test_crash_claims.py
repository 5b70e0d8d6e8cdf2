"""Claims across processes on one store: one start of a stored run, cancel from another process,
many writers at once, and resuming right after a suspension."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import crash_app
import pytest
from _crash import (
    finish,
    kill,
    ready_pids,
    spawn,
    wait_for,
)

from rxflow import (
    CancelTimeoutError,
    InMemoryStorage,
    RunAlreadyStartedError,
    create_step,
    create_workflow,
)


async def stored_status(spec: str, workflow_id: str, run_id: str) -> str | None:
    store = crash_app.open_store(spec)
    try:
        record = await store.get_run(workflow_id, run_id)
    finally:
        await store.close()
    return None if record is None else record.status


async def test_two_processes_start_one_stored_run_one_runs(
    crash_dir: Path, store_spec: str
) -> None:
    wf = crash_app.once(store_spec)
    await wf.create_run(run_id="r")  # stored pending
    await wf.storage.close()
    starters = [spawn("start", store_spec, "r", RXFLOW_TEST_HOLD="1") for _ in range(2)]
    wait_for(lambda: len(ready_pids(crash_dir)) == 2, "both starters to be ready")
    crash_app.signal("go")
    wait_for(lambda: crash_app.executions() == {"only": 1}, "the winner's step to run")
    # The loser exits at once; the winner's step waits for "release".
    wait_for(lambda: any(p.poll() is not None for p in starters), "the loser to give up")
    (loser,) = [p for p in starters if p.poll() is not None]
    assert finish(loser).startswith("RunAlreadyStartedError")
    crash_app.signal("release")
    (winner,) = [p for p in starters if p is not loser]
    assert finish(winner) == "won success"
    assert crash_app.executions() == {"only": 1}
    assert await stored_status(store_spec, "once", "r") == "success"


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_two_workflow_objects_start_one_run_one_runs(
    crash_dir: Path, tmp_path: Path, store: str
) -> None:
    if store == "memory":
        shared = InMemoryStorage()
        runs = []
        for _ in range(2):
            wf = create_workflow(id="once", storage=shared).then(
                create_step(id="only", execute=crash_app._only)
            )
            runs.append(await wf.commit().create_run(run_id="r"))
    else:
        spec = f"sqlite:{tmp_path / 'runs.db'}"
        runs = [await crash_app.once(spec).create_run(run_id="r") for _ in range(2)]
    outcomes = await asyncio.gather(*(run.start() for run in runs), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    assert [type(e) for e in errors] == [RunAlreadyStartedError]
    assert "run 'r' was already started" in str(errors[0])
    assert [r.status for r in results] == ["success"]
    assert crash_app.executions() == {"only": 1}


async def test_cancel_from_another_process_while_a_step_runs(
    crash_dir: Path, store_spec: str
) -> None:
    owner = spawn("hang", store_spec, "r")
    wait_for(lambda: crash_app.signalled("hang.started"), "the step to start")
    wf = crash_app.hang(store_spec)
    run = await wf.get_run("r")
    assert run is not None and run.status == "running"
    started = asyncio.get_running_loop().time()
    await run.cancel()
    assert asyncio.get_running_loop().time() - started < 5  # noticed within about a second
    record = await wf.storage.get_run("hang", "r")  # stored before cancel() returned
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    await wf.storage.close()
    assert finish(owner) == "won canceled"
    assert crash_app.signalled("hang.cancelled")  # the step saw CancelledError
    assert crash_app.executions() == {"hang": 1}  # the next step never ran


async def test_cancel_times_out_when_the_owner_does_not_answer(
    crash_dir: Path, store_spec: str
) -> None:
    owner = spawn("hang", store_spec, "r")
    wait_for(lambda: crash_app.signalled("hang.started"), "the step to start")
    owner.send_signal(signal.SIGSTOP)  # alive (its lease holds) but deaf
    try:
        wf = crash_app.hang(store_spec)
        run = await wf.get_run("r")
        assert run is not None
        with pytest.raises(CancelTimeoutError) as caught:
            await run.cancel(timeout=0.5)
        assert str(caught.value).startswith("run 'r' of workflow 'hang': a cancel was requested")
        assert "did not answer within 0.5 s" in str(caught.value)
        assert await stored_status(store_spec, "hang", "r") == "running"
    finally:
        owner.send_signal(signal.SIGCONT)
    # The request stays: once the owner runs again it cancels.
    assert finish(owner) == "won canceled"
    assert await stored_status(store_spec, "hang", "r") == "canceled"
    await wf.storage.close()


async def test_cancel_of_a_run_whose_owner_is_gone_stores_canceled(
    crash_dir: Path, store_spec: str
) -> None:
    owner = spawn("six", store_spec, "r", RXFLOW_TEST_BLOCK_AT="2")
    wait_for(lambda: crash_app.signalled("running.s2"), "s2 to run")
    kill(owner)
    wf = crash_app.six(store_spec)
    run = await wf.get_run("r")
    assert run is not None
    await run.cancel(timeout=1)
    assert run.status == "canceled"
    assert await stored_status(store_spec, "six", "r") == "canceled"
    await wf.storage.close()


async def test_four_processes_fifty_runs_each_on_one_store(
    crash_dir: Path, store_spec: str
) -> None:
    workers = [spawn("churn", store_spec, f"w{i}", 50) for i in range(4)]
    assert [finish(w) for w in workers] == ["churned"] * 4
    store = crash_app.open_store(store_spec)
    listed = await store.list_runs("churn", limit=1000)
    by_status: dict[str, int] = {}
    for record in listed.runs:
        by_status[record.status] = by_status.get(record.status, 0) + 1
        n = int(record.run_id.rpartition("-")[2])
        assert record.status == ("failed" if n % 4 == 3 else "success"), record.run_id
    await store.close()
    assert listed.total == 200
    assert by_status == {"success": 152, "failed": 48}


async def test_ten_resumes_in_two_processes_one_wins(crash_dir: Path, store_spec: str) -> None:
    wf = crash_app.review(store_spec)
    first = await wf.create_run(run_id="r")
    assert (await first.start()).status == "suspended"
    await wf.storage.close()
    racers = [spawn("resume", store_spec, "r", 5, RXFLOW_TEST_HOLD="1") for _ in range(2)]
    wait_for(lambda: len(ready_pids(crash_dir)) == 2, "both processes to be ready")
    crash_app.signal("go")
    # The winner's step holds until "release": every other attempt settles while it runs.
    wait_for(lambda: len(list(crash_dir.glob("settled.*"))) == 9, "nine attempts to lose")
    assert crash_app.executions() == {"review": 1}
    crash_app.signal("release")
    lines = sorted(line for racer in racers for line in finish(racer).splitlines())
    assert lines[-1] == "won success"
    assert [line.split(" ", 1)[0] for line in lines[:-1]] == ["ResumeAlreadyClaimedError"] * 9
    assert crash_app.executions() == {"review": 1}
    assert await stored_status(store_spec, "review", "r") == "success"


async def test_resume_right_after_the_suspended_event_always_works(
    crash_dir: Path, tmp_path: Path
) -> None:
    wf = crash_app.approval(f"sqlite:{tmp_path / 'runs.db'}")
    outcomes = []
    for _ in range(30):
        run = await wf.create_run()
        async for chunk in run.stream():
            if chunk.type == "workflow-step-suspended":
                result = await run.resume(resume_data={"ok": True})
                outcomes.append((result.status, result.result))
    await wf.storage.close()
    assert outcomes == [("success", {"approved": True})] * 30


async def test_resume_already_claimed_only_when_another_caller_won(
    crash_dir: Path, tmp_path: Path
) -> None:
    spec = f"sqlite:{tmp_path / 'runs.db'}"
    first = await crash_app.approval(spec).create_run(run_id="r")
    assert (await first.start()).status == "suspended"
    runs = [await crash_app.approval(spec).create_run(run_id="r") for _ in range(2)]
    outcomes = await asyncio.gather(
        *(run.resume(resume_data={"ok": True}) for run in runs), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == [
        "ResumeAlreadyClaimedError",
        "WorkflowResult",
    ]
    assert crash_app.executions() == {}
