"""``PostgresStorage``'s run side: whole snapshots, status compare-and-set, listing, deleting.

Coroutines on an open connection; each is one statement, so each is atomic by itself.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg import AsyncConnection

from ..errors import StorageError
from .lease import holder_is_gone, this_host
from .postgres_rows import (
    KEY,
    LATEST,
    NOW,
    RUN_COLUMN_NAMES,
    RUN_COLUMNS,
    fetch,
    listed_record,
    readable,
    record_of,
    snapshot_of,
    unreadable,
)
from .postgres_schema import COUNTS, EVENTS, RESULT_SEQUENCE, RUNS
from .protocol import RunList, RunRecord
from .records import RUNNING_STATUSES

__all__ = [
    "delete_run",
    "delete_runs",
    "get_run",
    "list_query",
    "list_runs",
    "load_snapshot",
    "persist",
    "refuse_unreadable",
    "update_status",
]

Conn = AsyncConnection[Any]

# The upsert keeps the row (so its id, the "then insertion" order of list_runs), its lease and
# its cancel flag. Results written so far are no longer laid over the snapshot: results_base
# is the last result seq handed out by the sequence (read after the row is locked, outside
# any snapshot), so every result of the run already stored is at or below it.
_PERSIST = (
    f"INSERT INTO {RUNS} AS r (workflow_id, run_id, resource_id, status, snapshot, patch,"
    " results_base, created_at, updated_at)"
    f" VALUES (%(workflow_id)s, %(run_id)s, %(resource_id)s, %(status)s, %(snapshot)s::jsonb,"
    f" NULL, 0, {NOW}, {NOW})"
    " ON CONFLICT (workflow_id, run_id) DO UPDATE SET"
    " resource_id = COALESCE(excluded.resource_id, r.resource_id),"
    " status = excluded.status, snapshot = excluded.snapshot, patch = NULL,"
    f" results_base = COALESCE(pg_sequence_last_value('{RESULT_SEQUENCE}'::regclass), 0),"
    " updated_at = excluded.updated_at"
)
_READ = f"SELECT {RUN_COLUMNS}, {LATEST.format('r')} FROM {RUNS} r WHERE {KEY}"
_PAGE_COLUMNS = ", ".join(f"page.{column}" for column in RUN_COLUMN_NAMES)
_STATUS_PATCH = "COALESCE(patch, '{}'::jsonb) || jsonb_build_object('status', %(status)s::text)"
_UPDATE_STATUS = (
    f"UPDATE {RUNS} SET status = %(status)s, patch = {_STATUS_PATCH}, updated_at = {NOW}"
    f" WHERE {KEY} AND {readable()}"
    " AND (%(allowed)s::text[] IS NULL OR status = ANY(%(allowed)s::text[])) RETURNING 1"
)
_RUNNING = "ARRAY[" + ", ".join(f"'{status}'" for status in sorted(RUNNING_STATUSES)) + "]"
_LIVE_HERE = (
    f"SELECT DISTINCT lease_pid FROM {RUNS} WHERE status = ANY({_RUNNING})"
    f" AND lease_owner IS NOT NULL AND lease_expires_at > {NOW} AND lease_host = %(host)s"
)


async def persist(
    conn: Conn,
    workflow_id: str,
    run_id: str,
    text: str,
    status: str,
    resource_id: str | None,
    now: int | None,
) -> None:
    """Create or replace the run's snapshot (``text``, its JSON)."""
    params = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "resource_id": resource_id,
        "status": status,
        "snapshot": text,
        "now": now,
    }
    await fetch(conn, _PERSIST, params)


async def _read(conn: Conn, workflow_id: str, run_id: str) -> tuple[Any, ...] | None:
    rows = await fetch(conn, _READ, {"workflow_id": workflow_id, "run_id": run_id})
    return rows[0] if rows else None


async def load_snapshot(conn: Conn, workflow_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's full snapshot, freshly parsed, or ``None``."""
    row = await _read(conn, workflow_id, run_id)
    return None if row is None else snapshot_of(row)


async def get_run(conn: Conn, workflow_id: str, run_id: str) -> RunRecord | None:
    row = await _read(conn, workflow_id, run_id)
    return None if row is None else record_of(row)


async def refuse_unreadable(conn: Conn, workflow_id: str, run_id: str) -> None:
    """Raise ``StorageError`` when the run is stored but cannot be read (a write that skipped
    it did so for that reason, not because a condition did not hold)."""
    rows = await fetch(
        conn,
        f"SELECT snapshot, patch FROM {RUNS} WHERE {KEY} AND NOT ({readable()})",
        {"workflow_id": workflow_id, "run_id": run_id},
    )
    if rows:
        snapshot, patch = rows[0]
        if isinstance(snapshot, dict):
            raise unreadable(workflow_id, run_id, "snapshot patch", patch)
        raise unreadable(workflow_id, run_id, "snapshot", snapshot)


async def update_status(
    conn: Conn,
    workflow_id: str,
    run_id: str,
    status: str,
    allowed: Collection[str] | None,
    now: int | None,
) -> bool:
    """Compare-and-set the status column and the snapshot's ``"status"``."""
    params = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "status": status,
        "allowed": None if allowed is None else list(allowed),
        "now": now,
    }
    if await fetch(conn, _UPDATE_STATUS, params):
        return True
    await refuse_unreadable(conn, workflow_id, run_id)
    return False


async def _gone_here(conn: Conn, now: int | None) -> list[int]:
    """The pids of this host's processes that hold live leases and no longer exist."""
    host = this_host()
    rows = await fetch(conn, _LIVE_HERE, {"host": host, "now": now})
    return [pid for (pid,) in rows if holder_is_gone(host, pid)]


def list_query(
    filters: dict[str, str | None],
    orphaned: bool,
    gone: list[int],
    limit: int,
    offset: int,
    now: int | None,
) -> tuple[str, dict[str, Any]]:
    """The statement :func:`list_runs` runs, and its parameters (``gone``: the pids of this
    host's processes that are gone, for ``orphaned``)."""
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    conditions = [f"{column} = %({column})s" for column in params]
    if orphaned:
        condition = (
            f"status = ANY({_RUNNING}) AND (lease_owner IS NULL OR lease_expires_at <= {NOW}"
        )
        if gone:
            condition += " OR (lease_host = %(host)s AND lease_pid = ANY(%(gone)s::integer[]))"
            params.update(host=this_host(), gone=gone)
        conditions.append(condition + ")")
        params["now"] = now
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    params.update(limit=limit, offset=offset)
    # Under no filter, or a workflow and status filter, the total is a sum over the run counts
    # the triggers keep; otherwise a count over the index of the filter.
    if orphaned or "resource_id" in params:
        count = f"SELECT count(*) AS n FROM {RUNS}{where}"
    else:
        count = f"SELECT COALESCE(sum(n), 0) AS n FROM {COUNTS}{where}"
    # The total and the page in one statement (one snapshot, so they agree): the page is read
    # from the top of the index matching the filters, and only its rows get their results; a
    # LEFT JOIN keeps the total when the page is empty.
    query = (
        f"WITH total AS ({count}),"
        f" page AS (SELECT {RUN_COLUMNS}, results_base, id FROM {RUNS}{where}"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s)"
        f" SELECT {_PAGE_COLUMNS}, {LATEST.format('page')}, total.n"
        " FROM total LEFT JOIN page ON true ORDER BY page.created_at DESC, page.id DESC"
    )
    return query, params


async def list_runs(
    conn: Conn,
    filters: dict[str, str | None],
    orphaned: bool,
    limit: int,
    offset: int,
    now: int | None,
) -> RunList:
    """Matching runs, newest first, and how many match."""
    gone = await _gone_here(conn, now) if orphaned else []
    rows = await fetch(conn, *list_query(filters, orphaned, gone, limit, offset, now))
    total = int(rows[0][-1]) if rows else 0
    runs = [listed_record(row) for row in rows if row[0] is not None]
    return RunList(runs=runs, total=total)


async def delete_run(conn: Conn, workflow_id: str, run_id: str) -> bool:
    """Delete the run (its results go with it) and its event log; whether it was stored."""
    query = (
        f"WITH gone AS (DELETE FROM {RUNS} WHERE {KEY} RETURNING 1),"
        f" log AS (DELETE FROM {EVENTS} WHERE {KEY}) SELECT count(*) FROM gone"
    )
    rows = await fetch(conn, query, {"workflow_id": workflow_id, "run_id": run_id})
    return bool(rows and rows[0][0])


async def delete_runs(
    conn: Conn,
    workflow_id: str | None,
    statuses: Collection[str],
    age_ms: int | None,
    moment_ms: int | None,
    now: int | None,
) -> int:
    """Delete the matching runs, their results and event logs; how many runs."""
    if not statuses:
        return 0
    conditions = ["status = ANY(%(statuses)s::text[])"]
    params: dict[str, Any] = {"statuses": list(statuses), "now": now}
    if workflow_id is not None:
        conditions.append("workflow_id = %(workflow_id)s")
        params["workflow_id"] = workflow_id
    if moment_ms is not None:
        conditions.append("updated_at < %(moment)s")
        params["moment"] = moment_ms
    elif age_ms is not None:
        conditions.append(f"updated_at < {NOW} - %(age)s")
        params["age"] = age_ms
    query = (
        f"WITH deleted AS (DELETE FROM {RUNS} WHERE {' AND '.join(conditions)}"
        " RETURNING workflow_id, run_id),"
        f" log AS (DELETE FROM {EVENTS} e USING deleted d"
        " WHERE e.workflow_id = d.workflow_id AND e.run_id = d.run_id)"
        " SELECT count(*) FROM deleted"
    )
    rows = await fetch(conn, query, params)
    if not rows:
        raise StorageError("delete_runs: the server returned no count")
    return int(rows[0][0])
