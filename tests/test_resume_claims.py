"""Resuming a stored run from a new run object or store; only one of concurrent resumes wins."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _steps import ask, asker, wf_of
from conftest import GUARD, _poll_until, collect, finish, types, within

from rxflow import (
    InMemoryStorage,
    ResumeAlreadyClaimedError,
    RxflowError,
    SQLiteStorage,
    StepContext,
    WorkflowResult,
    create_step,
    create_workflow,
)

# --- resuming from a new run object -----------------------------------------------------------


async def test_create_run_attaches_to_stored_run_and_resumes_without_rerunning() -> None:
    storage = InMemoryStorage()
    calls: list[str] = []

    def build() -> Any:
        async def first(ctx: StepContext) -> Any:
            calls.append("first")
            return "f"

        async def ask(ctx: StepContext) -> Any:
            calls.append("ask")
            if ctx.resume_data is None:
                return await ctx.suspend({})
            return ctx.input_data + ctx.resume_data

        return wf_of(
            create_step(id="first", execute=first),
            create_step(id="ask", execute=ask),
            wid="stored",
            storage=storage,
        )

    run = await build().create_run(run_id="stored-1")
    assert (await run.start(input_data=None)).status == "suspended"
    other = await build().create_run(run_id="stored-1")
    assert other.status == "suspended"
    result = await other.resume(resume_data="!")
    assert (result.status, result.result) == ("success", "f!")
    assert calls == ["first", "ask", "ask"]


async def test_resume_from_a_new_run_object_over_a_reopened_sqlite_file(tmp_path: Path) -> None:
    calls: list[str] = []

    async def prepare(ctx: Any) -> Any:
        calls.append("prepare")
        ctx.set_state({"prepared": True})
        return {"doc": ctx.input_data}

    async def review(ctx: Any) -> Any:
        calls.append("review")
        if ctx.resume_data is None:
            return await ctx.suspend({"doc": ctx.input_data["doc"]})
        return {
            "verdict": ctx.resume_data,
            "state": ctx.state,
            "prepared": ctx.get_step_result("prepare"),
            "init": ctx.get_init_data(),
        }

    def build() -> Any:
        return (
            create_workflow(id="review", storage=SQLiteStorage(tmp_path / "runs.db"))
            .then(create_step(id="prepare", execute=prepare))
            .then(create_step(id="review", execute=review))
            .commit()
        )

    first = build()
    run = await first.create_run(run_id="doc-7", resource_id="team-a")
    assert (await run.start(input_data="spec.md")).status == "suspended"
    await first.storage.close()

    second = build()
    attached = await second.create_run(run_id="doc-7")
    assert attached is not run
    assert (attached.run_id, attached.workflow_id) == ("doc-7", "review")
    assert attached.status == "suspended"
    assert attached.resource_id == "team-a"
    result = await attached.resume(resume_data="lgtm")
    assert result.status == "success"
    assert result.result == {
        "verdict": "lgtm",
        "state": {"prepared": True},
        "prepared": {"doc": "spec.md"},
        "init": "spec.md",
    }
    assert calls == ["prepare", "review", "review"]
    assert (await second.storage.get_run("review", "doc-7")).status == "success"
    await second.storage.close()


# --- one resume wins --------------------------------------------------------------------------


async def test_concurrent_resume_second_gets_already_claimed() -> None:
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=body)).create_run()
    await run.start(input_data=None)
    winner = asyncio.create_task(run.resume(resume_data="first"))
    await asyncio.wait_for(entered.wait(), GUARD)
    with pytest.raises(ResumeAlreadyClaimedError):
        await run.resume(resume_data="second")
    loser = run.resume_stream(resume_data="third")
    chunks = await collect(loser)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "failed"
    with pytest.raises(ResumeAlreadyClaimedError):
        await loser.result
    gate.set()
    result = await asyncio.wait_for(winner, GUARD)
    assert (result.status, result.result) == ("success", "first")


async def test_concurrent_resume_of_a_different_suspended_path_is_already_claimed() -> None:
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def slow(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    wf = (
        create_workflow(id="claimpar")
        .parallel([create_step(id="slow", execute=slow), asker("other")])
        .commit()
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    winner = asyncio.create_task(run.resume(step="slow", resume_data="S"))
    await asyncio.wait_for(entered.wait(), GUARD)
    with pytest.raises(ResumeAlreadyClaimedError):
        await run.resume(step="other", resume_data="O")
    gate.set()
    mid = await asyncio.wait_for(winner, GUARD)
    assert mid.status == "suspended" and mid.suspended == [["other"]]
    done = await run.resume(step="other", resume_data="O")
    assert done.result == {"slow": "S", "other": "O"}


async def test_concurrent_resume_of_different_suspended_paths_is_claimed_once() -> None:
    wf = (
        create_workflow(id="two-paths")
        .parallel([create_step(id="x", execute=ask), create_step(id="y", execute=ask)])
        .commit()
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    outcomes = await asyncio.gather(
        run.resume(step="x", resume_data=1),
        run.resume(step="y", resume_data=2),
        return_exceptions=True,
    )
    assert sum(isinstance(o, ResumeAlreadyClaimedError) for o in outcomes) == 1
    winner = next(o for o in outcomes if isinstance(o, WorkflowResult))
    assert winner.status == "suspended" and len(winner.suspended) == 1


async def test_concurrent_resumes_through_two_stores_on_one_file_one_wins(
    tmp_path: Path,
) -> None:
    def build() -> Any:
        return (
            create_workflow(id="claim", storage=SQLiteStorage(tmp_path / "claim.db"))
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    origin = build()
    await (await origin.create_run(run_id="cl-1")).start(input_data=None)
    one, two = build(), build()
    run_one = await one.create_run(run_id="cl-1")
    run_two = await two.create_run(run_id="cl-1")
    outcomes = await asyncio.gather(
        run_one.resume(resume_data="a"), run_two.resume(resume_data="b"), return_exceptions=True
    )
    assert sum(isinstance(o, ResumeAlreadyClaimedError) for o in outcomes) == 1
    winners = [o for o in outcomes if isinstance(o, WorkflowResult)]
    assert len(winners) == 1 and winners[0].status == "success"
    for wf in (origin, one, two):
        await wf.storage.close()


async def test_two_restarts_of_a_crashed_run_cannot_both_run_it(tmp_path: Path) -> None:
    dead_calls: list[int] = []
    release_live = asyncio.Event()
    live_entered = asyncio.Event()
    release_dead = asyncio.Event()
    dead_entered = asyncio.Event()
    dead_entered_again = asyncio.Event()

    async def a(ctx: Any) -> Any:
        if ctx.run_id != "live":
            dead_calls.append(0)
        return ctx.input_data + 1

    async def b(ctx: Any) -> Any:
        if ctx.run_id == "live":
            live_entered.set()
            await release_live.wait()
        else:
            dead_calls.append(1)
            (dead_entered_again if dead_entered.is_set() else dead_entered).set()
            await release_dead.wait()
        return ctx.input_data * 10

    def build() -> Any:
        return (
            create_workflow(id="crash", storage=SQLiteStorage(tmp_path / "crash.db"))
            .then(create_step(id="a", execute=a))
            .then(create_step(id="b", execute=b))
            .commit()
        )

    live = build()
    output = (await live.create_run(run_id="live")).stream(input_data=1)
    await within(live_entered.wait())

    async def progress() -> Any:
        snapshot = await live.storage.load_snapshot("crash", "live")
        return snapshot if "a" in snapshot["stepExecutionPath"] else None

    snapshot = await _poll_until(progress)
    assert snapshot["status"] == "running"
    # a copy of the live run's stored progress stands for a run whose process died
    await live.storage.persist_snapshot("crash", "dead", {**snapshot, "runId": "dead"})

    one, two = build(), build()
    run_one = await one.create_run(run_id="dead")
    run_two = await two.create_run(run_id="dead")
    assert run_one.status == run_two.status == "running"
    first = asyncio.ensure_future(run_one.restart())
    await within(dead_entered.wait())  # the first restart holds the run, inside step b

    async def stored_running() -> Any:
        return (await one.storage.get_run("crash", "dead")).status == "running"

    # let the first restart's own progress writes land (they may set the status to 'running')
    try:
        await _poll_until(stored_running, limit_s=2)
    except AssertionError:
        pass
    second = asyncio.ensure_future(run_two.restart())
    again = asyncio.ensure_future(dead_entered_again.wait())
    await within(asyncio.wait([second, again], return_when=asyncio.FIRST_COMPLETED))
    again.cancel()
    release_dead.set()
    outcomes = await within(asyncio.gather(first, second, return_exceptions=True))
    release_live.set()
    assert (await within(output.result)).status == "success"
    await within(collect(output))
    for wf in (live, one, two):
        await wf.storage.close()

    assert isinstance(outcomes[0], WorkflowResult)
    assert (outcomes[0].status, outcomes[0].result) == ("success", 20)
    assert isinstance(outcomes[1], RxflowError)
    assert dead_calls == [1]  # 'a' finished before the crash: not run again; 'b' ran once
