"""``PostgresStorage``: runs in a PostgreSQL database that processes on many hosts can share.

Needs the ``postgres`` extra (psycopg 3 and psycopg_pool). The SQL lives in ``postgres_runs``
and ``postgres_leases``, the tables in ``postgres_schema``, the connections in ``postgres_pool``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from psycopg_pool import AsyncConnectionPool

from ..status import RunStatus
from . import postgres_events, postgres_leases, postgres_runs
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
from .postgres_listen import Listener, Topic
from .postgres_pool import Connections
from .postgres_rows import encode
from .protocol import RunList, RunRecord, SnapshotBuilder
from .records import CancelOutcome, Lease, ResultRecord

__all__ = ["PostgresStorage"]


class PostgresStorage:
    """Runs stored in the PostgreSQL database that ``dsn`` names, shared by every process using it.

    ``dsn`` is a libpq connection string: a URI (``postgresql://user:password@host:5432/db``,
    ``postgresql:///db?host=/var/run/postgresql`` for a Unix socket) or ``key=value`` pairs;
    anything it leaves out comes from the ``PG*`` environment variables, as with ``psql``. The
    store keeps a pool of ``min_size`` to ``max_size`` connections, opened on first use (or by
    ``async with``): that first call fails at once, with a :class:`~rxflow.errors.StorageError`
    naming the host and database (never the password), when the server cannot be reached. It
    also creates the tables in the connection's schema, or upgrades those of an older rxflow in
    place; processes starting together take turns (an advisory lock), so exactly one migrates.
    :meth:`from_pool` uses a ``psycopg_pool.AsyncConnectionPool`` of your own instead.

    Every operation is one SQL statement, atomic across processes: claims and writes by a
    lease are ``UPDATE … WHERE … RETURNING`` on the run's row, with its fencing version in the
    ``WHERE``. Reads that lose their connection are tried again on another one, a few times over
    about three seconds; a write is never sent twice: when its connection fails, the error says
    it may or may not have been stored (a claim checks the run's lease to find out). ``timeout``
    is how many seconds a call waits for a free connection, and the connect timeout.

    Lease expiry and timestamps are on the database server's clock, so the hosts' clocks need
    not agree; ``clock`` (integer milliseconds since the epoch) replaces it, e.g. in tests.
    ``lease_ttl`` is how many seconds a lease lasts unless renewed.

    It is durable and has no live lane. It keeps event logs (:meth:`append_events`), and its
    waits (:meth:`wait_cancel`, :meth:`wait_events`) are woken by PostgreSQL ``NOTIFY``.
    """

    durable = True

    def __init__(
        self,
        dsn: str = "",
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(dsn, str):
            raise TypeError(f"dsn must be a str, got {type(dsn).__name__}")
        self._setup(Connections(dsn, None, min_size, max_size, timeout), lease_ttl, clock)

    def _setup(self, db: Connections, lease_ttl: float, clock: Clock | None) -> None:
        self._lease_ttl = check_lease_ttl(lease_ttl)
        self._ttl_ms = int(self._lease_ttl * 1000)
        self._clock = clock
        self._db = db
        self._listener: Listener | None = None

    @classmethod
    def from_pool(
        cls,
        pool: AsyncConnectionPool[Any],
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> PostgresStorage:
        """A store using ``pool``, a ``psycopg_pool.AsyncConnectionPool`` you made and close.

        The pool is opened at first use if it is not open yet; :meth:`close` leaves it open.
        Its connections may be in autocommit mode or not (the store commits its own work).
        :meth:`wait_cancel` opens one connection of its own with the pool's connection string.
        """
        if not isinstance(pool, AsyncConnectionPool):
            raise TypeError(
                f"pool must be a psycopg_pool.AsyncConnectionPool, got {type(pool).__name__}"
            )
        store = cls.__new__(cls)
        cls._setup(
            store, Connections(None, pool, 1, max(1, pool.max_size), timeout), lease_ttl, clock
        )
        return store

    @property
    def lease_ttl(self) -> float:
        """Seconds a lease lasts unless renewed."""
        return self._lease_ttl

    @property
    def where(self) -> str:
        """The server and database, for messages (never the password)."""
        return self._db.where

    def __repr__(self) -> str:
        return f"<PostgresStorage {self._db.where}{' closed' if self._db.closed else ''}>"

    async def __aenter__(self) -> Self:
        await self._db.ready("open")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _now(self) -> int | None:
        # None: the statement reads the database server's clock.
        return self._clock() if self._clock is not None else None

    # -- snapshots -------------------------------------------------------------------------------

    def follow_live(self, workflow_id: str, run_id: str, build: SnapshotBuilder) -> bool:
        """No live lane: a run writes its trail of snapshots to the database."""
        return False

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace the run's row (an upsert keeping ``created_at`` and the lease)."""
        status = snapshot_status(snapshot)
        text = encode(workflow_id, run_id, "snapshot", snapshot)
        await self._db.write(
            f"persist_snapshot of {_run(workflow_id, run_id)}",
            lambda conn: postgres_runs.persist(
                conn, workflow_id, run_id, text, status, resource_id, self._now()
            ),
        )

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """A fresh dict, or ``None`` when the run is unknown."""
        return await self._db.read(
            f"load_snapshot of {_run(workflow_id, run_id)}",
            lambda conn: postgres_runs.load_snapshot(conn, workflow_id, run_id),
        )

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus] | None = None,
    ) -> bool:
        """Compare-and-set the status column and ``snapshot["status"]`` in one statement."""
        allowed = expected_statuses(expected)
        return await self._db.write(
            f"update_status of {_run(workflow_id, run_id)}",
            lambda conn: postgres_runs.update_status(
                conn, workflow_id, run_id, status, allowed, self._now()
            ),
        )

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record (with a freshly read snapshot), or ``None``."""
        return await self._db.read(
            f"get_run of {_run(workflow_id, run_id)}",
            lambda conn: postgres_runs.get_run(conn, workflow_id, run_id),
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
        return await self._db.read(
            "list_runs",
            lambda conn: postgres_runs.list_runs(
                conn, filters, bool(orphaned), limit, offset, self._now()
            ),
        )

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Delete the run's row and its results; ``True`` when it existed."""
        return await self._db.write(
            f"delete_run of {_run(workflow_id, run_id)}",
            lambda conn: postgres_runs.delete_run(conn, workflow_id, run_id),
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
        age_ms = (
            older_than // timedelta(milliseconds=1) if isinstance(older_than, timedelta) else None
        )
        moment_ms = retention_cutoff(older_than, 0) if isinstance(older_than, datetime) else None
        return await self._db.write(
            "delete_runs",
            lambda conn: postgres_runs.delete_runs(
                conn, workflow_id, statuses, age_ms, moment_ms, self._now()
            ),
        )

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
        """Compare-and-set the status and take the lease, when the lease is free.

        When the connection fails on the way, the run's lease tells whether the claim happened.
        """
        allowed = claim_statuses(expected)
        owner = owner or new_owner_id()
        return await self._db.write(
            f"claim_run of {_run(workflow_id, run_id)}",
            lambda conn: postgres_leases.claim(
                conn, workflow_id, run_id, status, allowed, owner, self._now(), self._ttl_ms
            ),
            resolve=lambda conn: postgres_leases.claimed_by(
                conn, workflow_id, run_id, status, owner, self._now()
            ),
        )

    async def renew_lease(self, lease: Lease) -> Lease:
        """Extend the lease from now; raises ``LeaseLostError`` when it is no longer the run's."""
        return await self._db.write(
            f"renew_lease of {_run(lease.workflow_id, lease.run_id)}",
            lambda conn: postgres_leases.renew(conn, lease, self._now(), self._ttl_ms),
        )

    async def release_lease(self, lease: Lease) -> bool:
        """Give the run up; ``False`` when the lease was no longer the run's."""
        return await self._db.write(
            f"release_lease of {_run(lease.workflow_id, lease.run_id)}",
            lambda conn: postgres_leases.release(conn, lease),
        )

    async def checkpoint(
        self,
        lease: Lease,
        *,
        state: Mapping[str, Any] | None = None,
        results: Mapping[str, Any] | None = None,
        release: bool = False,
    ) -> Lease:
        """One statement: the fencing check, the state patch, one new row per result, the lease
        renewed (or given up)."""
        check_checkpoint(state, results)
        return await self._db.write(
            f"checkpoint of {_run(lease.workflow_id, lease.run_id)}",
            lambda conn: postgres_leases.checkpoint(
                conn, lease, state, results, release, self._now(), self._ttl_ms
            ),
        )

    async def load_results(self, workflow_id: str, run_id: str) -> list[ResultRecord]:
        """Every result record of the run, in the order written."""
        return await self._db.read(
            f"load_results of {_run(workflow_id, run_id)}",
            lambda conn: postgres_leases.load_results(conn, workflow_id, run_id),
        )

    async def request_cancel(self, workflow_id: str, run_id: str) -> CancelOutcome | None:
        """Flag the run for its live owner, or store ``canceled`` when nobody owns it; either
        way the run's waiters (:meth:`wait_cancel`, in any process) are notified."""
        return await self._db.write(
            f"request_cancel of {_run(workflow_id, run_id)}",
            lambda conn: postgres_leases.request_cancel(
                conn, workflow_id, run_id, self._db.channel, self._now()
            ),
        )

    async def cancel_requested(self, workflow_id: str, run_id: str) -> bool:
        """Whether a cancel was requested for the run."""
        return await self._db.read(
            f"cancel_requested of {_run(workflow_id, run_id)}",
            lambda conn: postgres_leases.cancel_requested(conn, workflow_id, run_id),
        )

    async def wait_cancel(self, workflow_id: str, run_id: str) -> None:
        """Return once a cancel is requested for the run (at once if one already was).

        Woken by PostgreSQL ``NOTIFY`` from :meth:`request_cancel`, in whatever process it ran:
        no polling. One listening connection per store serves every waiter. To stop waiting
        (the run ended), cancel the task awaiting this.
        """
        await self._wait(
            ("cancel", workflow_id, run_id),
            lambda: self.cancel_requested(workflow_id, run_id),
        )

    # -- the event log (rxflow.storage.EventLog) --------------------------------------------

    async def append_events(
        self, workflow_id: str, run_id: str, first_seq: int, events: list[dict[str, Any]]
    ) -> None:
        """Append records to the run's event log (see :class:`~rxflow.storage.EventLog`) and
        wake the run's followers (:meth:`wait_events`), in any process."""
        await self._db.write(
            f"append_events of {_run(workflow_id, run_id)}",
            lambda conn: postgres_events.append(
                conn, workflow_id, run_id, first_seq, events, self._db.channel
            ),
        )

    async def read_events(
        self, workflow_id: str, run_id: str, after_seq: int = -1, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Records of the run's event log numbered above ``after_seq``, at most ``limit``."""
        return await self._db.read(
            f"read_events of {_run(workflow_id, run_id)}",
            lambda conn: postgres_events.read(conn, workflow_id, run_id, after_seq, limit),
        )

    async def wait_events(self, workflow_id: str, run_id: str, after_seq: int = -1) -> None:
        """Return once the run's event log has a record numbered above ``after_seq``.

        Woken by the ``NOTIFY`` of :meth:`append_events`, in whatever process it ran.
        """
        await self._wait(
            ("events", workflow_id, run_id),
            lambda: self._has_events(workflow_id, run_id, after_seq),
        )

    async def _has_events(self, workflow_id: str, run_id: str, after_seq: int) -> bool:
        return bool(await self.read_events(workflow_id, run_id, after_seq, limit=1))

    async def _wait(self, topic: Topic, done: Callable[[], Awaitable[bool]]) -> None:
        # Listening before the first check: a notification sent after it is never missed.
        await self._db.ready(f"waiting for {topic[0]} of {_run(topic[1], topic[2])}")
        if self._listener is None:
            self._listener = Listener(self._db.channel, self._db.connect, self._db.failure)
        async with self._listener.watch(topic) as woken:
            while not await done():
                await woken.wait()
                woken.clear()

    async def close(self) -> None:
        """Finish the writes under way, stop listening and close the store's own pool."""
        self._db.closed = True
        if self._listener is not None:
            await self._listener.close()
        await self._db.close()


def _run(workflow_id: str, run_id: str) -> str:
    return f"run {run_id!r} ({workflow_id!r})"
