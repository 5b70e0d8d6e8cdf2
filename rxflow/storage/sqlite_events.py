"""The SQL of ``SQLiteStorage``'s event log: one row per record, keyed by run and number.

The table is created on first use, so files written before it existed need no upgrade.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import StorageError
from .event_log import LoggedEvent

__all__ = ["EVENTS", "append", "forget", "read"]

EVENTS = "rxflow_event"

_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {EVENTS} ("
    " workflow_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " PRIMARY KEY (workflow_id, run_id, seq)) WITHOUT ROWID"
)


def _missing_table(error: sqlite3.OperationalError) -> bool:
    return "no such table" in str(error)


def append(
    conn: sqlite3.Connection,
    workflow_id: str,
    run_id: str,
    first_seq: int,
    events: list[dict[str, Any]],
) -> None:
    """Insert the records (inside the caller's write transaction); a gap or overlap raises."""
    texts = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events]
    try:
        row = conn.execute(
            f"SELECT MAX(seq) FROM {EVENTS} WHERE workflow_id = ? AND run_id = ?",
            (workflow_id, run_id),
        ).fetchone()
    except sqlite3.OperationalError as error:
        if not _missing_table(error):
            raise
        conn.execute(_CREATE)
        row = (None,)
    expected = 0 if row[0] is None else row[0] + 1
    if first_seq != expected:
        raise StorageError(
            f"append_events of run '{run_id}' of workflow '{workflow_id}': record "
            f"{first_seq} is not the next one ({expected})"
        )
    conn.executemany(
        f"INSERT INTO {EVENTS} (workflow_id, run_id, seq, event) VALUES (?, ?, ?, ?)",
        [(workflow_id, run_id, first_seq + i, text) for i, text in enumerate(texts)],
    )


def read(
    conn: sqlite3.Connection, workflow_id: str, run_id: str, after_seq: int, limit: int
) -> list[LoggedEvent]:
    """Up to ``limit`` records numbered above ``after_seq``, in order."""
    try:
        rows = conn.execute(
            f"SELECT seq, event FROM {EVENTS} WHERE workflow_id = ? AND run_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (workflow_id, run_id, after_seq, limit),
        ).fetchall()
    except sqlite3.OperationalError as error:
        if _missing_table(error):
            return []
        raise
    return [LoggedEvent(seq, json.loads(text)) for seq, text in rows]


def forget(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> None:
    """Delete the run's records (inside the caller's write transaction)."""
    try:
        conn.execute(
            f"DELETE FROM {EVENTS} WHERE workflow_id = ? AND run_id = ?", (workflow_id, run_id)
        )
    except sqlite3.OperationalError as error:
        if not _missing_table(error):
            raise
