"""A damaged stored snapshot is refused, field by field, before a resume or restart claims the run;
the run stays as it was and continues once the row is repaired. Failures after a claim give it
back. A custom store's own exceptions reach the caller as StorageError, the cause chained."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from _steps import ask, echo

from rxflow import (
    InMemoryStorage,
    ResumeError,
    SnapshotError,
    StorageError,
    create_step,
    create_workflow,
)
from rxflow.engine.state import ExecutionState

WID = "review"


def build(storage: Any) -> Any:
    return (
        create_workflow(id=WID, storage=storage)
        .then(create_step(id="prepare", execute=echo))
        .then(create_step(id="approve", execute=ask))
        .then(create_step(id="notify", execute=echo))
        .commit()
    )


async def suspended_run(storage: Any, run_id: str = "r1") -> dict[str, Any]:
    """Suspend a run on ``approve``; its stored snapshot, as plain JSON data (a copy)."""
    run = await build(storage).create_run(run_id=run_id)
    assert (await run.start(input_data={"doc": 1})).status == "suspended"
    stored = await storage.load_snapshot(WID, run_id)
    return json.loads(json.dumps(stored))


async def store(storage: Any, snapshot: dict[str, Any], run_id: str = "r1") -> None:
    await storage.persist_snapshot(WID, run_id, copy.deepcopy(snapshot))


async def status_of(storage: Any, run_id: str = "r1") -> str:
    record = await storage.get_run(WID, run_id)
    assert record is not None
    return str(record.status)


# (what is damaged, its new value, the field named, the problem named)
DAMAGE = [
    (
        "activePaths",
        [99],
        "activePaths",
        "entry index 99 is not one of the graph's 3 entries (0 to 2)",
    ),
    (
        "activePaths",
        [-1],
        "activePaths",
        "entry index -1 is not one of the graph's 3 entries (0 to 2)",
    ),
    (
        "activePaths",
        ["1"],
        "activePaths",
        "entry index '1' is not one of the graph's 3 entries (0 to 2)",
    ),
    (
        "activePaths",
        [1, 2],
        "activePaths",
        "expected a list of at most one entry index, got [1, 2]",
    ),
    (
        "activePaths",
        {"0": 1},
        "activePaths",
        "expected a list of at most one entry index, got {'0': 1}",
    ),
    ("value", [1, 2], "value", "expected a mapping, got list"),
    ("value", "state", "value", "expected a mapping, got str"),
    ("resumeLabels", ["a"], "resumeLabels", "expected a mapping, got list"),
    (
        "resumeLabels",
        {"boss": "approve"},
        "resumeLabels.boss",
        'expected {"stepId": <step id>} with an optional "foreachIndex"',
    ),
    (
        "resumeLabels",
        {"boss": {"stepId": "approve", "foreachIndex": -2}},
        "resumeLabels.boss.foreachIndex",
        "expected an int >= 0, got -2",
    ),
    ("requestContext", "user=1", "requestContext", "expected a mapping, got str"),
    ("requestContext", [["user", 1]], "requestContext", "expected a mapping, got list"),
    ("nestedRuns", [1], "nestedRuns", "expected a mapping, got list"),
    (
        "nestedRuns",
        {"approve": {"version": 1}},
        "nestedRuns.approve",
        "no nested workflow 'approve' in the graph",
    ),
    ("context", [1], "context", "expected a mapping, got list"),
    (
        "context",
        {"input": 1, "prepare": {"status": "done"}},
        "context.prepare",
        "malformed StepResult: $.status: expected 'running' | 'waiting' | 'success' | 'failed' "
        "| 'suspended' | 'bailed' | 'canceled' | 'paused', got 'done'",
    ),
    ("context", {"input": 1, "prepare": "ok"}, "context.prepare", "malformed StepResult: $: "),
    ("suspendedPaths", [["approve"]], "suspendedPaths", "expected a mapping, got list"),
    (
        "suspendedPaths",
        {"notify": [1]},
        "suspendedPaths.notify",
        "no step 'notify' in the active entry 1 of the graph",
    ),
    (
        "suspendedPaths",
        {"approve": [7]},
        "suspendedPaths.approve",
        "expected entry indexes below 3",
    ),
    ("stepExecutionPath", "prepare", "stepExecutionPath", "expected a list of step ids (strings)"),
    ("stepExecutionPath", [1], "stepExecutionPath", "expected a list of step ids (strings)"),
    ("status", "done", "status", "'done' is not a run status"),
    ("runId", 7, "runId", "expected a string, got int"),
    ("tracingContext", {"traceId": 1}, "tracingContext", "its values must be strings"),
    ("timestamp", "now", "timestamp", "expected an int, got str"),
    ("version", 99, "version", "format version 99; this rxflow reads version 1"),
    ("graphFingerprint", 12, "graphFingerprint", "expected a string, got int"),
]


@pytest.mark.parametrize(
    ("key", "bad", "field", "problem"), DAMAGE, ids=[f"{d[0]}={d[1]!r}" for d in DAMAGE]
)
async def test_a_damaged_field_is_refused_before_the_claim_and_the_run_resumes_once_repaired(
    storage: Any, key: str, bad: Any, field: str, problem: str
) -> None:
    original = await suspended_run(storage)
    await store(storage, {**original, key: bad})
    stored_status = await status_of(storage)  # "suspended", or the damaged status itself

    run = await build(storage).create_run(run_id="r1")
    with pytest.raises(SnapshotError) as caught:
        await run.resume(resume_data="yes")
    error = caught.value
    assert isinstance(error, StorageError)
    assert (error.run_id, error.field) == ("r1", field)
    assert error.problem.startswith(problem)
    assert str(error) == f"the stored snapshot of run 'r1' cannot be used: {field}: {error.problem}"
    assert await status_of(storage) == stored_status  # never claimed

    output = run.resume_stream(resume_data="yes")  # the stream reports the same error
    with pytest.raises(SnapshotError, match=f"run 'r1' cannot be used: {field}"):
        await output.result

    await store(storage, original)  # the row is repaired
    result = await (await build(storage).create_run(run_id="r1")).resume(resume_data="yes")
    assert (result.status, result.result) == ("success", "yes")


async def test_a_snapshot_that_is_not_a_mapping_is_refused() -> None:
    class Odd(InMemoryStorage):
        async def load_snapshot(self, workflow_id: str, run_id: str) -> Any:
            return ["not", "a", "snapshot"]

    run = await build(Odd()).create_run(run_id="r1")
    with pytest.raises(SnapshotError) as caught:
        await run.resume(resume_data="yes")
    assert str(caught.value) == (
        "the stored snapshot of run 'r1' cannot be used: a snapshot must be a mapping, got list"
    )


# --- blocks and nested runs ------------------------------------------------------------------


async def test_damaged_foreach_progress_is_refused(storage: Any) -> None:
    async def item(ctx: Any) -> Any:
        if ctx.input_data == 1 and ctx.resume_data is None:
            return await ctx.suspend({"item": 1})
        return ctx.input_data * 10

    wf = (
        create_workflow(id="fan", storage=storage)
        .foreach(create_step(id="each", execute=item), concurrency=2)
        .commit()
    )
    await (await wf.create_run(run_id="f1")).start(input_data=[0, 1, 2])
    original = json.loads(json.dumps(await storage.load_snapshot("fan", "f1")))
    progress = original["context"]["each"]["metadata"]["foreach"]
    assert progress["suspended"] == [[1, {"item": 1}]]

    damaged = copy.deepcopy(original)
    damaged["context"]["each"]["metadata"]["foreach"]["suspended"] = [[5, {"item": 1}]]
    await storage.persist_snapshot("fan", "f1", damaged)
    with pytest.raises(SnapshotError) as caught:
        await (await wf.create_run(run_id="f1")).resume(resume_data="go")
    assert caught.value.field == "context.each.metadata.foreach.suspended"
    assert caught.value.problem == "expected [index, payload] pairs, index < 3"

    damaged["context"]["each"]["metadata"]["foreach"]["suspended"] = [[1, {"item": 1}]]
    damaged["context"]["each"]["metadata"]["foreach"]["done"] = [0, 9]
    await storage.persist_snapshot("fan", "f1", damaged)
    with pytest.raises(
        SnapshotError, match="foreach.done: expected a list of item indexes below 3"
    ):
        await (await wf.create_run(run_id="f1")).resume(resume_data="go")

    await storage.persist_snapshot("fan", "f1", original)
    result = await (await wf.create_run(run_id="f1")).resume(resume_data="go")
    assert (result.status, result.result) == ("success", [0, 10, 20])


async def test_a_damaged_nested_run_is_refused_by_its_dotted_field(storage: Any) -> None:
    inner = (
        create_workflow(id="inner")
        .then(create_step(id="first", execute=echo))
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    wf = (
        create_workflow(id="outer", storage=storage)
        .then(create_step(id="prepare", execute=echo))
        .then(inner)
        .commit()
    )
    await (await wf.create_run(run_id="n1")).start(input_data=3)
    original = json.loads(json.dumps(await storage.load_snapshot("outer", "n1")))
    assert original["nestedRuns"]["inner"]["activePaths"] == [1]

    for key, bad, field in [
        ("activePaths", [2], "nestedRuns.inner.activePaths"),
        ("value", "x", "nestedRuns.inner.value"),
        ("version", None, "nestedRuns.inner.version"),
    ]:
        damaged = copy.deepcopy(original)
        damaged["nestedRuns"]["inner"][key] = bad
        await storage.persist_snapshot("outer", "n1", damaged)
        with pytest.raises(SnapshotError) as caught:
            await (await wf.create_run(run_id="n1")).resume(resume_data="ok")
        assert caught.value.field == field
        assert await storage.get_run("outer", "n1") is not None
        assert (await storage.get_run("outer", "n1")).status == "suspended"  # type: ignore[union-attr]

    await storage.persist_snapshot("outer", "n1", original)
    result = await (await wf.create_run(run_id="n1")).resume(resume_data="ok")
    assert (result.status, result.result) == ("success", "ok")


# --- restart ---------------------------------------------------------------------------------


async def left_running(storage: Any, run_id: str = "c1") -> dict[str, Any]:
    """A run stored as a crashed process leaves it: ``running``, ``prepare`` done, in entry 1."""
    original = await suspended_run(storage, run_id)
    crashed = copy.deepcopy(original)
    crashed.update(status="running", suspendedPaths={}, resumeLabels={})
    del crashed["context"]["approve"]
    crashed["stepExecutionPath"] = ["prepare"]
    await store(storage, crashed, run_id)
    return crashed


async def test_restart_refuses_a_damaged_snapshot_before_claiming(storage: Any) -> None:
    crashed = await left_running(storage)
    await store(storage, {**crashed, "activePaths": [-1]}, "c1")
    run = await build(storage).create_run(run_id="c1")
    with pytest.raises(SnapshotError, match="activePaths: entry index -1 is not one of"):
        await run.restart()
    assert await status_of(storage, "c1") == "running"  # not left "restarting"

    await store(storage, crashed, "c1")
    result = await (await build(storage).create_run(run_id="c1")).restart()
    assert result.status == "suspended"  # approve ran again, and asks
    assert result.step_execution_path == ["prepare", "approve"]


# --- a failure after the claim gives the claim back -------------------------------------------


async def test_a_failure_after_a_resume_claim_releases_it(
    storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await suspended_run(storage)
    rebuild = ExecutionState.__init__

    def broken(self: ExecutionState, **kwargs: Any) -> None:
        raise StorageError("the store went away while the run was rebuilt")

    monkeypatch.setattr(ExecutionState, "__init__", broken)
    with pytest.raises(StorageError, match="went away"):
        await (await build(storage).create_run(run_id="r1")).resume(resume_data="yes")
    assert await status_of(storage) == "suspended"

    monkeypatch.setattr(ExecutionState, "__init__", rebuild)
    result = await (await build(storage).create_run(run_id="r1")).resume(resume_data="yes")
    assert (result.status, result.result) == ("success", "yes")


async def test_a_failure_after_a_restart_claim_releases_it(
    storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await left_running(storage)
    rebuild = ExecutionState.__init__

    def broken(self: ExecutionState, **kwargs: Any) -> None:
        raise StorageError("the store went away while the run was rebuilt")

    monkeypatch.setattr(ExecutionState, "__init__", broken)
    with pytest.raises(StorageError, match="went away"):
        await (await build(storage).create_run(run_id="c1")).restart()
    assert await status_of(storage, "c1") == "running"

    monkeypatch.setattr(ExecutionState, "__init__", rebuild)
    result = await (await build(storage).create_run(run_id="c1")).restart()
    assert result.status == "suspended"


# --- a custom store's own exceptions -----------------------------------------------------------


class Flaky(InMemoryStorage):
    """An in-memory store whose chosen method raises its own (non-rxflow) exception."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: str | None = None

    async def load_snapshot(self, workflow_id: str, run_id: str) -> Any:
        if self.failing == "load_snapshot":
            raise ConnectionResetError("connection reset by peer")
        return await super().load_snapshot(workflow_id, run_id)

    async def update_status(self, *args: Any, **kwargs: Any) -> bool:
        if self.failing == "update_status":
            raise TimeoutError("no answer in 5 s")
        return await super().update_status(*args, **kwargs)


@pytest.mark.parametrize(
    ("method", "cause", "message"),
    [
        (
            "load_snapshot",
            ConnectionResetError,
            "Flaky failed to load the snapshot of run 'r1' of workflow 'review': "
            "ConnectionResetError('connection reset by peer')",
        ),
        (
            "update_status",
            TimeoutError,
            "Flaky failed to set the status of run 'r1' of workflow 'review' to 'running': "
            "TimeoutError('no answer in 5 s')",
        ),
    ],
)
async def test_a_custom_stores_exception_is_a_storage_error_with_its_cause(
    method: str, cause: type[Exception], message: str
) -> None:
    storage = Flaky()
    await suspended_run(storage)
    storage.failing = method
    run = await build(storage).create_run(run_id="r1")
    with pytest.raises(StorageError) as caught:
        await run.resume(resume_data="yes")
    assert str(caught.value) == message
    assert isinstance(caught.value.__cause__, cause)
    if method == "load_snapshot":
        with pytest.raises(StorageError) as again:
            await run.restart()
        assert isinstance(again.value.__cause__, cause)

    storage.failing = None
    assert await status_of(storage) == "suspended"
    result = await run.resume(resume_data="yes")
    assert result.status == "success"


async def test_cancel_reports_a_failing_custom_store_as_a_storage_error() -> None:
    storage = Flaky()
    await suspended_run(storage)
    run = await build(storage).get_run("r1")
    assert run is not None
    storage.failing = "update_status"
    with pytest.raises(StorageError, match="to 'canceled': TimeoutError") as caught:
        await run.cancel()
    assert isinstance(caught.value.__cause__, TimeoutError)
    storage.failing = None
    await run.cancel()
    assert await status_of(storage) == "canceled"


async def test_resume_of_an_unknown_run_is_still_a_resume_error(storage: Any) -> None:
    run = await build(storage).create_run(run_id="ghost")
    await storage.delete_run(WID, "ghost")
    with pytest.raises(ResumeError, match="no stored run 'ghost' of workflow 'review'"):
        await run.resume(resume_data=1)
