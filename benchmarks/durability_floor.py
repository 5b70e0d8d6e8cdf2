"""The database's own cost: the chain's 100 outputs written by hand, one INSERT and one commit
per step, with no framework. sqlite3 on a WAL file with synchronous=NORMAL (rxflow's settings);
psycopg with autocommit on a JSONB column (rxflow's PostgreSQL column type)."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from durability_common import next_output

CREATE = (
    "CREATE TABLE IF NOT EXISTS results ("
    " run_id TEXT NOT NULL, step INTEGER NOT NULL, output {kind} NOT NULL,"
    " PRIMARY KEY (run_id, step))"
)


@asynccontextmanager
async def chain(
    steps: int, db: str, mode: str | None, where: str, dsn: str | None = None
) -> AsyncIterator[Callable[[dict[str, Any], Any], Awaitable[Any]]]:
    """Yield `run(input, probe)`: the steps' outputs computed and stored one by one."""
    if db == "sqlite":
        conn = sqlite3.connect(os.path.join(where, "floor.db"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(CREATE.format(kind="TEXT"))
        sql = "INSERT INTO results (run_id, step, output) VALUES (?, ?, ?)"
        commit = conn.commit
    elif db == "pg":
        import psycopg

        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute(CREATE.format(kind="JSONB"))
        sql = "INSERT INTO results (run_id, step, output) VALUES (%s, %s, %s::jsonb)"

        def commit() -> None:  # autocommit: each INSERT is its own transaction
            pass

    else:
        raise ValueError(f"unknown database {db!r}")
    execute, dumps = conn.execute, json.dumps

    async def run(input_data: dict[str, Any], probe: Any) -> Any:
        run_id = uuid.uuid4().hex
        x = input_data
        probe.start()
        for i in range(steps):
            x = next_output(x)
            execute(sql, (run_id, i, dumps(x)))
            commit()
        return x

    try:
        yield run
    finally:
        conn.close()
