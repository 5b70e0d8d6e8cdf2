"""Rows of ``PostgresStorage`` to records and back: JSON text in, control state and assembled
snapshots out. Plain functions and SQL fragments; no connection handling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, pq
from psycopg.rows import tuple_row

from ..errors import StorageError
from .postgres_schema import RESULTS
from .protocol import RunRecord
from .records import Lease, fold_results

__all__ = [
    "KEY",
    "LATEST",
    "NOW",
    "RUN_COLUMNS",
    "RUN_COLUMN_NAMES",
    "encode",
    "fetch",
    "lease_of",
    "listed_record",
    "readable",
    "record_of",
    "snapshot_of",
    "unreadable",
]

KEY = "workflow_id = %(workflow_id)s AND run_id = %(run_id)s"

NOW = "COALESCE(%(now)s::bigint, floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint)"
"""The store's clock in SQL: the ``now`` parameter when a clock was given, else the server's."""

# The order record_of reads them in; LATEST is each key's latest result written since the run's
# snapshot was last persisted, as [key, result] pairs in the order written.
RUN_COLUMN_NAMES = (
    "workflow_id",
    "run_id",
    "resource_id",
    "status",
    "snapshot",
    "patch",
    "created_at",
    "updated_at",
    "lease_owner",
    "lease_version",
    "lease_expires_at",
    "lease_host",
    "lease_pid",
    "cancel_requested",
)
RUN_COLUMNS = ", ".join(RUN_COLUMN_NAMES)
LATEST = (
    "(SELECT jsonb_agg(jsonb_build_array(latest.key, latest.result) ORDER BY latest.seq)"
    " FROM (SELECT DISTINCT ON (key) key, result, seq"
    f" FROM {RESULTS} s WHERE s.workflow_id = {{0}}.workflow_id AND s.run_id = {{0}}.run_id"
    " AND s.seq > {0}.results_base ORDER BY key, seq DESC) latest)"
)
"""SQL (format it with the runs table's alias): each key's latest result since the snapshot."""

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _where(workflow_id: str, run_id: str) -> str:
    return f"run {run_id!r} of workflow {workflow_id!r}"


def encode(workflow_id: str, run_id: str, what: str, value: Any) -> str:
    """``value`` as compact JSON text for a ``jsonb`` column; ``StorageError`` when it is not
    JSON data (NaN and the infinities included: PostgreSQL's JSON has no such numbers)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise StorageError(
            f"{what} of {_where(workflow_id, run_id)} is not JSON data: {error}"
        ) from error


def unreadable(workflow_id: str, run_id: str, what: str, value: Any) -> StorageError:
    """The error for a stored value that should be a JSON object and is not."""
    kind = _JSON_TYPES.get(type(value), "number")
    return StorageError(
        f"stored {what} of {_where(workflow_id, run_id)} cannot be read:"
        f" it is a JSON {kind}, not an object"
    )


def readable(what: str = "snapshot", patch: str = "patch") -> str:
    """SQL: the run's stored snapshot and patch are JSON objects (so it can be read)."""
    return (
        f"jsonb_typeof({what}) = 'object' AND ({patch} IS NULL OR jsonb_typeof({patch}) = 'object')"
    )


def _control(row: Sequence[Any], latest: Any) -> dict[str, Any]:
    workflow_id, run_id, snapshot, patch = row[0], row[1], row[4], row[5]
    if not isinstance(snapshot, dict):
        raise unreadable(workflow_id, run_id, "snapshot", snapshot)
    if patch is not None:
        if not isinstance(patch, dict):
            raise unreadable(workflow_id, run_id, "snapshot patch", patch)
        snapshot.update(patch)
    if latest:
        context = snapshot.get("context", {})
        if not isinstance(context, dict):
            raise StorageError(
                f"stored snapshot of {_where(workflow_id, run_id)} cannot be read:"
                f" its context is a JSON {_JSON_TYPES.get(type(context), 'number')}, not an object"
            )
        snapshot["context"] = dict(context)
        fold_results(snapshot, latest)
    return snapshot


def lease_of(workflow_id: str, run_id: str, lease_row: Sequence[Any]) -> Lease | None:
    """The lease held on a run, from its ``owner, version, expires_at, host, pid, cancel``."""
    owner, version, expires_at, host, pid, cancel = lease_row
    if owner is None:
        return None
    return Lease(
        workflow_id=workflow_id,
        run_id=run_id,
        owner=owner,
        version=version,
        expires_at=expires_at,
        host=host or "",
        pid=pid or 0,
        cancel_requested=bool(cancel),
    )


def record_of(row: Sequence[Any]) -> RunRecord:
    """The record of a row read as ``RUN_COLUMNS, LATEST``; ``StorageError`` if unreadable."""
    return RunRecord(
        workflow_id=row[0],
        run_id=row[1],
        resource_id=row[2],
        status=row[3],
        snapshot=_control(row, row[14]),
        created_at=row[6],
        updated_at=row[7],
        lease=lease_of(row[0], row[1], row[8:14]),
    )


def snapshot_of(row: Sequence[Any]) -> dict[str, Any]:
    """The assembled snapshot of a row read as ``RUN_COLUMNS, LATEST``."""
    return _control(row, row[14])


def listed_record(row: Sequence[Any]) -> RunRecord:
    """:func:`record_of` for ``list_runs``: a row that cannot be read is reported, not raised."""
    try:
        return record_of(row)
    except StorageError as error:
        return RunRecord(
            workflow_id=row[0],
            run_id=row[1],
            resource_id=row[2],
            status=row[3],
            snapshot=None,
            created_at=row[6],
            updated_at=row[7],
            lease=lease_of(row[0], row[1], row[8:14]),
            error=str(error),
        )


async def fetch(
    conn: AsyncConnection[Any], query: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows as tuples (whatever the connection's row factory)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        # The result's status, not cur.description (which builds a description per column).
        result = cur.pgresult
        if result is None or result.status != pq.ExecStatus.TUPLES_OK:
            return []
        return await cur.fetchall()
