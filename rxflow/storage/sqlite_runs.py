"""``SQLiteStorage``'s run side: whole snapshots, status compare-and-set, listing, deleting.

Plain functions on an open connection, each called inside one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

from .lease import holder_is_gone, this_host
from .protocol import RunList, RunRecord
from .records import RUNNING_STATUSES
from .sqlite_leases import patched
from .sqlite_rows import (
    KEY,
    RUN_COLUMNS,
    assembled,
    control_state,
    listed_record,
    record_of,
    run_row,
)
from .sqlite_schema import RESULTS, RUNS

__all__ = [
    "delete_run",
    "delete_runs",
    "get_run",
    "list_runs",
    "load_snapshot",
    "persist",
    "update_status",
]

# The upsert keeps the row (and so its rowid, the "then insertion" order of list_runs), its
# lease and its cancel flag; results written so far are no longer laid over the snapshot.
_UPSERT = (
    f"INSERT INTO {RUNS} (workflow_id, run_id, resource_id, status, snapshot, patch,"
    " results_base, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)"
    " ON CONFLICT (workflow_id, run_id) DO UPDATE SET"
    " resource_id = COALESCE(excluded.resource_id, resource_id),"
    " status = excluded.status, snapshot = excluded.snapshot, patch = NULL,"
    " results_base = excluded.results_base, updated_at = excluded.updated_at"
)
_RUNNING = ", ".join(f"'{status}'" for status in sorted(RUNNING_STATUSES))


def persist(
    conn: sqlite3.Connection,
    workflow_id: str,
    run_id: str,
    text: str,
    status: str,
    resource_id: str | None,
    now: int,
) -> None:
    """Create or replace the run's snapshot (``text``, its JSON)."""
    sql = f"SELECT COALESCE(MAX(seq), 0) FROM {RESULTS} WHERE {KEY}"
    base = conn.execute(sql, (workflow_id, run_id)).fetchone()[0]
    conn.execute(_UPSERT, (workflow_id, run_id, resource_id, status, text, base, now, now))


def load_snapshot(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's full snapshot, freshly parsed, or ``None``."""
    sql = f"SELECT snapshot, patch, results_base FROM {RUNS} WHERE {KEY}"
    row = conn.execute(sql, (workflow_id, run_id)).fetchone()
    if row is None:
        return None
    control = control_state(workflow_id, run_id, row[0], row[1])
    return assembled(conn, workflow_id, run_id, control, row[2])


def get_run(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> RunRecord | None:
    row = run_row(conn, workflow_id, run_id)
    return None if row is None else record_of(conn, row)


def update_status(
    conn: sqlite3.Connection,
    workflow_id: str,
    run_id: str,
    status: str,
    allowed: Collection[str] | None,
    now: int,
) -> bool:
    """Compare-and-set the status column and the snapshot's ``"status"``."""
    sql = f"SELECT status, snapshot, patch FROM {RUNS} WHERE {KEY}"
    row = conn.execute(sql, (workflow_id, run_id)).fetchone()
    if row is None or (allowed is not None and row[0] not in allowed):
        return False
    control_state(workflow_id, run_id, row[1], row[2])  # a run that cannot be read is refused
    update = f"UPDATE {RUNS} SET status = ?, patch = ?, updated_at = ? WHERE {KEY}"
    patch = patched(workflow_id, run_id, row[2], {"status": status})
    conn.execute(update, (status, patch, now, workflow_id, run_id))
    return True


def _orphaned(conn: sqlite3.Connection, now: int) -> tuple[str, list[Any]]:
    """The ``list_runs(orphaned=True)`` condition: running-like, and the lease free."""
    host = this_host()
    sql = (
        f"SELECT DISTINCT lease_pid FROM {RUNS} WHERE status IN ({_RUNNING})"
        " AND lease_owner IS NOT NULL AND lease_expires_at > ? AND lease_host = ?"
    )
    gone = [pid for (pid,) in conn.execute(sql, (now, host)) if holder_is_gone(host, pid)]
    condition = f"status IN ({_RUNNING}) AND (lease_owner IS NULL OR lease_expires_at <= ?"
    params: list[Any] = [now]
    if gone:
        condition += f" OR (lease_host = ? AND lease_pid IN ({', '.join('?' * len(gone))}))"
        params += [host, *gone]
    return condition + ")", params


def list_runs(
    conn: sqlite3.Connection,
    filters: dict[str, str | None],
    orphaned: bool,
    limit: int,
    offset: int,
    now: int,
) -> RunList:
    """Matching runs, newest first; count and page agree (one read transaction)."""
    given = {column: value for column, value in filters.items() if value is not None}
    conditions = [f"{column} = ?" for column in given]
    params: list[Any] = list(given.values())
    if orphaned:
        condition, extra = _orphaned(conn, now)
        conditions.append(condition)
        params += extra
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    total = conn.execute(f"SELECT COUNT(*) FROM {RUNS}{where}", params).fetchone()[0]
    page = (
        f"SELECT {RUN_COLUMNS} FROM {RUNS}{where}"
        " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
    )
    rows = conn.execute(page, (*params, limit, offset)).fetchall()
    return RunList(runs=[listed_record(conn, row) for row in rows], total=total)


def delete_run(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> bool:
    conn.execute(f"DELETE FROM {RESULTS} WHERE {KEY}", (workflow_id, run_id))
    return conn.execute(f"DELETE FROM {RUNS} WHERE {KEY}", (workflow_id, run_id)).rowcount > 0


def delete_runs(
    conn: sqlite3.Connection,
    workflow_id: str | None,
    statuses: Collection[str],
    cutoff: int | None,
) -> int:
    """Delete the matching runs and their results; how many runs."""
    if not statuses:
        return 0
    conditions = [f"status IN ({', '.join('?' * len(statuses))})"]
    params: list[Any] = list(statuses)
    if workflow_id is not None:
        conditions.append("workflow_id = ?")
        params.append(workflow_id)
    if cutoff is not None:
        conditions.append("updated_at < ?")
        params.append(cutoff)
    where = " AND ".join(conditions)
    conn.execute(
        f"DELETE FROM {RESULTS} WHERE (workflow_id, run_id) IN"
        f" (SELECT workflow_id, run_id FROM {RUNS} WHERE {where})",
        params,
    )
    deleted: int = conn.execute(f"DELETE FROM {RUNS} WHERE {where}", params).rowcount
    return deleted
