"""Group commit for ``SQLiteStorage``: while several runs of one process write to the same file,
the small writes made in one turn of the event loop share one transaction.

A transaction's ``COMMIT`` (its WAL frames, the WAL index, now and then a WAL checkpoint) costs
more than a small write's statements. A server streaming many runs at once makes thousands of
small writes a second (checkpoints, claims, event-log appends); committing them in groups
does that work once per group instead of once per write. A write joins the group of the
current loop turn and waits for its commit, so nothing is acknowledged before it is stored.

Each write runs inside its own savepoint: one that fails (a lost lease, a gap in an event log,
a value SQLite refuses) is rolled back alone and gets its own error; the others still commit.
A write grouped with others waits one loop turn longer than one made alone, so grouping is on
only while more than one run of this store holds a lease in this process (``active``); a lone
run's writes take the short lane at once, as before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ..errors import StorageError
from .sqlite_worker import MISSED, SQLiteWorker, is_locked

__all__ = ["WriteGroup"]

_T = TypeVar("_T")


@attrs.define(slots=True, frozen=True)
class _Write:
    operation: str
    body: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


def _retrieved(future: asyncio.Future[Any]) -> None:
    # The writer may have been cancelled while its write went ahead: its outcome is not an
    # unretrieved error.
    if not future.cancelled():
        future.exception()


class WriteGroup:
    """The writes waiting for the next group commit of one store's connection."""

    def __init__(self, worker: SQLiteWorker) -> None:
        self._worker = worker
        self._pending: list[_Write] | None = None
        # Runs of this store holding a lease in this process (claims minus releases).
        self.active = 0
        self._commits: set[asyncio.Task[None]] = set()

    @property
    def on(self) -> bool:
        """Whether writes are grouped now: several runs are writing, or a group is open."""
        return self.active > 1 or self._pending is not None

    async def write(self, operation: str, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in the next group commit and return its result (or raise its error).

        A cancelled caller does not stop the write."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        future.add_done_callback(_retrieved)
        if self._pending is None:
            self._pending = []
            loop.call_soon(self._commit)
        self._pending.append(_Write(operation, body, future))
        return await asyncio.shield(future)

    def _commit(self) -> None:
        writes, self._pending = self._pending or [], None
        if not writes:
            return
        worker, operation = self._worker, _operation(writes)
        try:
            outcomes = worker.run_here(
                operation, lambda conn: _apply(conn, worker.path, writes), write=True
            )
            if outcomes is MISSED:  # the worker is busy, or another process holds the file
                # Queued at once, so that writes made after these are stored after them.
                waiter = worker.submit(
                    operation,
                    lambda conn: worker.transaction(
                        conn, lambda: _apply(conn, worker.path, writes), write=True
                    ),
                )
                task = asyncio.ensure_future(_settle_later(writes, waiter))
                self._commits.add(task)
                task.add_done_callback(self._commits.discard)
                return
        except Exception as error:
            _fail(writes, error)
            return
        _settle(writes, outcomes)


async def _settle_later(writes: list[_Write], waiter: asyncio.Future[Any]) -> None:
    try:
        outcomes = await waiter
    except Exception as error:
        _fail(writes, error)
        return
    _settle(writes, outcomes)


def _operation(writes: list[_Write]) -> str:
    if len(writes) == 1:
        return writes[0].operation
    return f"group commit of {len(writes)} writes ({writes[0].operation}, ...)"


def _apply(conn: sqlite3.Connection, path: str, writes: list[_Write]) -> list[tuple[bool, Any]]:
    """Each write in its own savepoint, inside the caller's transaction. A write that finds the
    file locked fails the whole attempt (the transaction is tried again, all writes with it)."""
    outcomes: list[tuple[bool, Any]] = []
    for write in writes:
        conn.execute("SAVEPOINT rxflow_write")
        try:
            value = write.body(conn)
        except sqlite3.OperationalError as error:
            if is_locked(error):
                raise
            conn.execute("ROLLBACK TO rxflow_write")
            outcomes.append((False, _storage_error(write.operation, path, error)))
        except sqlite3.Error as error:
            conn.execute("ROLLBACK TO rxflow_write")
            outcomes.append((False, _storage_error(write.operation, path, error)))
        except Exception as error:  # the write's own error (a lost lease...), for its caller
            conn.execute("ROLLBACK TO rxflow_write")
            outcomes.append((False, error))
        else:
            outcomes.append((True, value))
        conn.execute("RELEASE rxflow_write")
    return outcomes


def _storage_error(operation: str, path: str, error: sqlite3.Error) -> StorageError:
    failure = StorageError(f"{operation} failed on SQLite storage {path!r}: {error}")
    failure.__cause__ = error
    return failure


def _settle(writes: list[_Write], outcomes: list[tuple[bool, Any]]) -> None:
    for write, (ok, value) in zip(writes, outcomes, strict=True):
        if write.future.done():
            continue
        if ok:
            write.future.set_result(value)
        else:
            write.future.set_exception(value)


def _fail(writes: list[_Write], error: Exception) -> None:
    for write in writes:
        if not write.future.done():
            write.future.set_exception(error)
