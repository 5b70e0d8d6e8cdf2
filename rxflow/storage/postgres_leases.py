"""``PostgresStorage``'s owner side: claims, leases, checkpoints, result records, cancel requests.

Each write is one ``UPDATE … WHERE … RETURNING`` statement whose ``WHERE`` holds the condition
(the expected status, a free lease, the fencing version), so it is atomic across processes.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from psycopg import AsyncConnection

from .lease import holder_is_gone, lease_lost, this_host
from .postgres_listen import payload
from .postgres_rows import KEY, NOW, encode, fetch, readable
from .postgres_runs import refuse_unreadable
from .postgres_schema import RESULTS, RUNS
from .records import FINISHED_STATUSES, CancelOutcome, Lease, ResultRecord

__all__ = [
    "cancel_requested",
    "checkpoint",
    "claim",
    "claimed_by",
    "load_results",
    "release",
    "renew",
    "request_cancel",
]

Conn = AsyncConnection[Any]

_CLEAR_LEASE = "lease_owner = NULL, lease_expires_at = 0, lease_host = NULL, lease_pid = NULL"
_STATUS_PATCH = "COALESCE(patch, '{}'::jsonb) || jsonb_build_object('status', %(status)s::text)"
# Free: nobody holds the lease, it expired, or it is the lease of a process of this host that
# is gone (named by the caller, who checked the process, as owner and fencing version).
_FREE = (
    f"(lease_owner IS NULL OR lease_expires_at <= {NOW}"
    " OR COALESCE(lease_owner = %(gone_owner)s AND lease_version = %(gone_version)s, false))"
)
# The run as it was (cur), and the write (done); the SELECT returns one row either way.
_CURRENT = (
    "cur AS (SELECT status, lease_owner, lease_version, lease_expires_at, lease_host, lease_pid,"
    f" {readable()} AS readable, (lease_owner IS NULL OR lease_expires_at <= {NOW}) AS free"
    f" FROM {RUNS} WHERE {KEY})"
)
_CLAIM = (
    f"WITH {_CURRENT}, done AS (UPDATE {RUNS} SET status = %(status)s, patch = {_STATUS_PATCH},"
    f" updated_at = {NOW}, lease_owner = %(owner)s, lease_version = lease_version + 1,"
    f" lease_expires_at = {NOW} + %(ttl)s, lease_host = %(host)s, lease_pid = %(pid)s"
    f" WHERE {KEY} AND status = ANY(%(allowed)s::text[]) AND {_FREE} AND {readable()}"
    " RETURNING lease_version, lease_expires_at, cancel_requested)"
    " SELECT cur.*, done.* FROM (SELECT 1) one LEFT JOIN cur ON true LEFT JOIN done ON true"
)
_HELD = "lease_owner = %(owner)s AND lease_version = %(version)s"
_RENEW = (
    f"WITH {_CURRENT}, done AS (UPDATE {RUNS} SET lease_expires_at = {NOW} + %(ttl)s"
    f" WHERE {KEY} AND {_HELD} RETURNING lease_expires_at, cancel_requested)"
    " SELECT cur.lease_owner, cur.lease_version, done.*"
    " FROM (SELECT 1) one LEFT JOIN cur ON true LEFT JOIN done ON true"
)
_RELEASE = f"UPDATE {RUNS} SET {_CLEAR_LEASE} WHERE {KEY} AND {_HELD} RETURNING 1"


def _checkpoint_statement(state: bool, results: bool, release: bool) -> str:
    """One statement: the fencing check and the control-state patch on the run's row, then one
    new result row per key, in the order given (their seq follows it); nothing is written when
    the lease is not the run's. A text per shape of checkpoint, so each says only what it does
    (the server plans each once per connection)."""
    sets = [f"updated_at = {NOW}"]
    if state:
        sets += [
            "patch = COALESCE(patch, '{}'::jsonb) || %(state)s::jsonb",
            "status = COALESCE(%(status)s, status)",
        ]
    if release:
        sets.append(_CLEAR_LEASE)
    else:
        sets.append(f"lease_expires_at = {NOW} + %(ttl)s")
    statement = (
        f"WITH done AS (UPDATE {RUNS} SET {', '.join(sets)} WHERE {KEY} AND {_HELD}"
        " RETURNING updated_at, lease_expires_at, cancel_requested)"
    )
    if results:
        statement += (
            f", added AS (INSERT INTO {RESULTS} (workflow_id, run_id, key, result, written_at)"
            " SELECT %(workflow_id)s, %(run_id)s, item.pair ->> 0, item.pair -> 1, done.updated_at"
            " FROM done, jsonb_array_elements(%(results)s::jsonb) WITH ORDINALITY"
            " AS item(pair, n) ORDER BY item.n)"
        )
    return statement + " SELECT lease_expires_at, cancel_requested FROM done"


_CHECKPOINTS = {
    (state, results, release): _checkpoint_statement(state, results, release)
    for state in (False, True)
    for results in (False, True)
    for release in (False, True)
}
# The run's lease as it is, to say why a checkpoint wrote nothing.
_LEASE_NOW = f"SELECT lease_owner, lease_version FROM {RUNS} WHERE {KEY}"

_RESULTS = (
    "SELECT key, (row_number() OVER (PARTITION BY key ORDER BY seq) - 1)::integer, seq, result,"
    f" written_at FROM {RESULTS} WHERE {KEY} ORDER BY seq"
)
_FINISHED = "ARRAY[" + ", ".join(f"'{status}'" for status in sorted(FINISHED_STATUSES)) + "]"
# A live owner is asked (flagged); a run nobody owns is cancelled here, and its fencing version
# bumped so a former owner that comes back is refused. Either way the channel is notified (the
# notification leaves when the statement commits).
_CANCEL = (
    f"WITH {_CURRENT},"
    f" flagged AS (UPDATE {RUNS} SET cancel_requested = true WHERE {KEY}"
    f" AND status <> ALL({_FINISHED}) AND NOT {_FREE} RETURNING 1),"
    f" canceled AS (UPDATE {RUNS} SET status = 'canceled',"
    " patch = COALESCE(patch, '{}'::jsonb) || '{\"status\": \"canceled\"}'::jsonb,"
    f" updated_at = {NOW}, cancel_requested = true, lease_version = lease_version + 1,"
    f" {_CLEAR_LEASE} WHERE {KEY} AND status <> ALL({_FINISHED}) AND {_FREE} AND {readable()}"
    " RETURNING 1)"
    " SELECT cur.*, EXISTS (SELECT 1 FROM flagged), EXISTS (SELECT 1 FROM canceled),"
    " CASE WHEN EXISTS (SELECT 1 FROM flagged) OR EXISTS (SELECT 1 FROM canceled)"
    " THEN (SELECT 1 FROM pg_notify(%(channel)s, %(payload)s)) END"
    " FROM (SELECT 1) one LEFT JOIN cur ON true"
)


def _key(workflow_id: str, run_id: str, now: int | None) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "run_id": run_id, "now": now}


def _gone(row: tuple[Any, ...]) -> tuple[str | None, int | None]:
    """The owner and version of a lease, from a ``cur`` row, if its process is known gone."""
    owner, version, host, pid = row[1], row[2], row[4], row[5]
    if owner is not None and holder_is_gone(host, pid):
        return owner, version
    return None, None


async def claim(
    conn: Conn,
    workflow_id: str,
    run_id: str,
    status: str,
    allowed: Collection[str],
    owner: str,
    now: int | None,
    ttl_ms: int,
) -> Lease | None:
    """Compare-and-set the status and take the lease when it is free; ``None`` otherwise."""
    params = {
        **_key(workflow_id, run_id, now),
        "status": status,
        "allowed": list(allowed),
        "owner": owner,
        "ttl": ttl_ms,
        "host": this_host(),
        "pid": os.getpid(),
        "gone_owner": None,
        "gone_version": None,
    }
    for _ in range(2):  # a second try only to take over from a process known to be gone
        (row,) = await fetch(conn, _CLAIM, params)
        if row[0] is None:
            return None
        if row[8] is not None:
            version, expires_at, cancel = row[8:11]
            return Lease(
                workflow_id, run_id, owner, version, expires_at, this_host(), os.getpid(), cancel
            )
        if row[0] not in allowed:
            return None
        if row[7] and not row[6]:  # free, so refused for being unreadable
            await refuse_unreadable(conn, workflow_id, run_id)
        gone_owner, gone_version = _gone(row)
        if gone_owner is None or params["gone_owner"] is not None:
            return None
        params.update(gone_owner=gone_owner, gone_version=gone_version)
    return None


async def claimed_by(
    conn: Conn, workflow_id: str, run_id: str, status: str, owner: str, now: int | None
) -> Lease | None:
    """The lease ``owner`` holds on the run after a claim, if that claim took effect.

    Used when the connection failed during a claim: the run holds a live lease of this owner,
    taken by this process, with the status the claim set, only if the claim happened.
    """
    rows = await fetch(
        conn,
        f"SELECT lease_version, lease_expires_at, cancel_requested FROM {RUNS} WHERE {KEY}"
        " AND status = %(status)s AND lease_owner = %(owner)s AND lease_host = %(host)s"
        f" AND lease_pid = %(pid)s AND lease_expires_at > {NOW}",
        {
            **_key(workflow_id, run_id, now),
            "status": status,
            "owner": owner,
            "host": this_host(),
            "pid": os.getpid(),
        },
    )
    if not rows:
        return None
    version, expires_at, cancel = rows[0]
    return Lease(workflow_id, run_id, owner, version, expires_at, this_host(), os.getpid(), cancel)


def _lease_params(lease: Lease, now: int | None) -> dict[str, Any]:
    return {
        **_key(lease.workflow_id, lease.run_id, now),
        "owner": lease.owner,
        "version": lease.version,
    }


async def renew(conn: Conn, lease: Lease, now: int | None, ttl_ms: int) -> Lease:
    """Extend the lease from now; ``LeaseLostError`` when it is no longer the run's."""
    (row,) = await fetch(conn, _RENEW, {**_lease_params(lease, now), "ttl": ttl_ms})
    owner, version, expires_at, cancel = row
    if expires_at is None:
        raise lease_lost(lease, owner, version)
    return attrs.evolve(lease, expires_at=expires_at, cancel_requested=cancel)


async def release(conn: Conn, lease: Lease) -> bool:
    """Clear the lease if it is still ``lease``; whether it was."""
    return bool(await fetch(conn, _RELEASE, _lease_params(lease, None)))


async def checkpoint(
    conn: Conn,
    lease: Lease,
    state: Mapping[str, Any] | None,
    results: Mapping[str, Any] | None,
    release: bool,
    now: int | None,
    ttl_ms: int,
) -> Lease:
    """The owner's write: the state patch, one record per result, the lease renewed or given up.
    Only the patch (small) and the new records are written."""
    workflow_id, run_id = lease.workflow_id, lease.run_id
    params: dict[str, Any] = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "now": now,
        "owner": lease.owner,
        "version": lease.version,
        "ttl": ttl_ms,
    }
    if state:
        params["state"] = encode(workflow_id, run_id, "snapshot", dict(state))
        params["status"] = state.get("status")
    if results:
        # One JSON array of [key, result] pairs: a text[] parameter would have every quote of
        # every result escaped, character by character, on the way.
        params["results"] = (
            "["
            + ",".join(
                f"[{encode(workflow_id, run_id, 'key', key)},"
                f"{encode(workflow_id, run_id, f'result {key!r}', value)}]"
                for key, value in results.items()
            )
            + "]"
        )
    rows = await fetch(conn, _CHECKPOINTS[bool(state), bool(results), release], params)
    if not rows:
        # Nothing was written: the lease is not the run's. A read, to say whose it is now.
        now_held = await fetch(conn, _LEASE_NOW, _key(workflow_id, run_id, None))
        owner, version = now_held[0] if now_held else (None, None)
        raise lease_lost(lease, owner, version)
    expires_at, cancel = rows[0]
    if expires_at == lease.expires_at and cancel == lease.cancel_requested:
        return lease
    return Lease(
        workflow_id, run_id, lease.owner, lease.version, expires_at, lease.host, lease.pid, cancel
    )


async def load_results(conn: Conn, workflow_id: str, run_id: str) -> list[ResultRecord]:
    """Every record of the run, in the order written."""
    rows = await fetch(conn, _RESULTS, _key(workflow_id, run_id, None))
    return [ResultRecord(*row) for row in rows]


async def request_cancel(
    conn: Conn, workflow_id: str, run_id: str, channel: str, now: int | None
) -> CancelOutcome | None:
    """Flag the run for its live owner, or store ``canceled`` when nobody owns it."""
    params = {
        **_key(workflow_id, run_id, now),
        "channel": channel,
        "payload": payload(("cancel", workflow_id, run_id)),
        "gone_owner": None,
        "gone_version": None,
    }
    for _ in range(2):  # a second try only to cancel for a process known to be gone
        (row,) = await fetch(conn, _CANCEL, params)
        if row[0] is None:
            return None
        if row[0] in FINISHED_STATUSES:
            return "finished"
        flagged, canceled = row[8], row[9]
        if canceled:
            return "canceled"
        if not flagged:  # neither: the run cannot be read
            await refuse_unreadable(conn, workflow_id, run_id)
            return None
        gone_owner, gone_version = _gone(row)
        if gone_owner is None or params["gone_owner"] is not None:
            return "requested"
        params.update(gone_owner=gone_owner, gone_version=gone_version)
    return "requested"


async def cancel_requested(conn: Conn, workflow_id: str, run_id: str) -> bool:
    """Whether a cancel was requested for the run (``False`` when it is unknown)."""
    query = f"SELECT cancel_requested FROM {RUNS} WHERE {KEY}"
    rows = await fetch(conn, query, _key(workflow_id, run_id, None))
    return bool(rows and rows[0][0])
