"""Time travel of runs stored in SQLite: in a fresh process, concurrent claims, forks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import GUARD, collect, kinds
from crash_app import open_store

from rxflow import (
    ResumeAlreadyClaimedError,
    ResumeError,
    SQLiteStorage,
    StepContext,
    Storage,
    create_step,
    create_workflow,
)

HERE = Path(__file__).parent
APP = HERE / "travel_app.py"


def worker(*args: str) -> dict[str, Any]:
    """Run ``travel_app.py`` in a process of its own; its JSON line."""
    done = subprocess.run(
        [sys.executable, str(APP), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def rows(db: Path, run_id: str) -> list[Any]:
    """Every stored row of the run, as SQLite holds it (run record and result records)."""
    with sqlite3.connect(db) as conn:
        run = conn.execute(
            "SELECT * FROM rxflow_workflow_snapshot WHERE run_id = ?", (run_id,)
        ).fetchall()
        results = conn.execute(
            "SELECT * FROM rxflow_step_result WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    return [run, results]


async def test_a_failure_fixed_through_a_changed_input_in_a_fresh_process(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = worker("start", str(db), "run-fix", "x1")
    assert first == {
        "ran": ["fetch", "parse"],
        "events": [
            ["workflow-start", None],
            ["workflow-step-start", "fetch"],
            ["workflow-step-result", "fetch"],
            ["workflow-step-start", "parse"],
            ["workflow-step-result", "parse"],
            ["workflow-finish", None],
        ],
        "status": "failed",
        "result": None,
    }
    second = worker("travel", str(db), "run-fix", "21")
    assert second == {
        "ran": ["parse", "double"],
        "events": [
            ["workflow-start", None],
            ["workflow-step-start", "parse"],
            ["workflow-step-result", "parse"],
            ["workflow-step-start", "double"],
            ["workflow-step-result", "double"],
            ["workflow-finish", None],
        ],
        "status": "success",
        "result": 42,
    }
    storage = SQLiteStorage(db)
    try:
        stored = await storage.load_snapshot("fix", "run-fix")
        record = await storage.get_run("fix", "run-fix")
    finally:
        await storage.close()
    assert stored is not None and record is not None
    assert record.status == "success"
    context = stored["context"]
    assert {
        key: value if key == "input" else value["output"] for key, value in context.items()
    } == {
        "input": "x1",
        "fetch": "x1",
        "parse": 21,
        "double": 42,
    }
    assert context["parse"]["payload"] == "21"
    (attempt,) = stored["previousAttempts"]["parse"]
    assert (attempt["status"], attempt["payload"]) == ("failed", "x1")
    assert "invalid literal for int()" in attempt["error"]["message"]
    assert stored["stepExecutionPath"] == ["fetch", "parse", "double"]
    assert (stored["status"], stored["result"], stored["error"]) == ("success", 42, None)


def chain(
    db: Path | Storage,
    ran: list[str],
    gate: asyncio.Event | None = None,
    entered: asyncio.Event | None = None,
) -> Any:
    def add(step_id: str, n: int) -> Any:
        async def body(ctx: StepContext) -> int:
            ran.append(step_id)
            if step_id == "s2" and entered is not None:
                entered.set()
            if gate is not None and step_id == "s2":
                await gate.wait()
            return int(ctx.input_data) + n

        return create_step(id=step_id, execute=body)

    return (
        create_workflow(id="chain", storage=db if isinstance(db, Storage) else SQLiteStorage(db))
        .then(add("s1", 1))
        .then(add("s2", 10))
        .then(add("s3", 100))
        .commit()
    )


async def test_concurrent_time_travels_through_two_stores_one_wins(store_spec: str) -> None:
    ran_a: list[str] = []
    ran_b: list[str] = []
    gate, entered = asyncio.Event(), asyncio.Event()
    a = chain(open_store(store_spec), ran_a, gate, entered)  # two stores on one database
    b = chain(open_store(store_spec), ran_b)
    try:
        run = await a.create_run(run_id="r1")
        gate.set()
        assert (await run.start(input_data=0)).result == 111
        ran_a.clear()
        gate.clear()
        entered.clear()
        other = await b.get_run("r1")
        assert other is not None
        first = asyncio.ensure_future(run.time_travel(step="s2", input_data=5))
        await asyncio.wait_for(entered.wait(), GUARD)  # the first holds the run, inside s2
        with pytest.raises(ResumeAlreadyClaimedError):
            await other.time_travel(step="s2", input_data=7)
        gate.set()
        assert (await asyncio.wait_for(first, GUARD)).result == 115
        assert (ran_a, ran_b) == (["s2", "s3"], [])
        stored = await a.storage.load_snapshot("chain", "r1")
        assert (stored["status"], stored["result"]) == ("success", 115)
        assert stored["context"]["s3"]["output"] == 115
        assert [p["output"] for p in stored["previousAttempts"]["s2"]] == [11]
    finally:
        await a.storage.close()
        await b.storage.close()


async def test_a_time_travel_planned_on_a_run_another_travel_changed_is_refused(
    store_spec: str,
) -> None:
    """The second time travel reads the run, the first one then runs to its end, and only
    then the second claims: the run's status is the same as when it was read, its results
    are not, so the claim is refused and the first one's results stay."""
    ran_a: list[str] = []
    ran_b: list[str] = []
    a = chain(open_store(store_spec), ran_a)
    b = chain(open_store(store_spec), ran_b)
    read, first_done = asyncio.Event(), asyncio.Event()
    load = b.storage.load_snapshot

    async def held_load(workflow_id: str, run_id: str) -> Any:
        snapshot = await load(workflow_id, run_id)
        if not read.is_set():  # the second travel's read: hold it until the first has ended
            read.set()
            await first_done.wait()
        return snapshot

    try:
        run = await a.create_run(run_id="r3")
        assert (await run.start(input_data=0)).result == 111
        ran_a.clear()
        other = await b.get_run("r3")
        assert other is not None
        b.storage.load_snapshot = held_load  # type: ignore[method-assign]
        second = asyncio.ensure_future(other.time_travel(step="s2", input_data=7))
        await asyncio.wait_for(read.wait(), GUARD)
        assert (await run.time_travel(step="s2", input_data=5)).result == 115
        first_done.set()
        with pytest.raises(ResumeAlreadyClaimedError, match="nothing ran for this time travel"):
            await asyncio.wait_for(second, GUARD)
        assert (ran_a, ran_b) == (["s2", "s3"], [])
        stored = await a.storage.load_snapshot("chain", "r3")
        assert (stored["status"], stored["result"]) == ("success", 115)
        assert [p["output"] for p in stored["previousAttempts"]["s2"]] == [11]
        assert (await b.storage.get_run("chain", "r3")).status == "success"
    finally:
        await a.storage.close()
        await b.storage.close()


async def test_time_travel_of_a_running_run_in_another_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    gate = asyncio.Event()
    owner = chain(db, [], gate)
    other = chain(db, [])
    try:
        run = await owner.create_run(run_id="r2")
        output = run.stream(input_data=0)
        for _ in range(10_000):  # until the owner has stored its running state
            record = await other.storage.get_run("chain", "r2")
            if record is not None and record.status == "running":
                break
            await asyncio.sleep(0.001)
        found = await other.get_run("r2")
        assert found is not None
        with pytest.raises(ResumeAlreadyClaimedError, match="is running"):
            await found.time_travel(step="s1")
        gate.set()
        assert (await output.result).result == 111
    finally:
        await owner.storage.close()
        await other.storage.close()


async def test_fork_copies_earlier_results_and_leaves_the_original_byte_identical(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    ran: list[str] = []
    wf = chain(db, ran)
    try:
        run = await wf.create_run(run_id="orig")
        assert (await run.start(input_data=0)).result == 111
        before = rows(db, "orig")
        ran.clear()
        forked = await run.fork(at="s2", input_data=5)
        assert (forked.status, forked.result) == ("success", 115)
        assert forked.run_id != "orig" and len(forked.run_id) == 36
        assert ran == ["s2", "s3"]
        assert rows(db, "orig") == before
        original = await wf.storage.load_snapshot("chain", "orig")
        copy = await wf.storage.load_snapshot("chain", forked.run_id)
        assert "previousAttempts" not in original
        assert copy["context"]["s1"] == original["context"]["s1"]
        assert {k: v if k == "input" else v["output"] for k, v in copy["context"].items()} == {
            "input": 0,
            "s1": 1,
            "s2": 15,
            "s3": 115,
        }
        assert [a["output"] for a in copy["previousAttempts"]["s2"]] == [11]
        ran.clear()
        named = await run.fork("fork-2", at="s3")
        assert (named.run_id, named.result, ran) == ("fork-2", 111, ["s3"])
        with pytest.raises(ResumeError, match="'fork-2' exists already"):
            await run.fork("fork-2", at="s3")
        assert rows(db, "orig") == before
        listed = await wf.storage.list_runs("chain")
        assert sorted(r.run_id for r in listed.runs) == sorted(["orig", forked.run_id, "fork-2"])
    finally:
        await wf.storage.close()


async def test_a_fork_streams_from_its_step(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    wf = chain(db, [])
    try:
        run = await wf.create_run(run_id="o")
        await run.start(input_data=0)
        result = await run.fork("f", at="s3", input_data=0)
        forked = await wf.get_run("f")
        assert forked is not None and result.result == 100
        again = forked.time_travel_stream(step="s3")
        assert kinds(await collect(again)) == [
            ("workflow-start", None),
            ("workflow-step-start", "s3"),
            ("workflow-step-result", "s3"),
            ("workflow-finish", None),
        ]
        assert (await again.result).result == 111
    finally:
        await wf.storage.close()
