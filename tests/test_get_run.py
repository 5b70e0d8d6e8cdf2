"""``workflow.get_run(run_id)``: the stored run, or None, and never a new row;
``create_run(run_id=...)`` attaches or creates."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _steps import ask, echo

from rxflow import (
    InMemoryStorage,
    Run,
    SQLiteStorage,
    StorageError,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)


def approval(storage: Any, wid: str = "approval") -> Any:
    return (
        create_workflow(id=wid, storage=storage)
        .then(create_step(id="prepare", execute=echo))
        .then(create_step(id="approve", execute=ask))
        .commit()
    )


async def stored_ids(storage: Any) -> list[str]:
    listed = await storage.list_runs()
    return sorted(record.run_id for record in listed.runs)


async def test_an_unknown_run_is_none_and_no_row_is_created(storage: Any) -> None:
    wf = approval(storage)
    assert await wf.get_run("nope") is None
    assert await wf.get_run("nope") is None
    assert await storage.get_run("approval", "nope") is None
    assert await stored_ids(storage) == []


async def test_a_stored_run_is_attached_with_its_status_and_resumes(storage: Any) -> None:
    first = approval(storage)
    run = await first.create_run(run_id="doc-1", resource_id="team-a")
    assert (await run.start(input_data="spec")).status == "suspended"

    again = approval(storage)  # another workflow object on the same store
    found = await again.get_run("doc-1")
    assert isinstance(found, Run) and found is not run
    assert (found.run_id, found.workflow_id, found.resource_id) == ("doc-1", "approval", "team-a")
    assert found.status == "suspended"
    assert await again.get_run("doc-1") is found  # one Run per run id in a workflow object
    result = await found.resume(resume_data="ok")
    assert (result.status, result.result) == ("success", "ok")
    assert found.status == "success"
    assert await stored_ids(storage) == ["doc-1"]


async def test_a_live_run_is_the_same_object(storage: Any) -> None:
    wf = approval(storage)
    pending = await wf.create_run()
    assert await wf.get_run(pending.run_id) is pending
    assert pending.status == "pending"


async def test_runs_of_another_workflow_in_the_same_storage_are_not_found(storage: Any) -> None:
    other = approval(storage, wid="other")
    await (await other.create_run(run_id="shared-id")).start(input_data="x")
    wf = approval(storage)
    assert await wf.get_run("shared-id") is None
    assert await stored_ids(storage) == ["shared-id"]
    assert (await other.get_run("shared-id")).status == "suspended"  # type: ignore[union-attr]


async def test_create_run_with_an_id_attaches_or_creates(storage: Any) -> None:
    wf = approval(storage)
    await (await wf.create_run(run_id="kept")).start(input_data="x")
    attached = await approval(storage).create_run(run_id="kept")
    assert attached.status == "suspended"
    created = await wf.create_run(run_id="fresh")
    assert created.status == "pending"
    assert await stored_ids(storage) == ["fresh", "kept"]
    assert (await storage.get_run("approval", "fresh")).status == "pending"  # type: ignore[union-attr]


async def test_get_run_needs_a_committed_workflow_and_a_string_id() -> None:
    building = create_workflow(id="building").then(create_step(id="s", execute=echo))
    with pytest.raises(
        WorkflowDefinitionError, match="not committed; call commit\\(\\) before get_run"
    ):
        await building.get_run("x")
    wf = building.commit()
    with pytest.raises(TypeError, match="run_id must be a string, got 7"):
        await wf.get_run(7)


async def test_a_failing_custom_store_is_a_storage_error_with_its_cause() -> None:
    class Broken(InMemoryStorage):
        async def get_run(self, workflow_id: str, run_id: str) -> Any:
            raise ConnectionError("database is down")

    wf = approval(Broken())
    with pytest.raises(
        StorageError, match="Broken failed to read run 'r' of workflow 'approval'"
    ) as caught:
        await wf.get_run("r")
    assert isinstance(caught.value.__cause__, ConnectionError)
    with pytest.raises(StorageError, match="database is down"):
        await wf.create_run(run_id="r")


async def test_create_run_reports_a_failing_custom_store_as_a_storage_error() -> None:
    class ReadOnly(InMemoryStorage):
        async def persist_snapshot(self, *args: Any, **kwargs: Any) -> None:
            raise PermissionError("read-only database")

    wf = approval(ReadOnly())
    with pytest.raises(StorageError) as caught:
        await wf.create_run(run_id="r")
    assert str(caught.value) == (
        "ReadOnly failed to store the snapshot of run 'r' of workflow 'approval': "
        "PermissionError('read-only database')"
    )
    assert isinstance(caught.value.__cause__, PermissionError)


# --- a fresh process on the same SQLite file -------------------------------------------------

FRESH_PROCESS = textwrap.dedent(
    """
    import asyncio, json, sys
    from rxflow import SQLiteStorage, create_step, create_workflow

    async def echo(ctx):
        return ctx.input_data

    async def ask(ctx):
        if ctx.resume_data is None:
            return await ctx.suspend({"question": ctx.input_data})
        return ctx.resume_data

    async def main(db):
        storage = SQLiteStorage(db)
        wf = (
            create_workflow(id="approval", storage=storage)
            .then(create_step(id="prepare", execute=echo))
            .then(create_step(id="approve", execute=ask))
            .commit()
        )
        missing = await wf.get_run("from-a-url")
        found = await wf.get_run("doc-9")
        status = found.status
        result = await found.resume(resume_data="yes")
        listed = await storage.list_runs()
        await storage.close()
        print(json.dumps({
            "missing": missing is None,
            "status": status,
            "result": [result.status, result.result],
            "stored": sorted(r.run_id for r in listed.runs),
        }))

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_get_run_in_a_fresh_process_over_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    storage = SQLiteStorage(db)
    await (await approval(storage).create_run(run_id="doc-9")).start(input_data="spec")
    await storage.close()

    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "missing": True,
        "status": "suspended",
        "result": ["success", "yes"],
        "stored": ["doc-9"],
    }
