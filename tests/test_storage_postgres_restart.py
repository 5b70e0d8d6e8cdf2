"""A PostgreSQL server restarted, or stopped, while a run executes in another process: the run
either goes on or fails with ``StorageError``; what was stored before is never lost, and a run
that failed to store its progress can be restarted from it.

Each test runs on a server of its own (``_postgres_server.OwnServer``), since it stops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import crash_app
import pytest
from _crash import finish, spawn, wait_for
from _postgres import execute, with_schema
from _postgres_server import OwnServer

from rxflow.errors import StorageError

PAUSED_AT = 3  # s1 and s2 are stored when the server goes away; s3 is running
# The worker's calls wait this long for a connection when the server is down.
WORKER = {"RXFLOW_TEST_DURABILITY": "sync", "RXFLOW_TEST_POSTGRES_TIMEOUT": "2"}
ALL_STEPS = [f"s{k}" for k in range(1, crash_app.STEPS + 1)]


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    own = OwnServer()
    yield own
    own.close()


@pytest.fixture
def spec(server: OwnServer, tmp_path: Path) -> str:
    schema = "restart_" + tmp_path.name.replace("-", "_").lower()[-40:]
    execute(server.dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    execute(server.dsn, f"CREATE SCHEMA {schema}")
    return f"postgres:{with_schema(server.dsn, schema)}"


def start_paused(spec: str) -> object:
    """The six-step chain in a worker process, once its step s3 runs (and waits)."""
    worker = spawn("six", spec, "r", RXFLOW_TEST_PAUSE_AT=str(PAUSED_AT), **WORKER)
    wait_for(lambda: crash_app.signalled(f"running.s{PAUSED_AT}"), "s3 to run")
    return worker


async def stored(spec: str) -> tuple[str | None, dict[str, object]]:
    """The run's stored status and its stored step results (output by step id)."""
    store = crash_app.open_store(spec)
    try:
        record = await store.get_run("six", "r")
        snapshot = await store.load_snapshot("six", "r") or {}
        context = snapshot.get("context", {})
        done = [step for step in ALL_STEPS if context.get(step, {}).get("status") == "success"]
        results = {step: context[step]["output"] for step in done}
    finally:
        await store.close()
    return (None if record is None else record.status), results


def outputs_before(k: int) -> dict[str, object]:
    """What steps s1 .. s<k-1> return for input n = 0."""
    return {f"s{j}": {"n": j * (j + 1) // 2} for j in range(1, k)}


async def restart_here(spec: str) -> None:
    wf = crash_app.six(spec)
    run = await wf.get_run("r")
    assert run is not None and run.status == "running"
    result = await run.restart()
    await wf.storage.close()
    assert (result.status, result.result) == ("success", {"n": 21})


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_server_restarted_while_a_step_runs_the_run_goes_on(
    crash_dir: Path, server: OwnServer, spec: str, mode: str
) -> None:
    worker = start_paused(spec)
    server.restart(mode)  # every connection of the worker is gone, its listener too
    crash_app.signal("release")

    assert finish(worker) == "won success"
    status, results = await stored(spec)
    assert status == "success"
    assert results == outputs_before(crash_app.STEPS + 1)
    assert crash_app.executions() == {step: 1 for step in ALL_STEPS}


async def test_a_server_down_when_a_step_ends_fails_the_run_and_keeps_what_was_stored(
    crash_dir: Path, server: OwnServer, spec: str
) -> None:
    worker = start_paused(spec)
    server.stop()
    try:
        crash_app.signal("release")  # s3 ends; its checkpoint finds no server
        line = finish(worker)
    finally:
        server.start()

    assert line.startswith("won failed StorageError: "), line
    assert "PostgreSQL at host '127.0.0.1'" in line and "database 'rxflow_test'" in line
    # Nothing reached the server after it stopped: the run is still stored as running, with
    # the results stored before, and its owner is gone, so it can be restarted at once.
    status, results = await stored(spec)
    assert (status, results) == ("running", outputs_before(PAUSED_AT))
    await restart_here(spec)
    assert crash_app.executions() == {step: 2 if step == "s3" else 1 for step in ALL_STEPS}


async def test_a_checkpoint_on_its_way_when_the_server_restarts_is_not_sent_again(
    crash_dir: Path, server: OwnServer, spec: str
) -> None:
    import psycopg

    worker = start_paused(spec)
    dsn = spec.partition(":")[2]
    # The test holds the run's row, so s3's checkpoint waits on the server until it restarts.
    locker = psycopg.connect(dsn)
    locker.execute("SELECT 1 FROM rxflow_workflow_snapshot WHERE run_id = 'r' FOR UPDATE")
    try:
        crash_app.signal("release")
        # The checkpoint is the one write that stores step results (a lease renewal may wait
        # on the row too, and must not be taken for it).
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            " AND query LIKE '%INSERT INTO rxflow_step_result%'"
        )
        wait_for(lambda: execute(dsn, waiting)[0][0] == 1, "the checkpoint to wait on the row")
        server.restart()
    finally:
        locker.close()

    line = finish(worker)
    # Whether it was stored is not known to the worker: the run fails, the write is not
    # repeated; the run's final write gives the lease up if it reaches the server.
    assert line.startswith("won failed StorageError: checkpoint of run 'r' ('six'): "), line
    assert "the connection was lost, so it may or may not have been stored" in line
    status, results = await stored(spec)
    assert results.items() >= outputs_before(PAUSED_AT).items()  # never lost
    if status == "running":  # the final write did not reach the server either
        assert results == outputs_before(PAUSED_AT)
        await restart_here(spec)
        assert crash_app.executions() == {step: 2 if step == "s3" else 1 for step in ALL_STEPS}
    else:  # stored as failed, by the final write (with s3's result) or by its fallback
        assert status == "failed"
        assert results in (outputs_before(PAUSED_AT), outputs_before(PAUSED_AT + 1))
        assert crash_app.executions() == {f"s{k}": 1 for k in range(1, PAUSED_AT + 1)}


async def test_a_store_whose_server_is_down_fails_each_call_and_recovers_once_it_is_back(
    server: OwnServer, spec: str
) -> None:
    import psycopg

    from rxflow.storage.postgres import PostgresStorage

    store = PostgresStorage(spec.partition(":")[2], timeout=2)
    try:
        await store.persist_snapshot("wf", "r1", crash_snapshot("r1"))
        server.stop()
        try:
            with pytest.raises(StorageError) as raised:
                await store.get_run("wf", "r1")
        finally:
            server.start()
        # The pool gave no connection in time; a direct attempt says why.
        message = str(raised.value)
        assert message.startswith("get_run of run 'r1' ('wf'): cannot connect: PostgreSQL at")
        assert f"host '127.0.0.1', port {server.port}, database 'rxflow_test'" in message
        assert "Connection refused" in message, message
        assert isinstance(raised.value.__cause__, psycopg.OperationalError)
        record = await store.get_run("wf", "r1")
        assert record is not None and record.status == "pending"
    finally:
        await store.close()


def crash_snapshot(run_id: str) -> dict[str, object]:
    return {"runId": run_id, "status": "pending", "value": {}, "context": {}}
