"""What ``PostgresStorage`` knows of the server it talks to: where it is (for messages, never
with the password), whether a driver error means the connection failed, whether an idle
connection has input waiting.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

__all__ = [
    "WHERE_KEYS",
    "connection_lost",
    "describe_server",
    "has_input",
    "parse_dsn",
    "plain_kwargs",
]

# Connection-level failures: SQLSTATE class 08, the server shutting down or restarting
# (57P01-57P03), or no SQLSTATE at all (the socket failed under the driver).
_LOST_STATES = ("57P01", "57P02", "57P03")
# The connection options that say where a connection goes (and the password, to hide it).
WHERE_KEYS = ("host", "hostaddr", "port", "dbname", "user", "password")


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


def has_input(conn: AsyncConnection[Any]) -> bool:
    """Whether an idle connection has input waiting: the server closed it or ended its session.

    An idle connection of ours is sent nothing, so input there means it is probably dead; one
    ``select`` call tells, without a round trip to the server.
    """
    try:
        return bool(select.select([conn.pgconn.socket], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


def parse_dsn(dsn: str) -> dict[str, Any]:
    """The parts of a connection string; ``ValueError`` (not quoting it) when it is not one."""
    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        # The driver's message may quote the string, password included: not repeated here.
        raise ValueError(
            "dsn is not a PostgreSQL connection string (a URI such as"
            " 'postgresql://user@host:5432/dbname' or 'host=... dbname=...')"
        ) from None


def plain_kwargs(kwargs: Any) -> dict[str, Any]:
    """Connection options given to a pool, as a plain dict."""
    return dict(kwargs or {})
