"""Durability with real processes on one SQLite file: resume elsewhere, restart after SIGKILL,
exactly-once resume claims, concurrent writers, and a storage that fails."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import durable_app
import pytest

from rxflow import (
    InMemoryStorage,
    ResumeAlreadyClaimedError,
    SQLiteStorage,
    StorageError,
    create_step,
    create_workflow,
)
from rxflow.storage import sqlite_runs
from rxflow.storage.records import Lease

HERE = Path(__file__).parent
WORKER = HERE / "durable_worker.py"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RXFLOW_TEST_DIR", str(tmp_path))
    monkeypatch.delenv("RXFLOW_TEST_BLOCK", raising=False)
    yield tmp_path


def worker(
    mode: str, db: Path, run_id: str, *, block: bool = False, hold: bool = False
) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if block:
        env["RXFLOW_TEST_BLOCK"] = "1"
    if hold:
        env["RXFLOW_TEST_HOLD"] = "1"
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(db), run_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll a condition (files, stored state) with a generous bound; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def stored(db: Path, workflow_id: str, run_id: str) -> dict[str, Any] | None:
    """What is on disk right now, read on a plain sqlite3 connection of its own: the run's
    snapshot with the step results its checkpoints stored since."""
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=30) as connection:
        try:
            return sqlite_runs.load_snapshot(connection, workflow_id, run_id)
        except sqlite3.OperationalError:  # the table is not created yet
            return None


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


async def test_suspended_in_one_process_resumed_in_another(workdir: Path) -> None:
    db = workdir / "runs.db"
    process = worker("suspend", db, "r-suspend")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert '"status": "suspended"' in out
    assert '"workflow-step-suspended", "workflow-finish"' in out

    wf = durable_app.approval(str(db))
    run = await wf.create_run(run_id="r-suspend")
    assert run.status == "suspended"
    output = run.resume_stream(resume_data={"ok": True})
    chunks = [c async for c in output]
    result = await output.result
    assert result.status == "success"
    assert result.result == {"sent": True, "n": 2}
    assert [(c.type, getattr(c.payload, "id", None)) for c in chunks] == [
        ("workflow-start", None),
        ("workflow-step-start", "approve"),
        ("workflow-step-result", "approve"),
        ("workflow-step-start", "send"),
        ("workflow-step-result", "send"),
        ("workflow-finish", None),
    ]
    assert chunks[1].payload.payload == {"n": 2}  # the stored input of the resumed step
    assert durable_app.executions() == {"a": 1, "approve": 2, "send": 1}
    await wf.storage.close()


async def test_restart_after_sigkill_mid_step_skips_finished_steps(workdir: Path) -> None:
    db = workdir / "runs.db"
    process = worker("pipeline", db, "r-kill", block=True)
    wait_for(lambda: (workdir / "slow.started").exists(), "the slow step to start")

    def b_is_stored() -> bool:
        snap = stored(db, "pipeline", "r-kill")
        return bool(snap and snap["context"].get("b", {}).get("status") == "success")

    wait_for(b_is_stored, "step b's result to be stored")
    kill(process)
    snap = stored(db, "pipeline", "r-kill")
    assert snap is not None and snap["status"] == "running"
    assert snap["activePaths"] == [2]

    wf = durable_app.pipeline(str(db))
    run = await wf.create_run(run_id="r-kill")
    assert run.status == "running"
    result = await run.restart()
    assert result.status == "success"
    assert result.result == {"n": 50}  # ((1 + 1) * 10 + 5) * 2
    assert durable_app.executions() == {"a": 1, "b": 1, "slow": 2, "c": 1}
    record = await wf.storage.get_run("pipeline", "r-kill")
    assert record is not None and record.status == "success"
    again = await (await wf.create_run(run_id="r-kill")).restart()  # finished: stored result
    assert again.status == "success" and again.result == {"n": 50}
    await wf.storage.close()


async def test_restart_after_sigkill_mid_foreach_skips_stored_items(workdir: Path) -> None:
    db = workdir / "runs.db"
    process = worker("fanout", db, "r-fan", block=True)

    def eight_items_stored() -> bool:
        snap = stored(db, "fanout", "r-fan")
        if not snap:
            return False
        block = snap["context"].get("item") or {}
        progress = (block.get("metadata") or {}).get("foreach") or {}
        return len(progress.get("done", [])) >= 8

    wait_for(eight_items_stored, "eight foreach items to be stored")
    kill(process)
    before = durable_app.executions()
    assert all(before.get(f"item{i}") == 1 for i in range(8))

    wf = durable_app.fanout(str(db))
    result = await (await wf.create_run(run_id="r-fan")).restart()
    assert result.status == "success"
    assert result.result == [i * 2 for i in range(20)]
    after = durable_app.executions()
    assert all(after[f"item{i}"] == 1 for i in range(8))  # stored items never ran again
    assert all(after[f"item{i}"] == before.get(f"item{i}", 0) + 1 for i in range(8, 20))
    await wf.storage.close()


async def test_restart_after_sigkill_mid_loop_continues_after_stored_iterations(
    workdir: Path,
) -> None:
    db = workdir / "runs.db"
    process = worker("looping", db, "r-loop", block=True)
    wait_for(lambda: (workdir / "tick3.started").exists(), "iteration 4 to start")

    def third_iteration_stored() -> bool:
        snap = stored(db, "looping", "r-loop")
        tick = (snap or {}).get("context", {}).get("tick") or {}
        return tick.get("status") == "success" and tick.get("metadata") == {"iterationCount": 3}

    wait_for(third_iteration_stored, "iteration 3 to be stored")
    kill(process)
    wf = durable_app.looping(str(db))
    result = await (await wf.create_run(run_id="r-loop")).restart()
    assert result.status == "success" and result.result == 6
    counts = durable_app.executions()
    assert counts == {"tick0": 1, "tick1": 1, "tick2": 1, "tick3": 2, "tick4": 1, "tick5": 1}
    await wf.storage.close()


async def test_concurrent_resumes_across_processes_have_one_winner(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = workdir / "runs.db"
    monkeypatch.setenv("RXFLOW_TEST_HOLD", "1")
    first = worker("suspend", db, "r-race")
    first.communicate(timeout=60)
    assert first.returncode == 0
    # Four processes and ten local tasks race for the same suspension. The winner's run is
    # held inside its last step until every contender has tried, so all of them are truly
    # concurrent with it.
    contenders = [worker("resume", db, "r-race", hold=True) for _ in range(4)]
    wait_for(lambda: len(list(workdir.glob("ready.*"))) == 4, "the workers to be ready")
    wf = durable_app.approval(str(db))
    run = await wf.create_run(run_id="r-race")
    (workdir / "go").write_text("go")
    local = [asyncio.ensure_future(run.resume(resume_data={"ok": True})) for _ in range(10)]

    def settled() -> bool:
        finished = [c for c in contenders if c.poll() is not None]
        return len(finished) + sum(task.done() for task in local) >= 13

    while not settled():
        await asyncio.sleep(0.005)
    (workdir / "release").write_text("go")
    outcomes = [c.communicate(timeout=60)[0].strip() for c in contenders]
    local_outcomes = await asyncio.gather(*local, return_exceptions=True)
    remote_wins = [o for o in outcomes if o.startswith("won")]
    local_wins = [r for r in local_outcomes if not isinstance(r, BaseException)]
    losers = [o for o in outcomes if not o.startswith("won")]
    local_losers = [r for r in local_outcomes if isinstance(r, BaseException)]
    assert len(remote_wins) + len(local_wins) == 1, (outcomes, local_outcomes)
    assert all(o == "ResumeAlreadyClaimedError" for o in losers), outcomes
    assert all(isinstance(e, ResumeAlreadyClaimedError) for e in local_losers), local_outcomes
    assert durable_app.executions()["send"] == 1
    snap = stored(db, "approval", "r-race")
    assert snap is not None and snap["status"] == "success"
    await wf.storage.close()


async def test_four_processes_writing_runs_to_one_file(workdir: Path) -> None:
    db = workdir / "runs.db"
    workers = [worker("churn", db, f"p{k}") for k in range(4)]
    results = [w.communicate(timeout=120) for w in workers]
    for (out, err), w in zip(results, workers, strict=True):
        assert w.returncode == 0, err
        assert "locked" not in err
        assert out.strip() == "churned"
    async with SQLiteStorage(db) as storage:
        listing = await storage.list_runs("pipeline", status="success", limit=1000)
    assert listing.total == 60


class FlakyStorage(InMemoryStorage):
    """In-memory storage whose k-th snapshot write raises."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.writes = 0

    async def persist_snapshot(self, *args: Any, **kwargs: Any) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError("disk full")
        await super().persist_snapshot(*args, **kwargs)


class FlakySQLite(SQLiteStorage):
    """SQLite storage whose k-th write (snapshot or checkpoint) raises, or the final one at
    ``fail_at=0``."""

    def __init__(self, path: Path, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.writes = 0

    def _fails(self, status: Any) -> bool:
        self.writes += 1
        return self.writes == self.fail_at or (self.fail_at == 0 and status == "success")

    async def persist_snapshot(
        self, workflow_id: str, run_id: str, snapshot: dict[str, Any], **kwargs: Any
    ) -> None:
        if self._fails(snapshot["status"]):
            raise OSError("disk full")
        await super().persist_snapshot(workflow_id, run_id, snapshot, **kwargs)

    async def checkpoint(self, lease: Lease, **kwargs: Any) -> Lease:
        if self._fails((kwargs.get("state") or {}).get("status")):
            raise OSError("disk full")
        return await super().checkpoint(lease, **kwargs)


async def _step(ctx: Any) -> int:
    await asyncio.sleep(0.005)  # yields, so the trail of snapshot writes happens mid-run
    return int(ctx.input_data) + 1


@pytest.mark.parametrize("fail_at", [2, 3, 0], ids=["second-write", "third-write", "final-write"])
async def test_failing_storage_write_fails_the_run_and_ends_the_stream(
    tmp_path: Path, fail_at: int
) -> None:
    storage = FlakySQLite(tmp_path / "flaky.db", fail_at)
    wf = create_workflow(id="flaky", storage=storage)
    for i in range(6):
        wf.then(create_step(id=f"s{i}", execute=_step))
    wf.commit()
    run = await wf.create_run()
    output = run.stream(input_data=0)
    chunks = await asyncio.wait_for(_collect(output), 10)
    result = await output.result
    assert result.status == "failed"
    assert isinstance(result.error, StorageError)
    assert "disk full" in str(result.error.__cause__) or "disk full" in str(result.error)
    assert chunks[-1].type == "workflow-finish"
    assert chunks[-1].to_dict()["payload"]["metadata"]["error"]["name"] == "StorageError"
    assert output.status == "failed" and run.status == "failed"
    record = await storage.get_run("flaky", run.run_id)
    assert record is not None and record.status == "failed"  # not left "running"
    await storage.close()


async def test_failing_final_write_in_memory() -> None:
    storage = FlakyStorage(fail_at=2)  # 1: pending at create_run, 2: the final snapshot
    wf = (
        create_workflow(id="flaky-mem", storage=storage)
        .then(create_step(id="s", execute=_step))
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data=1)
    assert result.status == "failed" and isinstance(result.error, StorageError)


async def _collect(output: Any) -> list[Any]:
    return [c async for c in output]
