"""``SQLiteStorage``: runs in one SQLite file (WAL mode) that threads and processes can share.

Uses the stdlib ``sqlite3`` only; SQLite work runs on one worker thread per instance, in order
(a run's small checkpoints on the calling thread when the worker is idle).
The SQL lives in ``sqlite_runs`` and ``sqlite_leases``, the tables in ``sqlite_schema``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from ..errors import StorageError
from ..status import RunStatus
from . import protocol, sqlite_events, sqlite_leases, sqlite_runs
from .checks import (
    check_checkpoint,
    check_lease_ttl,
    check_page,
    claim_statuses,
    expected_statuses,
    retention_cutoff,
    snapshot_status,
    status_set,
)
from .event_log import LoggedEvent
from .lease import DEFAULT_LEASE_TTL, Clock, new_owner_id
from .protocol import RunList, RunRecord, SnapshotBuilder
from .records import CancelOutcome, Lease, ResultRecord
from .sqlite_group import WriteGroup
from .sqlite_rows import encode
from .sqlite_schema import prepare
from .sqlite_worker import SQLiteWorker

__all__ = ["SQLiteStorage"]


_T = TypeVar("_T")


class SQLiteStorage:
    """Runs stored in the SQLite file at ``path`` (``":memory:"`` for a private in-memory one).

    The file is opened on first use (or by ``async with``) in WAL journal mode with
    ``synchronous=NORMAL``; its parent directory must exist. A file written by an older
    rxflow is upgraded in place when opened. Every write is one ``BEGIN IMMEDIATE``
    transaction, so processes sharing the file take turns, waiting up to ``busy_timeout_ms``
    for each other; :meth:`update_status` and :meth:`claim_run` are compare-and-sets that hold
    across processes. Calls run on this instance's worker thread in the order they were made,
    so the event loop does not wait on disk; a call whose awaiting task is cancelled is still
    carried out. The exception is a run's checkpoint (and its start claim): small writes that
    the run waits for anyway, done on the calling thread when nothing is queued for the worker
    and no other connection holds the file, which saves two thread switches per step (most of
    what a small write costs); otherwise they go through the worker like any call. Snapshots
    and results are serialised and parsed where the call runs, which is why what is handed to
    :meth:`persist_snapshot` and :meth:`checkpoint` must not change afterwards. Any failure
    raises :class:`~rxflow.errors.StorageError`.

    ``lease_ttl`` is how many seconds a lease lasts unless renewed; ``clock`` (integer
    milliseconds since the epoch) replaces the wall clock for timestamps and lease expiry.

    It is durable (runs outlive the process) and has no live lane.
    """

    durable = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 30000,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        clock: Clock | None = None,
    ) -> None:
        if type(busy_timeout_ms) is not int or busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms must be an int >= 0, got {busy_timeout_ms!r}")
        self._path = os.fspath(path)
        if self._path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self._path))
            if not os.path.isdir(parent):
                raise StorageError(
                    f"cannot open SQLite storage {self._path!r}: no directory {parent!r}"
                )
        self._lease_ttl = check_lease_ttl(lease_ttl)
        self._ttl_ms = int(self._lease_ttl * 1000)
        self._clock = clock
        self._worker = SQLiteWorker(self._path, busy_timeout_ms, prepare)
        self._group = WriteGroup(self._worker)

    @property
    def path(self) -> str:
        """The database file's path, as given."""
        return self._path

    @property
    def lease_ttl(self) -> float:
        """Seconds a lease lasts unless renewed."""
        return self._lease_ttl

    @property
    def worker(self) -> SQLiteWorker:
        """The thread this store's SQLite work runs on (package-internal; tests hold it)."""
        return self._worker

    async def _write(self, operation: str, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """A small write: grouped with other runs' writes while several runs write (see
        :mod:`.sqlite_group`), else on the short lane or the worker."""
        if self._group.on:
            return await self._group.write(operation, body)
        return await self._worker.run(operation, body, write=True)

    def _let_go(self) -> None:
        # A run gives its lease up (counted before the write: its last write is not grouped
        # for its own sake).
        self._group.active = max(0, self._group.active - 1)

    def __repr__(self) -> str:
        return f"<SQLiteStorage {self._path!r}{' closed' if self._worker.closed else ''}>"

    async def __aenter__(self) -> Self:
        await self._worker.call("open", lambda conn: None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _now(self) -> int:
        # Called on the worker thread; the module-level clock is looked up on each call.
        return self._clock() if self._clock is not None else protocol.now_ms()

    # -- snapshots -------------------------------------------------------------------------------

    def follow_live(self, workflow_id: str, run_id: str, build: SnapshotBuilder) -> bool:
        """No live lane: a run writes its trail of snapshots to the file."""
        return False

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace the run's row; the snapshot is serialised on the worker thread."""
        status = snapshot_status(snapshot)

        def write(conn: sqlite3.Connection) -> None:
            text = encode(workflow_id, run_id, "snapshot", snapshot)
            sqlite_runs.persist(conn, workflow_id, run_id, text, status, resource_id, self._now())

        await self._write(f"persist_snapshot of {_run(workflow_id, run_id)}", write)

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """A fresh dict parsed from the stored JSON, or ``None`` when the run is unknown."""
        return await self._worker.run(
            f"load_snapshot of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_runs.load_snapshot(conn, workflow_id, run_id),
            write=False,
        )

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus] | None = None,
    ) -> bool:
        """Compare-and-set the status column and ``snapshot["status"]`` in one transaction."""
        allowed = expected_statuses(expected)
        return await self._write(
            f"update_status of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_runs.update_status(
                conn, workflow_id, run_id, status, allowed, self._now()
            ),
        )

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record (with a freshly parsed snapshot), or ``None``."""
        return await self._worker.run(
            f"get_run of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_runs.get_run(conn, workflow_id, run_id),
            write=False,
        )

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: RunStatus | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        orphaned: bool = False,
    ) -> RunList:
        """Matching runs, newest first (by ``created_at``, then insertion); count and page agree."""
        check_page(limit, offset)
        filters = {"workflow_id": workflow_id, "status": status, "resource_id": resource_id}
        return await self._worker.run(
            "list_runs",
            lambda conn: sqlite_runs.list_runs(
                conn, filters, bool(orphaned), limit, offset, self._now()
            ),
            write=False,
            lane=False,  # may read many rows: never on the caller's thread
        )

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Delete the run's row and its results; ``True`` when it existed."""

        def delete(conn: sqlite3.Connection) -> bool:
            sqlite_events.forget(conn, workflow_id, run_id)
            return sqlite_runs.delete_run(conn, workflow_id, run_id)

        return await self._write(f"delete_run of {_run(workflow_id, run_id)}", delete)

    async def append_events(
        self, workflow_id: str, run_id: str, first_seq: int, events: list[dict[str, Any]]
    ) -> None:
        """Append records to the run's event log (see :class:`~rxflow.storage.EventLog`)."""
        await self._write(
            f"append_events of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_events.append(conn, workflow_id, run_id, first_seq, events),
        )

    async def read_events(
        self, workflow_id: str, run_id: str, after_seq: int = -1, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Records of the run's event log numbered above ``after_seq``, at most ``limit``."""
        return await self._worker.run(
            f"read_events of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_events.read(conn, workflow_id, run_id, after_seq, limit),
            write=False,
        )

    async def delete_runs(
        self,
        *,
        workflow_id: str | None = None,
        older_than: timedelta | datetime | None = None,
        status: RunStatus | Collection[RunStatus] | None = None,
    ) -> int:
        """Delete the matching runs (by default finished ones only); returns how many."""
        statuses = status_set(status)
        retention_cutoff(older_than, 0)  # type check at the call

        def delete(conn: sqlite3.Connection) -> int:
            cutoff = retention_cutoff(older_than, self._now())
            return sqlite_runs.delete_runs(conn, workflow_id, statuses, cutoff)

        return await self._worker.run("delete_runs", delete, write=True, lane=False)

    # -- leases, checkpoints, cancel requests ------------------------------------------------------

    async def claim_run(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus],
        owner: str | None = None,
    ) -> Lease | None:
        """Compare-and-set the status and take the lease, when the lease is free."""
        allowed = claim_statuses(expected)
        owner = owner or new_owner_id()
        operation = f"claim_run of {_run(workflow_id, run_id)}"

        def take(conn: sqlite3.Connection) -> Lease | None:
            return sqlite_leases.claim(
                conn, workflow_id, run_id, status, allowed, owner, self._now(), self._ttl_ms
            )

        lease = await self._write(operation, take)
        if lease is not None:
            self._group.active += 1
        return lease

    async def renew_lease(self, lease: Lease) -> Lease:
        """Extend the lease from now; raises ``LeaseLostError`` when it is no longer the run's."""
        return await self._write(
            f"renew_lease of {_run(lease.workflow_id, lease.run_id)}",
            lambda conn: sqlite_leases.renew(conn, lease, self._now(), self._ttl_ms),
        )

    async def release_lease(self, lease: Lease) -> bool:
        """Give the run up; ``False`` when the lease was no longer the run's."""
        self._let_go()
        return await self._write(
            f"release_lease of {_run(lease.workflow_id, lease.run_id)}",
            lambda conn: sqlite_leases.release(conn, lease),
        )

    async def checkpoint(
        self,
        lease: Lease,
        *,
        state: Mapping[str, Any] | None = None,
        results: Mapping[str, Any] | None = None,
        release: bool = False,
    ) -> Lease:
        """One transaction: the state patch, one new row per result, the lease renewed."""
        check_checkpoint(state, results)
        operation = f"checkpoint of {_run(lease.workflow_id, lease.run_id)}"

        def write(conn: sqlite3.Connection) -> Lease:
            return sqlite_leases.checkpoint(
                conn, lease, state, results, release, self._now(), self._ttl_ms
            )

        if release:
            self._let_go()
        return await self._write(operation, write)

    async def load_results(self, workflow_id: str, run_id: str) -> list[ResultRecord]:
        """Every result record of the run, in the order written."""
        return await self._worker.run(
            f"load_results of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_leases.load_results(conn, workflow_id, run_id),
            write=False,
        )

    async def request_cancel(self, workflow_id: str, run_id: str) -> CancelOutcome | None:
        """Flag the run for its live owner, or store ``canceled`` when nobody owns it."""
        return await self._write(
            f"request_cancel of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_leases.request_cancel(conn, workflow_id, run_id, self._now()),
        )

    async def cancel_requested(self, workflow_id: str, run_id: str) -> bool:
        """Whether a cancel was requested for the run."""
        return await self._worker.run(
            f"cancel_requested of {_run(workflow_id, run_id)}",
            lambda conn: sqlite_leases.cancel_requested(conn, workflow_id, run_id),
            write=False,
        )

    async def close(self) -> None:
        """Finish the calls already made, close the file and stop the worker thread."""
        await self._worker.close()


def _run(workflow_id: str, run_id: str) -> str:
    return f"run {run_id!r} ({workflow_id!r})"
