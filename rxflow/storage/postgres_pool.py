"""The connections of ``PostgresStorage``: opening (fast failure, the schema), reads retried, writes
carried out once, and every driver error turned into ``StorageError`` naming the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import select
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, pq
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..errors import StorageError
from .postgres_schema import channel_of, migrate

__all__ = ["Connections", "connection_lost", "describe_server"]

_T = TypeVar("_T")
Body = Callable[[AsyncConnection[Any]], Awaitable[_T]]

# Seconds to wait before each new try of a read that lost its connection (about 3.3 s in all,
# long enough to ride out a server restart or a failover of a few seconds), with jitter.
_READ_DELAYS = (0.05, 0.25, 1.0, 2.0)
# Connection-level failures: SQLSTATE class 08, the server shutting down or restarting
# (57P01-57P03), or no SQLSTATE at all (the socket failed under the driver).
_LOST_STATES = ("57P01", "57P02", "57P03")
_WHERE_KEYS = ("host", "hostaddr", "port", "dbname", "user", "password")


def connection_lost(error: BaseException) -> bool:
    """Whether ``error`` means the connection failed (not that the statement was refused)."""
    if isinstance(error, PoolTimeout) or not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith("08") or state in _LOST_STATES


def describe_server(params: dict[str, Any]) -> str:
    """Where a connection goes, for messages: host, port, database and user, never a password."""
    host = params.get("host") or params.get("hostaddr") or "the default host"
    database = params.get("dbname") or params.get("user") or "the default database"
    parts = [f"host {host!r}" if host != "the default host" else host]
    if params.get("port"):
        parts.append(f"port {params['port']}")
    parts.append(f"database {database!r}" if database != "the default database" else database)
    if params.get("user"):
        parts.append(f"user {params['user']!r}")
    return "PostgreSQL at " + ", ".join(parts)


def _readable(conn: AsyncConnection[Any]) -> bool:
    """Whether an idle connection has input waiting: the server closed it or ended its session.

    An idle connection of ours is sent nothing, so input there means it is probably dead; one
    ``select`` call tells, without a round trip to the server.
    """
    try:
        return bool(select.select([conn.pgconn.socket], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


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
        params = _parse(conninfo) if isinstance(conninfo, str) else {}
        if pool is not None:  # connection options given beside the pool's conninfo
            params.update((k, v) for k, v in _plain(pool.kwargs).items() if k in _WHERE_KEYS)
        self._password = str(params.get("password") or "")
        self.where = describe_server(params)
        self.schema: str | None = None
        self._opening: asyncio.Lock | None = None
        self._writes: set[asyncio.Task[Any]] = set()
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
            conninfo, kwargs = self._pool.conninfo, _plain(self._pool.kwargs)
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
            async with self._connection() as conn:
                return await migrate(conn)
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
                _closing.add(closer := asyncio.ensure_future(pool.close()))
                closer.add_done_callback(_closing.discard)
            raise

    # -- running operations -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = self._pool
        assert pool is not None
        conn = await pool.getconn(self._timeout)
        for _ in range(self._max_size + 1):
            if not _readable(conn):
                break
            try:  # input on an idle connection: one real check decides
                await AsyncConnectionPool.check_connection(conn)
                break
            except psycopg.Error:
                await pool.putconn(conn)  # broken: the pool drops it and opens another
                conn = await pool.getconn(self._timeout)
        try:
            yield conn
            if not conn.autocommit and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                await conn.commit()
        except BaseException:
            if not conn.autocommit and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await conn.rollback()
            raise
        finally:
            await pool.putconn(conn)

    async def read(self, operation: str, body: Body[_T]) -> _T:
        """Run a read; when the connection fails it is tried again on another, a few times."""
        await self.ready(operation)
        for delay in (*_READ_DELAYS, None):
            try:
                async with self._connection() as conn:
                    return await body(conn)
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
        await self.ready(operation)
        task = asyncio.ensure_future(self._write(operation, body, resolve))
        self._writes.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _write(self, operation: str, body: Body[_T], resolve: Body[_T | None] | None) -> _T:
        try:
            async with self._connection() as conn:
                return await body(conn)
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
        if self._owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


# Pools being closed at the end of their event loop (a reference keeps each closing task alive).
_closing: set[asyncio.Task[None]] = set()


def _parse(dsn: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        # The driver's message may quote the string, password included: not repeated here.
        raise ValueError(
            "dsn is not a PostgreSQL connection string (a URI such as"
            " 'postgresql://user@host:5432/dbname' or 'host=... dbname=...')"
        ) from None


def _plain(kwargs: Any) -> dict[str, Any]:
    return dict(kwargs or {})


def _settled(task: asyncio.Task[Any]) -> None:
    # A write whose caller was cancelled still ends; its error is not left unretrieved.
    if not task.cancelled():
        task.exception()
