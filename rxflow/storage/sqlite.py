"""``SQLiteStorage``: runs in one SQLite file (WAL mode) that threads and processes can share.

Uses the stdlib ``sqlite3`` only; all SQLite work runs on one worker thread per instance, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from ..errors import StorageError
from ..status import RunStatus
from .protocol import (
    RunList,
    RunRecord,
    SnapshotBuilder,
    check_page,
    expected_statuses,
    now_ms,
    snapshot_status,
)

__all__ = ["SQLiteStorage"]

_T = TypeVar("_T")

_TABLE = "rxflow_workflow_snapshot"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " workflow_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " resource_id TEXT,"
    " status TEXT NOT NULL,"
    " snapshot TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (workflow_id, run_id))",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_by_created ON {_TABLE} (workflow_id, created_at)",
)
_COLUMNS = "workflow_id, run_id, resource_id, status, snapshot, created_at, updated_at"
# The upsert keeps the row (and so its rowid, the "then insertion" order of list_runs).
_UPSERT = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (workflow_id, run_id) DO UPDATE SET"
    " resource_id = COALESCE(excluded.resource_id, resource_id),"
    " status = excluded.status, snapshot = excluded.snapshot, updated_at = excluded.updated_at"
)
_KEY = "workflow_id = ? AND run_id = ?"

# SQLite can report "database is locked" without waiting out busy_timeout (e.g. while another
# connection recovers the WAL); such attempts are retried, within busy_timeout and this bound.
_MAX_ATTEMPTS = 10


def _is_locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def _encode(workflow_id: str, run_id: str, snapshot: dict[str, Any]) -> str:
    try:
        return json.dumps(snapshot, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:
        raise StorageError(
            f"snapshot of run {run_id!r} of workflow {workflow_id!r} is not JSON data: {error}"
        ) from error


def _decode(workflow_id: str, run_id: str, text: Any) -> dict[str, Any]:
    try:
        snapshot = json.loads(text)
    except (TypeError, ValueError, RecursionError) as error:
        raise StorageError(
            f"stored snapshot of run {run_id!r} of workflow {workflow_id!r} cannot be read: {error}"
        ) from error
    if not isinstance(snapshot, dict):
        raise StorageError(
            f"stored snapshot of run {run_id!r} of workflow {workflow_id!r} cannot be read:"
            f" it is a JSON {type(snapshot).__name__}, not an object"
        )
    return snapshot


def _record(row: Sequence[Any]) -> RunRecord:
    workflow_id, run_id, resource_id, status, text, created_at, updated_at = row
    return RunRecord(
        workflow_id=workflow_id,
        run_id=run_id,
        resource_id=resource_id,
        status=status,
        snapshot=_decode(workflow_id, run_id, text),
        created_at=created_at,
        updated_at=updated_at,
    )


def _settled(job: concurrent.futures.Future[_T]) -> asyncio.Future[_T]:
    """Await a worker job without cancelling it when the awaiting task is cancelled.

    (``asyncio.wrap_future`` would cancel a job still queued, silently dropping a write that was
    already asked for; here every call made is carried out, in order.)
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[_T] = loop.create_future()

    def settle() -> None:
        if waiter.cancelled():
            return
        if job.cancelled():
            waiter.cancel()
            return
        error = job.exception()
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(job.result())

    def on_done(_: concurrent.futures.Future[_T]) -> None:
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle)

    job.add_done_callback(on_done)
    return waiter


class SQLiteStorage:
    """Runs stored in the SQLite file at ``path`` (``":memory:"`` for a private in-memory one).

    The file is opened on first use (or by ``async with``) in WAL journal mode with
    ``synchronous=NORMAL``; its parent directory must exist. Every write is one
    ``BEGIN IMMEDIATE`` transaction, so processes sharing the file take turns, waiting up to
    ``busy_timeout_ms`` for each other; :meth:`update_status` is a compare-and-set that holds
    across processes. Calls run on this instance's worker thread in the order they were made,
    so the event loop never waits on disk; a call whose awaiting task is cancelled is still
    carried out. Snapshots are serialised and parsed on that thread too, which is why a snapshot
    handed to :meth:`persist_snapshot` must not change afterwards. Any failure raises
    :class:`~rxflow.errors.StorageError`.

    It is durable (runs outlive the process) and has no live lane.
    """

    durable = True

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 30000) -> None:
        if type(busy_timeout_ms) is not int or busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms must be an int >= 0, got {busy_timeout_ms!r}")
        self._path = os.fspath(path)
        if self._path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self._path))
            if not os.path.isdir(parent):
                raise StorageError(
                    f"cannot open SQLite storage {self._path!r}: no directory {parent!r}"
                )
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None  # touched only on the worker thread
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="rxflow-sqlite"
        )
        self._closing: concurrent.futures.Future[None] | None = None

    @property
    def path(self) -> str:
        """The database file's path, as given."""
        return self._path

    def __repr__(self) -> str:
        return f"<SQLiteStorage {self._path!r}{'' if self._closing is None else ' closed'}>"

    async def __aenter__(self) -> Self:
        await self._call("open", lambda conn: None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the public API ------------------------------------------------------------------------

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
            text = _encode(workflow_id, run_id, snapshot)
            now = now_ms()
            params = (workflow_id, run_id, resource_id, status, text, now, now)
            self._transaction(conn, lambda: conn.execute(_UPSERT, params), write=True)

        await self._call(f"persist_snapshot of run {run_id!r} ({workflow_id!r})", write)

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """A fresh dict parsed from the stored JSON, or ``None`` when the run is unknown."""

        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            sql = f"SELECT snapshot FROM {_TABLE} WHERE {_KEY}"
            row = self._transaction(
                conn, lambda: conn.execute(sql, (workflow_id, run_id)).fetchone(), write=False
            )
            return None if row is None else _decode(workflow_id, run_id, row[0])

        return await self._call(f"load_snapshot of run {run_id!r} ({workflow_id!r})", read)

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | tuple[RunStatus, ...] | None = None,
    ) -> bool:
        """Compare-and-set the status column and ``snapshot["status"]`` in one transaction."""
        allowed = expected_statuses(expected)

        def compare_and_set(conn: sqlite3.Connection) -> bool:
            select = f"SELECT status, snapshot FROM {_TABLE} WHERE {_KEY}"
            row = conn.execute(select, (workflow_id, run_id)).fetchone()
            if row is None or (allowed is not None and row[0] not in allowed):
                return False
            snapshot = _decode(workflow_id, run_id, row[1])
            snapshot["status"] = status
            update = f"UPDATE {_TABLE} SET status = ?, snapshot = ?, updated_at = ? WHERE {_KEY}"
            text = _encode(workflow_id, run_id, snapshot)
            conn.execute(update, (status, text, now_ms(), workflow_id, run_id))
            return True

        return await self._call(
            f"update_status of run {run_id!r} ({workflow_id!r})",
            lambda conn: self._transaction(conn, lambda: compare_and_set(conn), write=True),
        )

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record (with a freshly parsed snapshot), or ``None``."""

        def read(conn: sqlite3.Connection) -> RunRecord | None:
            sql = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE {_KEY}"
            row = self._transaction(
                conn, lambda: conn.execute(sql, (workflow_id, run_id)).fetchone(), write=False
            )
            return None if row is None else _record(row)

        return await self._call(f"get_run of run {run_id!r} ({workflow_id!r})", read)

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: RunStatus | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> RunList:
        """Matching runs, newest first (by ``created_at``, then insertion); count and page agree."""
        check_page(limit, offset)
        filters = {"workflow_id": workflow_id, "status": status, "resource_id": resource_id}
        given = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in given)
        where = f" WHERE {where}" if where else ""
        params = tuple(given.values())
        count = f"SELECT COUNT(*) FROM {_TABLE}{where}"
        page = (
            f"SELECT {_COLUMNS} FROM {_TABLE}{where}"
            " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        )

        def read(conn: sqlite3.Connection) -> RunList:
            def both() -> tuple[int, list[Any]]:
                total = conn.execute(count, params).fetchone()[0]
                return total, conn.execute(page, (*params, limit, offset)).fetchall()

            total, rows = self._transaction(conn, both, write=False)
            return RunList(runs=[_record(row) for row in rows], total=total)

        return await self._call("list_runs", read)

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Delete the run's row; ``True`` when it existed."""

        def delete(conn: sqlite3.Connection) -> bool:
            sql = f"DELETE FROM {_TABLE} WHERE {_KEY}"
            cursor = self._transaction(
                conn, lambda: conn.execute(sql, (workflow_id, run_id)), write=True
            )
            return cursor.rowcount > 0

        return await self._call(f"delete_run of run {run_id!r} ({workflow_id!r})", delete)

    async def close(self) -> None:
        """Finish the calls already made, close the file and stop the worker thread."""
        if self._closing is None:
            self._closing = self._executor.submit(self._close_in_worker)
            self._executor.shutdown(wait=False)  # the worker exits once the queue is drained
        await _settled(self._closing)

    # -- the worker thread ---------------------------------------------------------------------

    async def _call(self, operation: str, job: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closing is not None:
            raise StorageError(f"{operation}: SQLite storage {self._path!r} is closed")
        return await _settled(self._executor.submit(self._in_worker, operation, job))

    def _in_worker(self, operation: str, job: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return job(self._conn)
        except sqlite3.Error as error:
            raise StorageError(
                f"{operation} failed on SQLite storage {self._path!r}: {error}"
            ) from error

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout_ms / 1000, isolation_level=None
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            self._transaction(conn, lambda: [conn.execute(sql) for sql in _SCHEMA], write=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def _close_in_worker(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as error:
                raise StorageError(
                    f"closing SQLite storage {self._path!r} failed: {error}"
                ) from error

    def _transaction(self, conn: sqlite3.Connection, body: Callable[[], _T], *, write: bool) -> _T:
        """Run ``body`` in one transaction (``BEGIN IMMEDIATE`` for writes), retried if locked."""

        def attempt() -> _T:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = body()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result

        return self._retry_locked(attempt)

    def _retry_locked(self, attempt: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        for tries in range(1, _MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                if not _is_locked(error) or tries == _MAX_ATTEMPTS or time.monotonic() > deadline:
                    raise
                time.sleep(min(0.002 * 2**tries, 0.25))  # back off on this worker thread only
        raise AssertionError("unreachable")
