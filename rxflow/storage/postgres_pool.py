"""The connections of ``PostgresStorage``: opening (fast failure, the schema), reads retried, writes
carried out once, and every driver error turned into ``StorageError`` naming the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..errors import StorageError
from .postgres_schema import channel_of, migrate
from .postgres_server import (
    WHERE_KEYS,
    connection_lost,
    describe_server,
    has_input,
    parse_dsn,
    plain_kwargs,
)

__all__ = ["Connections"]

_T = TypeVar("_T")
Body = Callable[[AsyncConnection[Any]], Awaitable[_T]]

# Seconds to wait before each new try of a read that lost its connection (about 3.3 s in all,
# long enough to ride out a server restart or a failover of a few seconds), with jitter.
_READ_DELAYS = (0.05, 0.25, 1.0, 2.0)
# Seconds a connection taken from the pool is kept for the next operation at most, before it
# goes back (so the pool's own rules, e.g. a connection's maximum lifetime, still apply).
_KEEP_RECENT = 30.0


class Connections:
    """A pool of connections to one PostgreSQL database, opened at first use.

    Either the store's own pool, made from ``dsn`` (opened at first use, closed by
    :meth:`close`), or a pool the caller made and keeps (``pool``: opened here if it is not
    yet, never closed here). The first call connects, failing at once with a message naming
    the server when it cannot, and creates or upgrades the tables.
    """

    def __init__(
        self,
        dsn: str | None,
        pool: AsyncConnectionPool[Any] | None,
        min_size: int,
        max_size: int,
        timeout: float,
    ) -> None:
        if type(min_size) is not int or type(max_size) is not int or not 0 <= min_size <= max_size:
            raise ValueError(
                f"min_size and max_size must be ints with 0 <= min_size <= max_size,"
                f" got {min_size!r} and {max_size!r}"
            )
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self._dsn = dsn
        self._pool = pool
        self._owns_pool = pool is None
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = float(timeout)
        conninfo = (dsn or "") if pool is None else pool.conninfo
        # A pool may compute its connection string when it connects: then it is not known here.
        params = parse_dsn(conninfo) if isinstance(conninfo, str) else {}
        if pool is not None:  # connection options given beside the pool's conninfo
            params.update((k, v) for k, v in plain_kwargs(pool.kwargs).items() if k in WHERE_KEYS)
        self._password = str(params.get("password") or "")
        self.where = describe_server(params)
        self.schema: str | None = None
        self._opening: asyncio.Lock | None = None
        self._writes: set[asyncio.Task[Any]] = set()
        # The connection the last operation used, kept out of the pool for the next one (the
        # store's own pool only); when it was taken from the pool; operations waiting for one.
        self._recent: AsyncConnection[Any] | None = None
        self._recent_since = 0.0
        self._waiting = 0
        self._guard: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def channel(self) -> str:
        """The NOTIFY channel of the store's schema (once open)."""
        if self.schema is None:
            raise StorageError(f"the storage ({self.where}) is not open")
        return channel_of(self.schema)

    # -- opening ----------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with the password, if it appears, replaced by ``***``."""
        return text.replace(self._password, "***") if self._password else text

    def failure(self, operation: str, error: BaseException) -> StorageError:
        """The ``StorageError`` for a driver error of ``operation`` (chain it to ``error``)."""
        message = self.scrub(str(error).strip()) or type(error).__name__
        return StorageError(f"{operation}: {self.where}: {message}")

    async def connect(self) -> AsyncConnection[Any]:
        """A new connection outside the pool (autocommit), e.g. for LISTEN."""
        conninfo: Any = self._dsn or ""
        kwargs: dict[str, Any] = {}
        if self._pool is not None and not self._owns_pool:
            conninfo, kwargs = self._pool.conninfo, plain_kwargs(self._pool.kwargs)
            if callable(conninfo):
                conninfo = conninfo()
                if inspect.isawaitable(conninfo):
                    conninfo = await conninfo
        kwargs["autocommit"] = True
        kwargs.setdefault("connect_timeout", max(1, round(self._timeout)))
        return await AsyncConnection.connect(conninfo, **kwargs)

    async def ready(self, operation: str) -> None:
        """Open the pool and prepare the tables, once; ``StorageError`` when that fails."""
        if self.closed:
            raise StorageError(f"{operation}: the storage ({self.where}) is closed")
        if self.schema is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self.schema is None:
                self.schema = await self._open(operation)

    async def _open(self, operation: str) -> str:
        if self._owns_pool:
            try:
                conn = await self.connect()
            except psycopg.Error as error:
                raise self.failure(f"{operation}: cannot connect", error) from error
            try:
                schema = await migrate(conn)
            except psycopg.Error as error:
                raise self.failure(f"{operation}: preparing the tables failed", error) from error
            finally:
                await conn.close()
            self._pool = AsyncConnectionPool(
                self._dsn or "",
                kwargs={"autocommit": True, "connect_timeout": max(1, round(self._timeout))},
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._timeout,
                open=False,
                name="rxflow",
            )
            await self._pool.open()
            self._guard = asyncio.get_running_loop().create_task(self._close_on_shutdown())
            return schema
        pool = self._pool
        assert pool is not None
        if pool.closed:
            await pool.open()
        try:
            return await self._run(migrate)
        except PoolTimeout as error:
            failure = await self._diagnosed(operation, error)
            raise failure from failure.__cause__
        except psycopg.Error as error:
            raise self.failure(f"{operation}: preparing the tables failed", error) from error

    async def _diagnosed(
        self, operation: str, timeout: PoolTimeout, busy: str = "the pool gave no connection"
    ) -> StorageError:
        """Why the pool gave no connection in time: a server that cannot be reached (a direct
        attempt tells why, e.g. it is down or restarting: that error is the cause) or, when it
        can, ``busy`` (every connection in use)."""
        cause: BaseException = timeout
        try:
            conn = await self.connect()
        except psycopg.Error as error:
            failure, cause = self.failure(f"{operation}: cannot connect", error), error
        else:
            await conn.close()
            failure = self.failure(f"{operation}: {busy}", timeout)
        failure.__cause__ = cause
        return failure

    async def _close_on_shutdown(self) -> None:
        """Close the store's own pool when the event loop ends with the store still open.

        ``asyncio.run`` cancels every task at its end; a pool's maintenance task that is
        cancelled while it reconnects (after a server restart, say) lets the cancellation
        pass and would wait for work forever, so the program would never exit. Closing the
        pool stops its tasks; this task is cancelled with the others and does that.
        """
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pool = self._pool
            if not self.closed and pool is not None:
                self.closed = True
                recent, self._recent = self._recent, None
                _closing.add(closer := asyncio.ensure_future(_close_all(recent, pool)))
                closer.add_done_callback(_closing.discard)
            raise

    # -- running operations -----------------------------------------------------------------

    async def _run(self, body: Body[_T]) -> _T:
        """``body`` on a connection of the pool (or the one the last operation used)."""
        conn = await self._acquire()
        try:
            result = await body(conn)
        except BaseException:
            await self._release(conn, failed=True)
            raise
        await self._release(conn, failed=False)
        return result

    async def _acquire(self) -> AsyncConnection[Any]:
        pool = self._pool
        assert pool is not None
        recent = self._recent
        if recent is not None:
            self._recent = None
            if not has_input(recent):
                return recent
            await pool.putconn(recent)  # input on an idle connection: the pool's way below
        self._waiting += 1
        try:
            conn: AsyncConnection[Any] = await pool.getconn(self._timeout)
        finally:
            self._waiting -= 1
        for _ in range(self._max_size + 1):
            if not has_input(conn):
                break
            try:  # input on an idle connection: one real check decides
                await AsyncConnectionPool.check_connection(conn)
                break
            except psycopg.Error:
                await pool.putconn(conn)  # broken: the pool drops it and opens another
                conn = await pool.getconn(self._timeout)
        self._recent_since = asyncio.get_running_loop().time()
        return conn

    async def _release(self, conn: AsyncConnection[Any], *, failed: bool) -> None:
        try:
            if not conn.autocommit and not conn.closed:
                if failed:
                    with contextlib.suppress(psycopg.Error):
                        await conn.rollback()
                elif conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    await conn.commit()
        finally:
            # The store's own pool: the connection just used is kept for the next operation
            # (its backend and its prepared statements are warm), unless an operation waits
            # for the pool, the connection failed, or it was taken from the pool long ago
            # (the pool's lifetime rules then apply to it).
            if (
                self._owns_pool
                and not failed
                and self._recent is None
                and not self._waiting
                and not self.closed
                and conn.info.transaction_status == pq.TransactionStatus.IDLE
                and asyncio.get_running_loop().time() - self._recent_since < _KEEP_RECENT
            ):
                self._recent = conn
            else:
                pool = self._pool
                assert pool is not None
                await pool.putconn(conn)

    async def read(self, operation: str, body: Body[_T]) -> _T:
        """Run a read; when the connection fails it is tried again on another, a few times."""
        await self.ready(operation)
        for delay in (*_READ_DELAYS, None):
            try:
                return await self._run(body)
            except PoolTimeout as error:
                failure = await self._diagnosed(operation, error, self._busy)
                raise failure from failure.__cause__
            except psycopg.Error as error:
                if delay is None or not connection_lost(error) or self.closed:
                    raise self._error(operation, error, wrote=False) from error
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))
        raise AssertionError("unreachable")

    async def write(
        self, operation: str, body: Body[_T], resolve: Body[_T | None] | None = None
    ) -> _T:
        """Run a write, once: a caller cancelled meanwhile does not stop it.

        When the connection fails while the write is on its way, whether it happened is not
        known: ``resolve`` (a read) decides from the stored state if given (its result, or
        ``None`` when the write did not take effect); otherwise the ``StorageError`` says so.
        The write itself is never sent again.
        """
        if self.schema is None or self.closed:
            await self.ready(operation)
        # The write runs in a task of its own, which hands its outcome to ``outcome``: the
        # caller awaits that future, so cancelling the caller cancels the wait, not the write.
        outcome: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._write(operation, body, resolve, outcome))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await outcome

    async def _write(
        self,
        operation: str,
        body: Body[_T],
        resolve: Body[_T | None] | None,
        outcome: asyncio.Future[_T],
    ) -> None:
        try:
            result = await self._write_once(operation, body, resolve)
        except asyncio.CancelledError:
            outcome.cancel()
            raise
        except Exception as error:
            if not outcome.done():
                outcome.set_exception(error)
        else:
            if not outcome.done():
                outcome.set_result(result)

    async def _write_once(
        self, operation: str, body: Body[_T], resolve: Body[_T | None] | None
    ) -> _T:
        try:
            return await self._run(body)
        except PoolTimeout as error:  # nothing was sent
            failure = await self._diagnosed(operation, error, self._busy)
            raise failure from failure.__cause__
        except psycopg.Error as error:
            if resolve is None or not connection_lost(error):
                raise self._error(operation, error, wrote=True) from error
            lost = error
        try:
            resolved = await self.read(f"{operation} (checking whether it was stored)", resolve)
        except StorageError as error:
            raise self._error(operation, lost, wrote=True) from error
        if resolved is None:
            raise self.failure(
                f"{operation}: the connection was lost and it did not take effect"
                " (it can be tried again)",
                lost,
            ) from lost
        return resolved

    @property
    def _busy(self) -> str:
        return f"no connection within {self._timeout:g} s"

    def _error(self, operation: str, error: psycopg.Error, *, wrote: bool) -> StorageError:
        if wrote and connection_lost(error):
            return self.failure(
                f"{operation}: the connection was lost, so it may or may not have been stored",
                error,
            )
        return self.failure(operation, error)

    async def close(self) -> None:
        """Finish the writes under way, then close the pool if it is the store's own."""
        self.closed = True
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        recent, self._recent = self._recent, None
        if recent is not None and self._pool is not None:
            await self._pool.putconn(recent)
        if self._owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


# Pools being closed at the end of their event loop (a reference keeps each closing task alive).
_closing: set[asyncio.Task[None]] = set()


async def _close_all(recent: AsyncConnection[Any] | None, pool: AsyncConnectionPool[Any]) -> None:
    if recent is not None:  # kept out of the pool, so closing the pool would not close it
        await recent.close()
    await pool.close()
