"""Graph fingerprints: stored in every snapshot; a resume or restart against a changed graph is
a WorkflowChangedError naming the change, unless allow_changed_graph=True (documented moves)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from _steps import ask, echo
from conftest import collect, kinds

from rxflow import (
    InMemoryStorage,
    ResumeError,
    WorkflowChangedError,
    create_step,
    create_workflow,
)

WID = "review"


def review(storage: Any, *, enrich: bool = False, calls: list[str] | None = None) -> Any:
    """``prepare -> approve -> notify``; with ``enrich``, a new step before ``approve``."""
    seen = calls if calls is not None else []

    async def prepare(ctx: Any) -> Any:
        seen.append("prepare")
        return {"doc": ctx.input_data}

    async def add_notes(ctx: Any) -> Any:
        seen.append("enrich")
        return {**ctx.input_data, "notes": "added"}

    async def approve(ctx: Any) -> Any:
        seen.append("approve")
        if ctx.resume_data is None:
            return await ctx.suspend({"asking": ctx.input_data})
        return {"approved": ctx.resume_data, "input": ctx.input_data}

    async def notify(ctx: Any) -> Any:
        seen.append("notify")
        return f"sent: {ctx.input_data['approved']}"

    wf = create_workflow(id=WID, storage=storage).then(create_step(id="prepare", execute=prepare))
    if enrich:
        wf = wf.then(create_step(id="enrich", execute=add_notes))
    return (
        wf.then(create_step(id="approve", execute=approve))
        .then(create_step(id="notify", execute=notify))
        .commit()
    )


async def status_of(storage: Any, run_id: str = "r1") -> str:
    record = await storage.get_run(WID, run_id)
    assert record is not None
    return str(record.status)


# --- the fingerprint ---------------------------------------------------------------------------


def chain(*ids: str, wid: str = "wf") -> Any:
    wf = create_workflow(id=wid)
    for step_id in ids:
        wf = wf.then(create_step(id=step_id, execute=echo))
    return wf.commit()


def test_the_fingerprint_covers_ids_kinds_order_and_nesting_only() -> None:
    def shaped(concurrency: int, loop: Any, ms: int, body: Any) -> Any:
        inner = create_workflow(id="inner").then(create_step(id="x", execute=body)).commit()
        return (
            create_workflow(id="wf")
            .then(create_step(id="a", execute=body))
            .parallel([create_step(id="b", execute=body), inner])
            .foreach(create_step(id="c", execute=body), concurrency=concurrency)
            .sleep(ms)
            .dowhile(create_step(id="d", execute=body), loop)
            .commit()
        )

    base = shaped(1, lambda ctx: False, 10, echo)
    assert len(base.graph.fingerprint) == 64
    # bodies, foreach concurrency, sleep durations and conditions are not structure: a deploy
    # that changes only those resumes its stored runs
    same = shaped(8, lambda ctx: True, 500, ask)
    assert same.graph.fingerprint == base.graph.fingerprint

    assert chain("a", "b").graph.fingerprint == chain("a", "b").graph.fingerprint
    assert chain("a", "b").graph.fingerprint != chain("b", "a").graph.fingerprint  # order
    assert chain("a", "b").graph.fingerprint != chain("a", "c").graph.fingerprint  # ids
    as_foreach = create_workflow(id="wf").then(create_step(id="a", execute=echo))
    as_foreach = as_foreach.foreach(create_step(id="b", execute=echo)).commit()
    assert as_foreach.graph.fingerprint != chain("a", "b").graph.fingerprint  # kinds
    inner_x = create_workflow(id="b").then(create_step(id="x", execute=echo)).commit()
    inner_y = create_workflow(id="b").then(create_step(id="y", execute=echo)).commit()
    nest_x = create_workflow(id="wf").then(create_step(id="a", execute=echo)).then(inner_x)
    nest_y = create_workflow(id="wf").then(create_step(id="a", execute=echo)).then(inner_y)
    assert nest_x.commit().graph.fingerprint != nest_y.commit().graph.fingerprint  # nesting
    assert nest_x.graph.fingerprint != chain("a", "b").graph.fingerprint


async def test_every_snapshot_stores_the_fingerprint(storage: Any) -> None:
    wf = review(storage)
    run = await wf.create_run(run_id="r1")
    pending = await storage.load_snapshot(WID, "r1")
    assert pending["graphFingerprint"] == wf.graph.fingerprint
    await run.start(input_data="spec")
    suspended = await storage.load_snapshot(WID, "r1")
    assert (suspended["status"], suspended["graphFingerprint"]) == (
        "suspended",
        wf.graph.fingerprint,
    )
    await run.resume(resume_data=True)
    final = await storage.load_snapshot(WID, "r1")
    assert (final["status"], final["graphFingerprint"]) == ("success", wf.graph.fingerprint)


# --- a step inserted before the suspended one ------------------------------------------------

INSERTED = [
    "entry 2 was step 'approve', is now step 'enrich'",
    "entry 3 was step 'notify', is now step 'approve'",
    "entry 4 is new: step 'notify'",
]


async def test_resume_against_a_changed_graph_names_the_change(storage: Any) -> None:
    calls: list[str] = []
    await (await review(storage, calls=calls).create_run(run_id="r1")).start(input_data="spec")

    deployed = review(storage, enrich=True, calls=calls)  # the new version, same storage
    run = await deployed.get_run("r1")
    assert run is not None
    with pytest.raises(WorkflowChangedError) as caught:
        await run.resume(resume_data=True)
    error = caught.value
    assert isinstance(error, ResumeError)
    assert (error.workflow_id, error.run_id, error.changes) == ("review", "r1", INSERTED)
    assert str(error) == (
        "workflow 'review' changed since run 'r1' was stored: " + "; ".join(INSERTED) + ". "
        "Pass allow_changed_graph=True to continue the run in the new graph (stored step "
        "results are matched by step id)"
    )
    output = run.resume_stream(resume_data=True)
    assert kinds(await collect(output)) == [("workflow-start", None), ("workflow-finish", None)]
    with pytest.raises(WorkflowChangedError, match="entry 2 was step 'approve', is now step"):
        await output.result
    assert await status_of(storage) == "suspended"  # nothing was claimed
    assert calls == ["prepare", "approve"]

    # the version that stored the run still resumes it
    result = await (await review(storage).get_run("r1")).resume(resume_data=True)  # type: ignore[union-attr]
    assert (result.status, result.result) == ("success", "sent: True")


async def test_allow_changed_graph_resumes_where_the_run_stopped(storage: Any) -> None:
    calls: list[str] = []
    await (await review(storage, calls=calls).create_run(run_id="r1")).start(input_data="spec")
    calls.clear()

    deployed = review(storage, enrich=True, calls=calls)
    run = await deployed.get_run("r1")
    assert run is not None
    output = run.resume_stream(resume_data=True, allow_changed_graph=True)
    chunks = await collect(output)
    result = await output.result

    # The run goes on from the suspended step, found by id in the new graph. A step inserted
    # before it does not run: the resumed step keeps the input it was suspended with.
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "approve"),
        ("workflow-step-result", "approve"),
        ("workflow-step-start", "notify"),
        ("workflow-step-result", "notify"),
        ("workflow-finish", None),
    ]
    assert calls == ["approve", "notify"]
    assert (result.status, result.result) == ("success", "sent: True")
    assert result.step_execution_path == ["prepare", "approve", "notify"]
    assert sorted(result.steps) == ["approve", "notify", "prepare"]
    assert result.steps["approve"].output == {"approved": True, "input": {"doc": "spec"}}
    stored = await storage.load_snapshot(WID, "r1")
    assert stored["graphFingerprint"] == deployed.graph.fingerprint
    assert stored["serializedStepGraph"] == deployed.graph.serialized


async def test_a_step_added_after_the_suspended_one_runs(storage: Any) -> None:
    def version(*after: str) -> Any:
        wf = (
            create_workflow(id="grow", storage=storage)
            .then(create_step(id="prepare", execute=echo))
            .then(create_step(id="approve", execute=ask))
        )
        for step_id in after:
            wf = wf.then(create_step(id=step_id, execute=echo))
        return wf.commit()

    await (await version("notify").create_run(run_id="g1")).start(input_data=1)
    run = await version("audit", "notify").get_run("g1")
    with pytest.raises(WorkflowChangedError) as caught:
        await run.resume(resume_data=2)  # type: ignore[union-attr]
    assert caught.value.changes == [
        "entry 3 was step 'notify', is now step 'audit'",
        "entry 4 is new: step 'notify'",
    ]
    result = await run.resume(resume_data=2, allow_changed_graph=True)  # type: ignore[union-attr]
    assert result.step_execution_path == ["prepare", "approve", "audit", "notify"]
    assert result.result == 2


async def test_a_removed_suspended_step_cannot_continue_even_when_allowed(storage: Any) -> None:
    await (await review(storage).create_run(run_id="r1")).start(input_data="spec")
    without = (
        create_workflow(id=WID, storage=storage)
        .then(create_step(id="prepare", execute=echo))
        .then(create_step(id="notify", execute=echo))
        .commit()
    )
    run = await without.get_run("r1")
    with pytest.raises(WorkflowChangedError) as caught:
        await run.resume(resume_data=True, allow_changed_graph=True)  # type: ignore[union-attr]
    assert str(caught.value) == (
        "run 'r1' cannot continue in the changed workflow 'review': it is suspended in "
        "'approve', and the new graph has no step entry holding it"
    )
    assert caught.value.changes == [
        "entry 2 was step 'approve', is now step 'notify'",
        "entry 3 (step 'notify') was removed",
    ]
    assert await status_of(storage) == "suspended"


async def test_a_change_inside_a_nested_workflow_is_named_by_its_path() -> None:
    storage = InMemoryStorage()

    def outer(inner_ids: tuple[str, ...]) -> Any:
        inner = create_workflow(id="inner")
        for step_id in inner_ids:
            inner = inner.then(create_step(id=step_id, execute=ask if step_id == "ask" else echo))
        return (
            create_workflow(id="outer", storage=storage)
            .then(create_step(id="prepare", execute=echo))
            .then(inner.commit())
            .commit()
        )

    await (await outer(("first", "ask")).create_run(run_id="n1")).start(input_data=1)
    changed = outer(("first", "check", "ask"))
    run = await changed.get_run("n1")
    with pytest.raises(WorkflowChangedError) as caught:
        await run.resume(resume_data="ok")  # type: ignore[union-attr]
    assert caught.value.changes == [
        "entry 2, inside nested workflow 'inner': entry 2 was step 'ask', is now step 'check'",
        "entry 2, inside nested workflow 'inner': entry 3 is new: step 'ask'",
    ]
    events = await collect(run.resume_stream(resume_data="ok", allow_changed_graph=True))  # type: ignore[union-attr]
    assert kinds(events) == [
        ("workflow-start", None),
        ("workflow-step-start", "inner"),
        ("workflow-step-start", "inner.ask"),
        ("workflow-step-result", "inner.ask"),
        ("workflow-step-result", "inner"),
        ("workflow-finish", None),
    ]
    assert (await storage.get_run("outer", "n1")).status == "success"  # type: ignore[union-attr]


# --- restart -----------------------------------------------------------------------------------


async def crashed_in_approve(storage: Any) -> None:
    """A run stored as a crashed process leaves it: ``running``, ``prepare`` done, in entry 1."""
    await (await review(storage).create_run(run_id="c1")).start(input_data="spec")
    snapshot = json.loads(json.dumps(await storage.load_snapshot(WID, "c1")))
    crashed = copy.deepcopy(snapshot)
    crashed.update(status="running", suspendedPaths={}, resumeLabels={})
    del crashed["context"]["approve"]
    crashed["stepExecutionPath"] = ["prepare"]
    await storage.persist_snapshot(WID, "c1", crashed)


async def test_restart_against_a_changed_graph(storage: Any) -> None:
    await crashed_in_approve(storage)
    calls: list[str] = []
    run = await review(storage, enrich=True, calls=calls).get_run("c1")
    assert run is not None and run.status == "running"
    with pytest.raises(WorkflowChangedError) as caught:
        await run.restart()
    assert caught.value.changes == INSERTED
    assert await status_of(storage, "c1") == "running"  # not claimed

    result = await run.restart(allow_changed_graph=True)
    assert calls == ["approve"]  # from the entry it was in (now entry 3): approve asks again
    assert result.status == "suspended"
    assert result.step_execution_path == ["prepare", "approve"]


async def test_a_snapshot_without_a_fingerprint_resumes_as_before(storage: Any) -> None:
    await (await review(storage).create_run(run_id="r1")).start(input_data="spec")
    old = json.loads(json.dumps(await storage.load_snapshot(WID, "r1")))
    del old["graphFingerprint"]  # written by an rxflow without fingerprints
    await storage.persist_snapshot(WID, "r1", old)
    result = await (await review(storage).get_run("r1")).resume(resume_data=True)  # type: ignore[union-attr]
    assert (result.status, result.result) == ("success", "sent: True")


async def test_allow_changed_graph_must_be_a_bool(storage: Any) -> None:
    run = await review(storage).create_run(run_id="r1")
    with pytest.raises(TypeError, match="allow_changed_graph must be a bool, got 'yes'"):
        await run.resume(resume_data=1, allow_changed_graph="yes")
    with pytest.raises(TypeError, match="allow_changed_graph must be a bool, got 1"):
        run.resume_stream(resume_data=1, allow_changed_graph=1)
    with pytest.raises(TypeError, match="allow_changed_graph must be a bool, got None"):
        await run.restart(allow_changed_graph=None)  # type: ignore[arg-type]
