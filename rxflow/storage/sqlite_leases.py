"""``SQLiteStorage``'s owner side: claims, leases, checkpoints, result records, cancel requests.

Plain functions on an open connection, each called inside one ``BEGIN IMMEDIATE`` transaction,
so every check-then-write below is atomic across threads and processes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from .lease import lease_is_free, lease_lost, this_host
from .records import FINISHED_STATUSES, SNAPSHOT_KEYS, CancelOutcome, Lease, ResultRecord
from .sqlite_rows import KEY, control_state, decode, decode_object, encode, run_row
from .sqlite_schema import RESULTS, RUNS

__all__ = [
    "cancel_requested",
    "checkpoint",
    "claim",
    "load_results",
    "release",
    "renew",
    "request_cancel",
]

_CLEAR_LEASE = "lease_owner = NULL, lease_expires_at = 0, lease_host = NULL, lease_pid = NULL"
# One new record per key: the key's next attempt, 0 for its first (MAX over no rows is NULL).
_ADD_RESULT = (
    f"INSERT INTO {RESULTS} (workflow_id, run_id, key, attempt, result, written_at)"
    f" SELECT ?, ?, ?, COALESCE(MAX(attempt) + 1, 0), ?, ? FROM {RESULTS} WHERE {KEY} AND key = ?"
)


# Each run's patch as its last checkpoint wrote it (text, parsed): the next checkpoint lays its
# state over it without parsing the stored text again when that text is the same. Any
# connection may use it (the text decides); bounded: cleared when full.
_LAST_PATCH: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
_LAST_PATCH_MAX = 512


def patched(workflow_id: str, run_id: str, patch: Any, changes: Mapping[str, Any]) -> str:
    """The run's ``patch`` column with ``changes`` laid over it, as JSON text."""
    current = {} if patch is None else decode_object(workflow_id, run_id, "snapshot patch", patch)
    current.update(changes)
    return encode(workflow_id, run_id, "snapshot", current)


def _checkpoint_patch(workflow_id: str, run_id: str, patch: Any, changes: Mapping[str, Any]) -> str:
    """:func:`patched` for a checkpoint, usually over the patch the last one wrote."""
    run = (workflow_id, run_id)
    last = _LAST_PATCH.get(run)
    if last is not None and patch is not None and last[0] == patch:
        current = dict(last[1])
    else:
        current = (
            {} if patch is None else decode_object(workflow_id, run_id, "snapshot patch", patch)
        )
    current.update(changes)
    text = encode(workflow_id, run_id, "snapshot", current)
    if len(_LAST_PATCH) >= _LAST_PATCH_MAX:
        _LAST_PATCH.clear()
    _LAST_PATCH[run] = (text, current)
    return text


def claim(
    conn: sqlite3.Connection,
    workflow_id: str,
    run_id: str,
    status: str,
    allowed: Collection[str],
    owner: str,
    now: int,
    ttl_ms: int,
) -> Lease | None:
    """Compare-and-set the status and take the lease when it is free; ``None`` otherwise."""
    row = run_row(conn, workflow_id, run_id)
    if row is None or row[3] not in allowed:
        return None
    lease_owner, version, expires_at, host, pid, cancel = row[9:15]
    if not lease_is_free(lease_owner, expires_at, host, pid, now):
        return None
    control_state(workflow_id, run_id, row[4], row[5])  # a run that cannot be read is not taken
    lease = Lease(
        workflow_id,
        run_id,
        owner,
        version + 1,
        now + ttl_ms,
        this_host(),
        os.getpid(),
        bool(cancel),
    )
    conn.execute(
        f"UPDATE {RUNS} SET status = ?, patch = ?, updated_at = ?, lease_owner = ?,"
        f" lease_version = ?, lease_expires_at = ?, lease_host = ?, lease_pid = ? WHERE {KEY}",
        (
            status,
            patched(workflow_id, run_id, row[5], {"status": status}),
            now,
            lease.owner,
            lease.version,
            lease.expires_at,
            lease.host,
            lease.pid,
            workflow_id,
            run_id,
        ),
    )
    return lease


def _held(conn: sqlite3.Connection, lease: Lease) -> tuple[Any, bool]:
    """The run's ``patch`` and cancel flag, after checking ``lease`` is still the run's."""
    sql = f"SELECT lease_owner, lease_version, cancel_requested, patch FROM {RUNS} WHERE {KEY}"
    row = conn.execute(sql, (lease.workflow_id, lease.run_id)).fetchone()
    if row is None:
        raise lease_lost(lease, None, None)
    owner, version, cancel, patch = row
    if owner != lease.owner or version != lease.version:
        raise lease_lost(lease, owner, version)
    return patch, bool(cancel)


def renew(conn: sqlite3.Connection, lease: Lease, now: int, ttl_ms: int) -> Lease:
    """Extend the lease from ``now``; ``LeaseLostError`` when it is no longer the run's."""
    _, cancel = _held(conn, lease)
    sql = f"UPDATE {RUNS} SET lease_expires_at = ? WHERE {KEY}"
    conn.execute(sql, (now + ttl_ms, lease.workflow_id, lease.run_id))
    return attrs.evolve(lease, expires_at=now + ttl_ms, cancel_requested=cancel)


def release(conn: sqlite3.Connection, lease: Lease) -> bool:
    """Clear the lease if it is still ``lease``; whether it was."""
    sql = f"UPDATE {RUNS} SET {_CLEAR_LEASE} WHERE {KEY} AND lease_owner = ? AND lease_version = ?"
    params = (lease.workflow_id, lease.run_id, lease.owner, lease.version)
    return conn.execute(sql, params).rowcount > 0


def checkpoint(
    conn: sqlite3.Connection,
    lease: Lease,
    state: Mapping[str, Any] | None,
    results: Mapping[str, Any] | None,
    release: bool,
    now: int,
    ttl_ms: int,
) -> Lease:
    """The owner's write: the state patch, one record per result, the lease renewed or given
    up. Only the patch (small) and the new records are written."""
    workflow_id, run_id = lease.workflow_id, lease.run_id
    rows = [
        (
            workflow_id,
            run_id,
            key,
            encode(workflow_id, run_id, f"result {key!r}", result),
            now,
            workflow_id,
            run_id,
            key,
        )
        for key, result in (results or {}).items()
    ]
    patch, cancel = _held(conn, lease)
    sets: list[str] = ["updated_at = ?"]
    params: list[Any] = [now]
    if state and SNAPSHOT_KEYS.intersection(state):
        # The run's id and graph (a segment's first checkpoint): laid over the snapshot
        # column once, so that the patch every later checkpoint rewrites stays small.
        sql = f"SELECT snapshot FROM {RUNS} WHERE {KEY}"
        (snapshot,) = conn.execute(sql, (workflow_id, run_id)).fetchone()
        control = control_state(workflow_id, run_id, snapshot, patch)
        control.update(state)
        sets.append("snapshot = ?, patch = NULL")
        params.append(encode(workflow_id, run_id, "snapshot", control))
        if "status" in state:
            sets.append("status = ?")
            params.append(state["status"])
    elif state:
        sets.append("patch = ?")
        params.append(_checkpoint_patch(workflow_id, run_id, patch, state))
        if "status" in state:
            sets.append("status = ?")
            params.append(state["status"])
    expires_at = 0 if release else now + ttl_ms
    if release:
        sets.append(_CLEAR_LEASE)
    else:
        sets.append("lease_expires_at = ?")
        params.append(expires_at)
    conn.execute(f"UPDATE {RUNS} SET {', '.join(sets)} WHERE {KEY}", (*params, workflow_id, run_id))
    if rows:
        conn.executemany(_ADD_RESULT, rows)
    return _renewed(lease, expires_at, cancel)


def _renewed(lease: Lease, expires_at: int, cancel: bool) -> Lease:
    """``lease`` with a new expiry and cancel flag (``attrs.evolve`` costs more, per write)."""
    return Lease(
        lease.workflow_id,
        lease.run_id,
        lease.owner,
        lease.version,
        expires_at,
        lease.host,
        lease.pid,
        cancel,
    )


def load_results(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> list[ResultRecord]:
    """Every record of the run, in the order written."""
    sql = f"SELECT key, attempt, seq, result, written_at FROM {RESULTS} WHERE {KEY} ORDER BY seq"
    return [
        ResultRecord(key, attempt, seq, decode(workflow_id, run_id, f"result {key!r}", text), at)
        for key, attempt, seq, text, at in conn.execute(sql, (workflow_id, run_id))
    ]


def request_cancel(
    conn: sqlite3.Connection, workflow_id: str, run_id: str, now: int
) -> CancelOutcome | None:
    """Flag the run for its live owner, or store ``canceled`` when nobody owns it."""
    row = run_row(conn, workflow_id, run_id)
    if row is None:
        return None
    if row[3] in FINISHED_STATUSES:
        return "finished"
    lease_owner, _, expires_at, host, pid, _ = row[9:15]
    if not lease_is_free(lease_owner, expires_at, host, pid, now):
        conn.execute(f"UPDATE {RUNS} SET cancel_requested = 1 WHERE {KEY}", (workflow_id, run_id))
        return "requested"
    # Bumping the fencing version refuses any later write of a former owner that comes back.
    conn.execute(
        f"UPDATE {RUNS} SET status = 'canceled', patch = ?, updated_at = ?, cancel_requested = 1,"
        f" lease_version = lease_version + 1, {_CLEAR_LEASE} WHERE {KEY}",
        (patched(workflow_id, run_id, row[5], {"status": "canceled"}), now, workflow_id, run_id),
    )
    return "canceled"


def cancel_requested(conn: sqlite3.Connection, workflow_id: str, run_id: str) -> bool:
    """Whether a cancel was requested for the run (``False`` when it is unknown)."""
    sql = f"SELECT cancel_requested FROM {RUNS} WHERE {KEY}"
    row = conn.execute(sql, (workflow_id, run_id)).fetchone()
    return row is not None and bool(row[0])
