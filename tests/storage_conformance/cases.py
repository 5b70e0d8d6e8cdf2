"""The stores the conformance suite runs on, and what the suite needs to know about each.

To add a store: write a ``StoreCase`` subclass (how to open it, how to damage a run's stored
data, how to measure its writes) and append an instance to ``CASES``.
"""

from __future__ import annotations

import os
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from _postgres import execute, fresh_schema

from rxflow.storage import InMemoryStorage, SQLiteStorage, Storage

T0 = 1_700_000_000_000


class FakeClock:
    """A store's clock that only moves when the test says so (integer epoch milliseconds)."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


class Meter:
    """Measures one store's writes: ``mark()`` before a write, ``written_since(mark)`` after
    it gives the bytes that write cost; ``stored()`` is what the store keeps in all."""

    def mark(self) -> int:
        raise NotImplementedError

    def written_since(self, mark: int) -> int:
        raise NotImplementedError

    def stored(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Stop measuring."""


class StoreCase:
    """One store under test."""

    name = "?"
    #: Whether other processes can open the same store (``spec`` then says how).
    shared = False
    #: Whether the store keeps the dicts it is given as they are (no serialising, no copy).
    by_reference = False

    def open(self, tmp_path: Path, **options: Any) -> Storage:
        """A new, empty store; ``options`` are constructor keywords (``clock``, ``lease_ttl``)."""
        raise NotImplementedError

    def spec(self, tmp_path: Path) -> str:
        """How ``worker.py`` opens the store ``open(tmp_path)`` opened, in another process."""
        raise NotImplementedError(f"{self.name} stores are not shared between processes")

    async def corrupt(self, store: Storage, workflow_id: str, run_id: str) -> None:
        """Damage the run's stored data so that it can no longer be read."""
        raise NotImplementedError

    def meter(self, store: Storage, tmp_path: Path) -> Meter:
        raise NotImplementedError


class _AllocationMeter(Meter):
    """For a store in this process's memory: bytes allocated (written) and still held (stored)."""

    def __init__(self) -> None:
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()

    def mark(self) -> int:
        tracemalloc.reset_peak()
        return tracemalloc.get_traced_memory()[0]

    def written_since(self, mark: int) -> int:
        return tracemalloc.get_traced_memory()[1] - mark

    def stored(self) -> int:
        return tracemalloc.get_traced_memory()[0]

    def close(self) -> None:
        if self._started:
            tracemalloc.stop()


class MemoryCase(StoreCase):
    name = "memory"
    by_reference = True

    def open(self, tmp_path: Path, **options: Any) -> Storage:
        return InMemoryStorage(**options)

    async def corrupt(self, store: Storage, workflow_id: str, run_id: str) -> None:
        # The one way an in-memory run becomes unreadable: its live snapshot cannot be built.
        def broken() -> dict[str, Any]:
            raise ValueError("the live snapshot builder failed")

        assert isinstance(store, InMemoryStorage)
        assert store.follow_live(workflow_id, run_id, broken)

    def meter(self, store: Storage, tmp_path: Path) -> Meter:
        return _AllocationMeter()


def _bytes_written_by_this_process() -> int:
    with open("/proc/self/io", encoding="ascii") as io:
        for line in io:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


class _FileMeter(Meter):
    """For a store in an SQLite file: bytes this process wrote (the store's worker thread
    included), and the JSON text its tables hold."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def mark(self) -> int:
        return _bytes_written_by_this_process()

    def written_since(self, mark: int) -> int:
        return _bytes_written_by_this_process() - mark

    def stored(self) -> int:
        conn = sqlite3.connect(self._path)
        try:
            runs = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(snapshot) + COALESCE(LENGTH(patch), 0)), 0)"
                " FROM rxflow_workflow_snapshot"
            ).fetchone()[0]
            results = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(result)), 0) FROM rxflow_step_result"
            ).fetchone()[0]
        finally:
            conn.close()
        return int(runs) + int(results)


class SQLiteCase(StoreCase):
    name = "sqlite"
    shared = True

    def open(self, tmp_path: Path, **options: Any) -> Storage:
        return SQLiteStorage(tmp_path / "runs.db", **options)

    def spec(self, tmp_path: Path) -> str:
        return f"sqlite:{tmp_path / 'runs.db'}"

    async def corrupt(self, store: Storage, workflow_id: str, run_id: str) -> None:
        assert isinstance(store, SQLiteStorage)
        conn = sqlite3.connect(store.path)
        try:
            with conn:
                conn.execute(
                    "UPDATE rxflow_workflow_snapshot SET snapshot = '{not json'"
                    " WHERE workflow_id = ? AND run_id = ?",
                    (workflow_id, run_id),
                )
        finally:
            conn.close()

    def meter(self, store: Storage, tmp_path: Path) -> Meter:
        if not os.path.exists("/proc/self/io"):
            pytest.skip("bytes written are counted from /proc/self/io (Linux)")
        return _FileMeter(tmp_path / "runs.db")


class _WalMeter(Meter):
    """For a store in PostgreSQL: the bytes of write-ahead log the server wrote (every change
    goes through it), and the JSON text the store's tables hold."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._dsn = dsn
        self._conn = psycopg.connect(dsn, autocommit=True)

    def _lsn(self) -> int:
        row = self._conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
        assert row is not None
        return int(row[0])

    def mark(self) -> int:
        return self._lsn()

    def written_since(self, mark: int) -> int:
        return self._lsn() - mark

    def stored(self) -> int:
        (row,) = execute(
            self._dsn,
            "SELECT (SELECT COALESCE(SUM(octet_length(snapshot::text)"
            " + COALESCE(octet_length(patch::text), 0)), 0) FROM rxflow_workflow_snapshot)"
            " + (SELECT COALESCE(SUM(octet_length(result::text)), 0) FROM rxflow_step_result)",
        )
        return int(row[0])

    def close(self) -> None:
        self._conn.close()


class PostgresCase(StoreCase):
    """A PostgreSQL server (``RXFLOW_TEST_POSTGRES_DSN``), one fresh schema per test."""

    name = "postgres"
    shared = True

    def __init__(self) -> None:
        self._dsns: dict[int, str] = {}  # id of an opened store -> its DSN

    def open(self, tmp_path: Path, **options: Any) -> Storage:
        from rxflow.storage.postgres import PostgresStorage

        dsn = self.spec(tmp_path).partition(":")[2]
        store = PostgresStorage(dsn, **options)
        self._dsns[id(store)] = dsn
        return store

    def spec(self, tmp_path: Path) -> str:
        return f"postgres:{fresh_schema(str(tmp_path))}"

    async def corrupt(self, store: Storage, workflow_id: str, run_id: str) -> None:
        # JSONB holds only JSON: the damage a reader can meet is a snapshot that is no object.
        execute(
            self._dsn(store),
            'UPDATE rxflow_workflow_snapshot SET snapshot = \'["not", "an object"]\''
            " WHERE workflow_id = %s AND run_id = %s",
            (workflow_id, run_id),
        )

    def meter(self, store: Storage, tmp_path: Path) -> Meter:
        return _WalMeter(self.spec(tmp_path).partition(":")[2])

    def _dsn(self, store: Storage) -> str:
        return self._dsns[id(store)]


CASES: list[StoreCase] = [MemoryCase(), SQLiteCase(), PostgresCase()]


def open_spec(spec: str, **options: Any) -> Storage:
    """The store a ``spec`` names, opened in this process (used by ``worker.py``)."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SQLiteStorage(where, **options)
    if kind == "postgres":
        from rxflow.storage.postgres import PostgresStorage

        return PostgresStorage(where, **options)
    raise ValueError(f"unknown store spec {spec!r}")
