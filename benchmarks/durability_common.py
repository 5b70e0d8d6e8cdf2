"""Shared pieces of the durability benchmark: the step output every variant writes, the
PostgreSQL server it may use, and a scratch schema per measurement. No framework here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

# Every step returns {"n": <counter>, "text": TEXT}: about 200 bytes once written as JSON.
TEXT = "rxflow durability benchmark payload; " * 4 + "-" * 32
DSN_VARIABLES = ("RXFLOW_BENCH_POSTGRES_DSN", "RXFLOW_TEST_POSTGRES_DSN")


def first_input() -> dict:
    return {"n": 0, "text": TEXT}


def next_output(x: dict) -> dict:
    """What every step returns for its input `x` (the floors write the same)."""
    return {"n": x["n"] + 1, "text": x["text"]}


def postgres_dsn() -> str | None:
    """The PostgreSQL server to measure on, from the environment (None: skip PostgreSQL)."""
    for name in DSN_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def describe_server(dsn: str) -> str:
    """Server version, host and database of `dsn`, never its password."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        host = conn.info.host if not conn.info.host.startswith("/") else "unix socket"
        return f"PostgreSQL {version} on {host}, database {conn.info.dbname}"


@contextmanager
def scratch_schema(dsn: str) -> Iterator[str]:
    """A new schema for one measurement, dropped afterwards; yields a DSN whose tables
    go there, so that every measurement starts from empty tables."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"rxbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    options = conninfo_to_dict(dsn).get("options") or ""
    scoped = make_conninfo(dsn, options=f"{options} -c search_path={name}".strip())
    try:
        yield scoped
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")
