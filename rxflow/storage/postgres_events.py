"""The SQL of ``PostgresStorage``'s event log: one row per record, keyed by run and number.

Each append notifies the store's channel, so a follower waiting for a run's next records
(``PostgresStorage.wait_events``) wakes without polling.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection

from ..errors import StorageError
from .event_log import LoggedEvent
from .postgres_listen import payload
from .postgres_rows import KEY, encode, fetch
from .postgres_schema import EVENTS

__all__ = ["append", "read"]

Conn = AsyncConnection[Any]

_NEXT = f"SELECT COALESCE(MAX(seq) + 1, 0) AS next_seq FROM {EVENTS} WHERE {KEY}"
# The records go in only when first_seq is the run's next number; the number it is comes back
# either way. Two appenders racing for the same numbers: the primary key refuses the second.
_APPEND = (
    f"WITH next AS ({_NEXT}),"
    f" added AS (INSERT INTO {EVENTS} (workflow_id, run_id, seq, event)"
    " SELECT %(workflow_id)s, %(run_id)s, %(first)s + item.n - 1, item.event::jsonb"
    " FROM next, unnest(%(events)s::text[]) WITH ORDINALITY AS item(event, n)"
    " WHERE next.next_seq = %(first)s RETURNING 1)"
    " SELECT next.next_seq, CASE WHEN EXISTS (SELECT 1 FROM added)"
    " THEN (SELECT 1 FROM pg_notify(%(channel)s, %(payload)s)) END FROM next"
)
_READ = (
    f"SELECT seq, event FROM {EVENTS} WHERE {KEY} AND seq > %(after)s ORDER BY seq LIMIT %(limit)s"
)


def _not_next(workflow_id: str, run_id: str, first_seq: int, expected: int) -> StorageError:
    return StorageError(
        f"append_events of run '{run_id}' of workflow '{workflow_id}': record "
        f"{first_seq} is not the next one ({expected})"
    )


async def append(
    conn: Conn,
    workflow_id: str,
    run_id: str,
    first_seq: int,
    events: list[dict[str, Any]],
    channel: str,
) -> None:
    """Insert the records as ``first_seq``, ``first_seq + 1``...; a gap or overlap raises."""
    key = {"workflow_id": workflow_id, "run_id": run_id}
    params = {
        **key,
        "first": first_seq,
        "events": [encode(workflow_id, run_id, "event", event) for event in events],
        "channel": channel,
        "payload": payload(("events", workflow_id, run_id)),
    }
    try:
        ((expected, _),) = await fetch(conn, _APPEND, params)
    except psycopg.errors.UniqueViolation:  # another writer took these numbers meanwhile
        if not conn.autocommit:
            await conn.rollback()
        ((expected,),) = await fetch(conn, _NEXT, key)
        raise _not_next(workflow_id, run_id, first_seq, expected) from None
    if expected != first_seq:
        raise _not_next(workflow_id, run_id, first_seq, expected)


async def read(
    conn: Conn, workflow_id: str, run_id: str, after_seq: int, limit: int
) -> list[LoggedEvent]:
    """Up to ``limit`` records numbered above ``after_seq``, in order."""
    params = {"workflow_id": workflow_id, "run_id": run_id, "after": after_seq, "limit": limit}
    return [LoggedEvent(seq, event) for seq, event in await fetch(conn, _READ, params)]
