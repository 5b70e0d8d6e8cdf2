"""PostgresStorage's schema: made in an empty schema, upgraded in place from version 0 and
version 1 (the ``fixtures/postgres_v0.sql`` and ``postgres_v1.sql`` layouts), migrated by
exactly one of several processes at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema

from rxflow.errors import StorageError
from rxflow.storage import RunRecord

FIXTURE = Path(__file__).with_name("fixtures") / "postgres_v0.sql"
FIXTURE_V1 = Path(__file__).with_name("fixtures") / "postgres_v1.sql"
TESTS = Path(__file__).resolve().parent


def load_fixture(dsn: str, fixture: Path = FIXTURE) -> None:
    execute(dsn, fixture.read_text())


def versions(dsn: str) -> list[int]:
    return [v for (v,) in execute(dsn, "SELECT version FROM rxflow_schema_version ORDER BY 1")]


def layout(dsn: str) -> dict[str, Any]:
    """Everything about the tables that matters: columns, constraints, indexes, options."""
    schema = execute(dsn, "SELECT current_schema()")[0][0]
    tables = (
        "rxflow_schema_version",
        "rxflow_workflow_snapshot",
        "rxflow_step_result",
        "rxflow_run_count",
        "rxflow_event",
    )
    columns = execute(
        dsn,
        "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity"
        " FROM information_schema.columns WHERE table_schema = %s AND table_name = ANY(%s)",
        (schema, list(tables)),
    )
    constraints = execute(
        dsn,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = %s::regnamespace",
        (schema,),
    )
    indexes = execute(
        dsn,
        "SELECT tablename, indexname, replace(indexdef, %s, '') FROM pg_indexes"
        " WHERE schemaname = %s",
        (f"{schema}.", schema),
    )
    options = execute(
        dsn,
        "SELECT relname, reloptions FROM pg_class"
        " WHERE relnamespace = %s::regnamespace AND relkind = 'r'",
        (schema,),
    )
    triggers = execute(
        dsn,
        "SELECT tgname, replace(pg_get_triggerdef(t.oid), %s, '') FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal",
        (f"{schema}.", schema),
    )
    functions = execute(
        dsn,
        "SELECT proname, prosrc, replace(array_to_string(proconfig, ','), %s, '<schema>')"
        " FROM pg_proc WHERE pronamespace = %s::regnamespace",
        (schema, schema),
    )
    return {
        "columns": sorted(columns),
        "triggers": sorted(triggers),
        "functions": sorted(functions, key=str),
        "constraints": sorted(constraints),
        "indexes": sorted(indexes),
        "options": sorted(options, key=str),
    }


def counts_agree(dsn: str) -> bool:
    """Whether the run counts the triggers keep match the runs stored."""
    kept = execute(
        dsn,
        "SELECT workflow_id, status, sum(n) FROM rxflow_run_count"
        " GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2",
    )
    actual = execute(
        dsn,
        "SELECT workflow_id, status, count(*) FROM rxflow_workflow_snapshot"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    )
    return kept == actual


def open_store(dsn: str, **options: Any) -> Any:
    from rxflow.storage.postgres import PostgresStorage

    return PostgresStorage(dsn, **options)


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return fresh_schema(str(tmp_path))


@pytest.fixture
def old_dsn(tmp_path: Path) -> str:
    dsn = fresh_schema(f"{tmp_path}/old")
    load_fixture(dsn)
    return dsn


async def test_an_empty_schema_gets_the_current_layout_at_version_2(dsn: str) -> None:
    async with open_store(dsn) as store:
        assert (await store.list_runs()).total == 0

    assert versions(dsn) == [2]
    shape = layout(dsn)
    runs = "rxflow_workflow_snapshot"
    assert sorted(index for _, index, _ in shape["indexes"]) == [
        "rxflow_event_pkey",
        "rxflow_run_count_pkey",
        "rxflow_schema_version_pkey",
        "rxflow_step_result_pkey",
        f"{runs}_by_created",
        f"{runs}_by_resource",
        f"{runs}_by_status",
        f"{runs}_by_workflow",
        f"{runs}_by_workflow_status",
        f"{runs}_pkey",
    ]
    assert (runs, ["fillfactor=80"]) in shape["options"]
    by_status = [d for _, index, d in shape["indexes"] if index == f"{runs}_by_status"]
    assert by_status == [
        f"CREATE INDEX {runs}_by_status ON {runs} USING btree (status, created_at DESC, id DESC)"
    ]


async def test_the_upgrade_from_version_0_gives_the_layout_a_new_database_gets(
    dsn: str, old_dsn: str
) -> None:
    async with open_store(dsn):
        pass
    async with open_store(old_dsn):
        pass

    assert versions(old_dsn) == [0, 1, 2]
    assert layout(old_dsn) == layout(dsn)
    assert counts_agree(old_dsn) and len(execute(old_dsn, "SELECT * FROM rxflow_run_count")) == 5


async def test_the_runs_of_version_0_read_back_after_the_upgrade(old_dsn: str) -> None:
    async with open_store(old_dsn) as store:
        listed = await store.list_runs("review")
        record = await store.get_run("review", "doc-1")
        orphans = await store.list_runs(orphaned=True)
        broken = (await store.list_runs("order")).runs[0]

    assert [(r.run_id, r.status) for r in listed.runs] == [
        ("doc-3", "pending"),
        ("doc-2", "success"),
        ("doc-1", "suspended"),
    ]
    assert listed.total == 3
    query = "SELECT snapshot::text FROM rxflow_workflow_snapshot WHERE run_id = 'doc-1'"
    stored = json.loads(execute(old_dsn, query)[0][0])
    assert record == RunRecord(
        workflow_id="review",
        run_id="doc-1",
        resource_id="user-1",
        status="suspended",
        snapshot=stored,
        created_at=1_700_000_000_100,
        updated_at=1_700_000_000_130,
    )
    assert record.snapshot is not None
    assert record.snapshot["suspendedPaths"] == {"approve": [1]}
    assert record.snapshot["context"]["prepare"]["output"] == {"doc": "a.pdf", "pages": 3}
    assert [(r.run_id, r.status) for r in orphans.runs] == [("order-1", "running")]
    assert (broken.run_id, broken.snapshot, broken.status) == ("broken-1", None, "failed")
    assert broken.error is not None and "'broken-1'" in broken.error


async def test_an_upgraded_run_can_be_resumed_claimed_and_checkpointed(old_dsn: str) -> None:
    async with open_store(old_dsn) as store:
        lease = await store.claim_run("review", "doc-1", "running", expected="suspended")
        assert lease is not None and lease.version == 1
        await store.checkpoint(
            lease,
            state={"status": "success", "suspendedPaths": {}},
            results={"approve": {"status": "success", "output": {"approved": True}}},
            release=True,
        )
        snapshot = await store.load_snapshot("review", "doc-1")
        records = await store.load_results("review", "doc-1")

    assert snapshot is not None
    assert (snapshot["status"], snapshot["suspendedPaths"]) == ("success", {})
    assert snapshot["context"]["approve"] == {"status": "success", "output": {"approved": True}}
    assert snapshot["context"]["prepare"]["status"] == "success"
    assert [(r.key, r.attempt) for r in records] == [("approve", 0)]


async def test_opening_an_upgraded_database_again_changes_nothing(old_dsn: str) -> None:
    async with open_store(old_dsn):
        pass
    before = layout(old_dsn)
    async with open_store(old_dsn) as store:
        assert (await store.list_runs()).total == 5

    assert versions(old_dsn) == [0, 1, 2]
    assert layout(old_dsn) == before


async def test_a_database_of_a_newer_rxflow_is_refused(dsn: str) -> None:
    async with open_store(dsn):
        pass
    execute(dsn, "INSERT INTO rxflow_schema_version (version) VALUES (7)")

    store = open_store(dsn)
    with pytest.raises(StorageError, match=r"newer rxflow \(schema version 7\).*up to 2"):
        await store.list_runs()
    await store.close()


async def test_a_runs_table_without_a_version_table_is_refused(dsn: str) -> None:
    execute(dsn, "CREATE TABLE rxflow_workflow_snapshot (id int)")

    store = open_store(dsn)
    with pytest.raises(StorageError, match="rxflow_schema_version does not"):
        await store.list_runs()
    await store.close()
    assert execute(dsn, "SELECT to_regclass('rxflow_schema_version')") == [(None,)]


async def test_stores_opening_at_once_in_one_process_migrate_once(dsn: str, old_dsn: str) -> None:
    for where in (dsn, old_dsn):
        stores = [open_store(where) for _ in range(6)]
        listed = await asyncio.gather(*(store.list_runs() for store in stores))
        await asyncio.gather(*(store.close() for store in stores))
        assert len({r.total for r in listed}) == 1

    assert versions(dsn) == [2]
    assert versions(old_dsn) == [0, 1, 2]


def spawn_migrators(dsn: str, count: int) -> list[subprocess.Popen[str]]:
    """``count`` worker processes about to open a store on ``dsn``, all ready to go."""
    paths = [str(TESTS.parent), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    procs = []
    for _ in range(count):
        proc = subprocess.Popen(
            [sys.executable, str(TESTS / "postgres_worker.py"), "migrate", dsn],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != "ready\n":
            proc.kill()
            pytest.fail(f"worker did not get ready: {line!r} {proc.communicate()[1]}")
        procs.append(proc)
    return procs


def race(procs: list[subprocess.Popen[str]]) -> list[Any]:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize("start", ["empty", "version 0"])
async def test_two_processes_starting_at_once_migrate_exactly_once(
    tmp_path: Path, start: str
) -> None:
    where = fresh_schema(f"{tmp_path}/{start}")
    if start == "version 0":
        load_fixture(where)

    results = await asyncio.to_thread(race, spawn_migrators(where, 2))

    assert results == [{"ok": True}, {"ok": True}]
    assert versions(where) == ([2] if start == "empty" else [0, 1, 2])
    async with open_store(where) as store:
        assert (await store.list_runs()).total == (0 if start == "empty" else 5)


async def test_the_run_counts_follow_every_change_of_status(dsn: str) -> None:
    async with open_store(dsn) as store:
        for i in range(12):
            workflow_id = f"wf-{i % 3}"
            await store.persist_snapshot(workflow_id, f"r{i}", {"status": "pending"})
        await store.persist_snapshot("wf-0", "r0", {"status": "success"})  # replaced
        lease = await store.claim_run("wf-1", "r1", "running", expected="pending")
        assert lease is not None
        await store.checkpoint(lease, state={"value": 1})  # no status change
        await store.checkpoint(lease, state={"status": "suspended"}, release=True)
        await store.update_status("wf-2", "r2", "failed")
        assert await store.request_cancel("wf-0", "r3") == "canceled"
        await store.delete_run("wf-1", "r4")
        assert await store.delete_runs(status=["pending"], workflow_id="wf-2") == 3
        assert counts_agree(dsn)

        totals = {
            (w, s): (await store.list_runs(w, status=s)).total
            for w in (None, "wf-0", "wf-1", "wf-2")
            for s in (None, "pending", "success", "suspended", "failed", "canceled")
        }

    assert totals[None, None] == 8
    assert (totals["wf-0", None], totals["wf-1", None], totals["wf-2", None]) == (4, 3, 1)
    assert (totals[None, "pending"], totals["wf-0", "pending"]) == (4, 2)
    assert (totals[None, "success"], totals[None, "canceled"]) == (1, 1)
    assert (totals["wf-1", "suspended"], totals["wf-2", "failed"]) == (1, 1)
    execute(dsn, "TRUNCATE rxflow_workflow_snapshot CASCADE")
    assert counts_agree(dsn) and execute(dsn, "SELECT count(*) FROM rxflow_run_count") == [(0,)]
