"""``SQLiteStorage``'s write-ahead log is copied into the file by a thread of its own (passive
checkpoints every so many commits), not by the commit that makes the log long: under a server's
load that commit is on the event loop's thread."""

from __future__ import annotations

import asyncio
import gc
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from rxflow.storage import SQLiteStorage
from rxflow.storage.sqlite_wal import BACKSTOP_PAGES, EVERY_COMMITS, WalCheckpointer


def snap(run_id: str) -> dict[str, Any]:
    return {"runId": run_id, "status": "running", "value": {}, "context": {}}


async def wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not become true"
        await asyncio.sleep(0.01)


def rows_in_the_file_alone(path: Path, tmp: Path) -> int:
    """Rows of ``t`` in the database file without its log: what was copied into it."""
    alone = tmp / "alone.db"
    shutil.copyfile(path, alone)  # the -wal file is not copied
    conn = sqlite3.connect(alone)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


async def test_the_writer_leaves_the_copy_to_the_thread(tmp_path: Path) -> None:
    async with SQLiteStorage(tmp_path / "runs.db") as storage:
        await storage.persist_snapshot("wf", "r0", snap("r0"))
        conn = storage.worker._conn
        assert conn is not None
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
        wal = storage.worker.wal
        assert wal is not None
        assert wal.checkpoints == 0  # one commit: no thread yet

        for index in range(1, EVERY_COMMITS + 1):
            await storage.persist_snapshot("wf", f"r{index}", snap(f"r{index}"))
        await wait_for(lambda: wal.checkpoints >= 1)

        runs = await storage.list_runs("wf")
        assert runs.total == EVERY_COMMITS + 1
    # The writer's connection closes last: SQLite copies the rest and removes the log.
    assert not (tmp_path / "runs.db-wal").exists()
    async with SQLiteStorage(tmp_path / "runs.db") as reopened:
        assert (await reopened.list_runs("wf")).total == EVERY_COMMITS + 1


async def test_a_checkpoint_copies_the_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the table itself is in the file
    checkpointer = WalCheckpointer(str(path), 5000)
    try:
        for index in range(EVERY_COMMITS):
            writer.execute("INSERT INTO t VALUES (?)", (index,))
            if index == EVERY_COMMITS - 2:
                assert rows_in_the_file_alone(path, tmp_path) == 0  # all still in the log
            checkpointer.committed()
        await wait_for(lambda: checkpointer.checkpoints == 1)
        assert rows_in_the_file_alone(path, tmp_path) == EVERY_COMMITS
    finally:
        checkpointer.stop()
        writer.close()


def test_stopping_a_checkpointer_that_never_woke_is_immediate(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "never.db"), 5000)
    checkpointer.committed()
    checkpointer.stop()
    assert checkpointer.checkpoints == 0
    assert not (tmp_path / "never.db").exists()  # no connection was opened


async def test_a_store_dropped_without_close_stops_its_thread(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "dropped.db")
    for index in range(EVERY_COMMITS):
        await storage.persist_snapshot("wf", f"r{index}", snap(f"r{index}"))
    wal = storage.worker.wal
    assert wal is not None
    await wait_for(lambda: wal.checkpoints >= 1)
    thread = wal._thread
    assert thread is not None and thread.is_alive()
    del storage
    gc.collect()
    await wait_for(lambda: not thread.is_alive())
