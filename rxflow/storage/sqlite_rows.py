"""Rows of ``SQLiteStorage`` to records and back: JSON text, control state, assembled snapshots.

Plain functions on an open connection (called inside a transaction); no transaction handling.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..errors import StorageError
from .protocol import RunRecord
from .records import Lease, fold_results
from .sqlite_schema import RESULTS, RUNS

__all__ = [
    "KEY",
    "RUN_COLUMNS",
    "assembled",
    "control_state",
    "decode",
    "decode_object",
    "encode",
    "lease_of",
    "listed_record",
    "record_of",
    "run_row",
]

KEY = "workflow_id = ? AND run_id = ?"
# The order record_of reads them in.
RUN_COLUMNS = (
    "workflow_id, run_id, resource_id, status, snapshot, patch, results_base, created_at,"
    " updated_at, lease_owner, lease_version, lease_expires_at, lease_host, lease_pid,"
    " cancel_requested"
)


def _where(workflow_id: str, run_id: str) -> str:
    return f"run {run_id!r} of workflow {workflow_id!r}"


# One encoder for every write (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode(workflow_id: str, run_id: str, what: str, value: Any) -> str:
    """``value`` as compact JSON text; ``StorageError`` when it is not JSON data."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as error:
        raise StorageError(
            f"{what} of {_where(workflow_id, run_id)} is not JSON data: {error}"
        ) from error


def decode(workflow_id: str, run_id: str, what: str, text: Any) -> Any:
    """Parse stored JSON text; ``StorageError`` saying which run and what cannot be read."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as error:
        raise StorageError(
            f"stored {what} of {_where(workflow_id, run_id)} cannot be read: {error}"
        ) from error


def decode_object(workflow_id: str, run_id: str, what: str, text: Any) -> dict[str, Any]:
    """Parse stored JSON text that must be an object."""
    value = decode(workflow_id, run_id, what, text)
    if not isinstance(value, dict):
        raise StorageError(
            f"stored {what} of {_where(workflow_id, run_id)} cannot be read:"
            f" it is a JSON {type(value).__name__}, not an object"
        )
    return value


def control_state(workflow_id: str, run_id: str, snapshot: Any, patch: Any) -> dict[str, Any]:
    """The run's control state: its persisted snapshot with the checkpoints' patch over it."""
    control = decode_object(workflow_id, run_id, "snapshot", snapshot)
    if patch is not None:
        control.update(decode_object(workflow_id, run_id, "snapshot patch", patch))
    return control


def assembled(
    conn: sqlite3.Connection, workflow_id: str, run_id: str, control: dict[str, Any], base: int
) -> dict[str, Any]:
    """``control`` with the latest result of each key written after ``base`` in its context."""
    sql = f"SELECT key, result FROM {RESULTS} WHERE {KEY} AND seq > ? ORDER BY seq"
    rows = conn.execute(sql, (workflow_id, run_id, base)).fetchall()
    if not rows:
        return control
    context = control.get("context", {})
    if not isinstance(context, dict):
        raise StorageError(
            f"stored snapshot of {_where(workflow_id, run_id)} cannot be read:"
            f" its context is a JSON {type(context).__name__}, not an object"
        )
    control["context"] = dict(context)
    fold_results(
        control, ((key, decode(workflow_id, run_id, f"result {key!r}", text)) for key, text in rows)
    )
    return control


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


def record_of(conn: sqlite3.Connection, row: Sequence[Any]) -> RunRecord:
    """The record of a row read with ``RUN_COLUMNS``; ``StorageError`` if it cannot be read."""
    workflow_id, run_id, resource_id, status, snapshot, patch, base, created, updated = row[:9]
    control = control_state(workflow_id, run_id, snapshot, patch)
    return RunRecord(
        workflow_id=workflow_id,
        run_id=run_id,
        resource_id=resource_id,
        status=status,
        snapshot=assembled(conn, workflow_id, run_id, control, base),
        created_at=created,
        updated_at=updated,
        lease=lease_of(workflow_id, run_id, row[9:15]),
    )


def listed_record(conn: sqlite3.Connection, row: Sequence[Any]) -> RunRecord:
    """:func:`record_of` for ``list_runs``: a row that cannot be read is reported, not raised."""
    try:
        return record_of(conn, row)
    except StorageError as error:
        workflow_id, run_id, resource_id, status = row[:4]
        return RunRecord(
            workflow_id=workflow_id,
            run_id=run_id,
            resource_id=resource_id,
            status=status,
            snapshot=None,
            created_at=row[7],
            updated_at=row[8],
            lease=lease_of(workflow_id, run_id, row[9:15]),
            error=str(error),
        )


def run_row(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> Sequence[Any] | None:
    """The run's row (``RUN_COLUMNS``), or ``None``."""
    row: Sequence[Any] | None = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM {RUNS} WHERE {KEY}", (workflow_id, run_id)
    ).fetchone()
    return row
