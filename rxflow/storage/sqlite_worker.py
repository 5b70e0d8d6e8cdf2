"""The thread ``SQLiteStorage`` does all its SQLite work on: one connection, calls in order.

Also the transaction helper (``BEGIN IMMEDIATE`` for writes, retried while the file is locked).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import StorageError
from .sqlite_wal import BACKSTOP_PAGES, WalCheckpointer

__all__ = ["MISSED", "SQLiteWorker", "is_locked", "settled"]

_T = TypeVar("_T")

MISSED: Any = object()
"""What :meth:`SQLiteWorker.run_here` returns when the call must go to the worker instead."""

# SQLite can report "database is locked" without waiting out busy_timeout (e.g. while another
# connection recovers the WAL); such attempts are retried, within busy_timeout and this bound.
_MAX_ATTEMPTS = 10


def is_locked(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` says another connection holds the file (worth trying again)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def settled(job: concurrent.futures.Future[_T]) -> asyncio.Future[_T]:
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


class SQLiteWorker:
    """One connection to the file at ``path``, used only from this worker's one thread.

    The connection is opened by the first call (WAL journal mode, ``synchronous=NORMAL``),
    then ``prepare`` runs on it (the schema). :meth:`call` runs a job on the thread, in call
    order; every ``sqlite3.Error`` becomes a :class:`~rxflow.errors.StorageError` naming the
    operation and the file, with the cause chained.

    :meth:`run_here` is the short lane for small calls (a run's checkpoints, claims, event-log
    appends, single-run reads): when the worker has nothing queued and no other connection
    holds the file, the transaction runs on the calling thread at once, which saves two thread
    switches (most of a small call's cost); otherwise the caller goes through the worker as
    usual. Either way calls keep their order: the connection is used under one lock, and the
    short lane is taken only while no call made before is still waiting for the worker.
    """

    def __init__(
        self,
        path: str,
        busy_timeout_ms: int,
        prepare: Callable[[SQLiteWorker, sqlite3.Connection], None],
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._prepare = prepare
        # Used by the worker thread, or by the short lane while it holds ``_using``.
        self._conn: sqlite3.Connection | None = None
        # Whether the connection's busy_timeout is the short lane's 0 (under ``_using``): set
        # when a lane is switched to, not around every write (two statements per checkpoint).
        self._lane_timeout = False
        self._using = threading.Lock()
        self._queued = 0  # calls handed to the worker and not finished (under ``_counting``)
        self._counting = threading.Lock()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="rxflow-sqlite"
        )
        self._closing: concurrent.futures.Future[None] | None = None
        self.wal: WalCheckpointer | None = None  # with the connection, for a file

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (later calls raise ``StorageError``)."""
        return self._closing is not None

    async def call(self, operation: str, job: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``job`` on the worker thread with the connection; a cancelled caller does not
        stop it."""
        return await self.submit(operation, job)

    def submit(self, operation: str, job: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        """Queue ``job`` for the worker thread now (calls made later run after it); await the
        returned future for its result."""
        if self._closing is not None:
            raise StorageError(f"{operation}: SQLite storage {self.path!r} is closed")
        with self._counting:
            self._queued += 1
        try:
            job_future = self.executor.submit(self._in_worker, operation, job)
        except BaseException:
            self._finished()
            raise
        return settled(job_future)

    def _finished(self) -> None:
        with self._counting:
            self._queued -= 1

    def run_here(
        self, operation: str, body: Callable[[sqlite3.Connection], _T], *, write: bool = True
    ) -> _T:
        """``body`` in one transaction on this thread, when that can be done at once:
        the connection is open, free, nothing is queued for the worker and no other connection
        holds the file's write lock. Otherwise ``MISSED`` (nothing was written): the caller
        uses :meth:`run` instead."""
        conn = self._conn
        if conn is None or self._closing is not None or not self._using.acquire(blocking=False):
            return MISSED  # type: ignore[no-any-return]
        try:
            if self._queued or self._conn is None:
                return MISSED  # type: ignore[no-any-return]
            # Never wait for another connection's lock here: this thread is the caller's. (Any
            # statement of the body that finds the file busy rolls back and goes to the worker.)
            if not self._lane_timeout:
                conn.execute("PRAGMA busy_timeout = 0")
                self._lane_timeout = True
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as error:
                if is_locked(error):
                    return MISSED  # type: ignore[no-any-return]
                raise
            try:
                result = body(conn)
                conn.execute("COMMIT")
                if write and self.wal is not None:
                    self.wal.committed()
            except BaseException as error:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(error, sqlite3.OperationalError) and is_locked(error):
                    return MISSED  # type: ignore[no-any-return]
                raise
            return result
        except sqlite3.Error as error:
            raise StorageError(
                f"{operation} failed on SQLite storage {self.path!r}: {error}"
            ) from error
        finally:
            self._using.release()

    async def run(
        self,
        operation: str,
        body: Callable[[sqlite3.Connection], _T],
        *,
        write: bool,
        lane: bool = True,
    ) -> _T:
        """``body`` inside one transaction (see :meth:`transaction`): on the short lane when it
        is free (``lane``: the body is small), else through :meth:`call`.

        Small calls take the short lane because a server makes many of them at once: each one
        handed to the worker thread costs two thread switches, and while the loop's thread
        keeps the GIL busy the worker waits for it at every statement, so a queue of small
        calls on the worker drains far slower than the same calls made here.
        """
        if lane:
            done = self.run_here(operation, body, write=write)
            if done is not MISSED:
                return done
        return await self.call(
            operation, lambda conn: self.transaction(conn, lambda: body(conn), write=write)
        )

    async def close(self) -> None:
        """Finish the calls already made, close the file and stop the thread."""
        if self._closing is None:
            self._closing = self.executor.submit(self._close_in_worker)
            self.executor.shutdown(wait=False)  # the worker exits once the queue is drained
        await settled(self._closing)

    def _in_worker(self, operation: str, job: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            with self._using:
                if self._conn is None:
                    self._conn = self._connect()
                elif self._lane_timeout:  # the short lane's 0: the worker waits for locks
                    self._conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
                    self._lane_timeout = False
                return job(self._conn)
        except sqlite3.Error as error:
            raise StorageError(
                f"{operation} failed on SQLite storage {self.path!r}: {error}"
            ) from error
        finally:
            self._finished()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,  # the short lane uses it too, never at the same time
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            self.retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            self._prepare(self, conn)
            if self.path != ":memory:":
                conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
                self.wal = WalCheckpointer(self.path, self.busy_timeout_ms)
                # A store dropped without close() does not leave the thread behind.
                weakref.finalize(self, self.wal.stop, wait=False)
        except BaseException:
            conn.close()
            raise
        return conn

    def _close_in_worker(self) -> None:
        with self._using:
            conn, self._conn = self._conn, None
            wal, self.wal = self.wal, None
        if wal is not None:
            wal.stop()  # first, so that the writer's close is the last and removes the log
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as error:
                raise StorageError(
                    f"closing SQLite storage {self.path!r} failed: {error}"
                ) from error

    def transaction(self, conn: sqlite3.Connection, body: Callable[[], _T], *, write: bool) -> _T:
        """Run ``body`` in one transaction (``BEGIN IMMEDIATE`` for writes), retried if locked.

        Any exception rolls the transaction back, so ``body`` may raise to write nothing.
        """

        def attempt() -> _T:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = body()
                conn.execute("COMMIT")
                if write and self.wal is not None:
                    self.wal.committed()
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result

        return self.retry_locked(attempt)

    def retry_locked(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``, again (with back-off) while it fails because the file is locked."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        for tries in range(1, _MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                if not is_locked(error) or tries == _MAX_ATTEMPTS or time.monotonic() > deadline:
                    raise
                time.sleep(min(0.002 * 2**tries, 0.25))  # back off on this worker thread only
        raise AssertionError("unreachable")
