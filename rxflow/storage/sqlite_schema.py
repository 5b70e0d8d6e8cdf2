"""The tables of ``SQLiteStorage``, their version, and the in-place upgrade of older files.

Version 1 (rxflow 0.1) was one table of whole snapshots. Version 2 adds the lease and cancel
columns, the checkpoint ``patch`` column, the step result table and the version table.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from ..errors import StorageError

if TYPE_CHECKING:
    from .sqlite_worker import SQLiteWorker

__all__ = ["RESULTS", "RUNS", "SCHEMA_VERSION", "VERSION_TABLE", "prepare"]

RUNS = "rxflow_workflow_snapshot"
RESULTS = "rxflow_step_result"
VERSION_TABLE = "rxflow_schema_version"
SCHEMA_VERSION = 2

_VERSION_1 = (
    f"CREATE TABLE {RUNS} ("
    " workflow_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " resource_id TEXT,"
    " status TEXT NOT NULL,"
    " snapshot TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (workflow_id, run_id))",
    f"CREATE INDEX {RUNS}_by_created ON {RUNS} (workflow_id, created_at)",
)

# snapshot: the run's snapshot as last persisted, never rewritten by checkpoints; patch: the
# top-level keys checkpoints and status changes set since (a small JSON object, or NULL);
# results_base: step results with a higher seq are laid over the snapshot's context.
# A checkpoint touches three pages: the run's row, the new result's row and its key's index
# entry (no index on the columns every checkpoint changes, no AUTOINCREMENT counter: a run's
# records are only ever deleted together, so a new rowid is above all of the run's).
_VERSION_2 = (
    f"ALTER TABLE {RUNS} ADD COLUMN patch TEXT",
    f"ALTER TABLE {RUNS} ADD COLUMN results_base INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {RUNS} ADD COLUMN lease_owner TEXT",
    f"ALTER TABLE {RUNS} ADD COLUMN lease_version INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {RUNS} ADD COLUMN lease_expires_at INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {RUNS} ADD COLUMN lease_host TEXT",
    f"ALTER TABLE {RUNS} ADD COLUMN lease_pid INTEGER",
    f"ALTER TABLE {RUNS} ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
    f"CREATE INDEX {RUNS}_by_status ON {RUNS} (status)",
    f"CREATE TABLE {RESULTS} ("
    " seq INTEGER PRIMARY KEY,"
    " workflow_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " result TEXT NOT NULL,"
    " written_at INTEGER NOT NULL,"
    " UNIQUE (workflow_id, run_id, key, attempt))",
    f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)",
    f"INSERT INTO {VERSION_TABLE} (version) VALUES (2)",
)

_MIGRATIONS: dict[int, tuple[str, ...]] = {1: _VERSION_1, 2: _VERSION_2}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version of the open file: 0 when it holds no rxflow tables yet."""
    if _has_table(conn, VERSION_TABLE):
        row = conn.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
        return int(row[0] or 0)
    return 1 if _has_table(conn, RUNS) else 0


def _upgrade(conn: sqlite3.Connection, path: str) -> None:
    version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"SQLite storage {path!r} was written by a newer rxflow (schema version {version});"
            f" this one reads versions up to {SCHEMA_VERSION}"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):  # each step records its own version
        for sql in _MIGRATIONS[step]:
            conn.execute(sql)


def prepare(worker: SQLiteWorker, conn: sqlite3.Connection) -> None:
    """Create the tables, or upgrade an older file in place, once per connection.

    The version is read first without a lock; only a file that needs work takes the write
    lock, and the version is read again under it, so of several processes opening an old
    file at once exactly one upgrades it.
    """
    if worker.transaction(conn, lambda: stored_version(conn), write=False) == SCHEMA_VERSION:
        return
    worker.transaction(conn, lambda: _upgrade(conn, worker.path), write=True)
