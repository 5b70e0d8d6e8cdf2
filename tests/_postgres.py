"""The PostgreSQL server the tests use: its DSN, and a fresh schema per test on it.

The server is named by ``RXFLOW_TEST_POSTGRES_DSN`` (``tests/start_postgres.sh`` starts one and
sets it; ``.ci/run`` does so in CI). Without it the PostgreSQL tests are skipped, except when
``CI`` is set: there a missing server fails them, so CI never passes without running them.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from typing import Any

import pytest

ENV = "RXFLOW_TEST_POSTGRES_DSN"

_schemas: set[str] = set()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def server_dsn() -> str:
    """The test server's DSN; skips the test when there is none (fails it in CI)."""
    dsn = os.environ.get(ENV, "")
    problem = None
    if not dsn:
        problem = f"PostgreSQL is missing: {ENV} is not set (source tests/start_postgres.sh)"
    else:
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError as error:
            problem = (
                f"PostgreSQL tests need the postgres extra (pip install -e '.[test]'): {error}"
            )
    if problem is not None:
        if in_ci():
            pytest.fail(f"{problem}; CI is set, so the PostgreSQL tests must run", pytrace=False)
        pytest.skip(problem)
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``schema`` as the connection's search path (so its tables go there)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, options=f"-c search_path={schema}")


def schema_name(key: str) -> str:
    """A schema name for ``key`` (e.g. a test's temporary directory), unique per key."""
    return "rxflow_test_" + hashlib.sha256(key.encode()).hexdigest()[:20]


def fresh_schema(key: str) -> str:
    """A DSN whose search path is a new, empty schema for ``key`` (made once per key and
    process; dropped when the process exits)."""
    import psycopg

    dsn = server_dsn()
    schema = schema_name(key)
    if schema not in _schemas:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        if not _schemas:
            atexit.register(_drop_schemas, dsn)
        _schemas.add(schema)
    return with_schema(dsn, schema)


def execute(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own; its rows (if it returns any)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


def _drop_schemas(dsn: str) -> None:
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in sorted(_schemas):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except psycopg.Error:
        pass  # the server is already gone (stopped after the tests)
