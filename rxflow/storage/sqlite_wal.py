"""Copying ``SQLiteStorage``'s write-ahead log back into the database file, off the writer's path.

In WAL mode SQLite copies the log into the file (a "checkpoint", with two fsyncs) on whichever
connection's commit makes the log pass ``wal_autocheckpoint`` pages. Under a server's load that
is the event loop's thread, every few dozen runs, and the loop stalls for the copy. Here the
writer's connection checkpoints only as a backstop (:data:`BACKSTOP_PAGES`); a thread of its own,
with its own connection, runs passive checkpoints after every :data:`EVERY_COMMITS` commits. A
passive checkpoint takes no lock writers wait for, and SQLite releases the GIL while it copies,
so the copy runs beside the loop instead of inside it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

__all__ = ["BACKSTOP_PAGES", "EVERY_COMMITS", "WalCheckpointer"]

BACKSTOP_PAGES = 8192
"""The writer's own ``wal_autocheckpoint``: reached only when the thread falls far behind."""

EVERY_COMMITS = 64
"""Write commits between two passive checkpoints (a few hundred log pages under load)."""


class WalCheckpointer:
    """A daemon thread that checkpoints the file at ``path`` when :meth:`committed` has been
    called :data:`EVERY_COMMITS` times since its last checkpoint (started by the first such
    wake, so a store that writes little never has one)."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.checkpoints = 0  # passive checkpoints run (for tests and diagnostics)
        self._commits = 0  # only the writer's thread (under its connection lock) counts
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None  # started by the first wake

    def committed(self) -> None:
        """Note one write commit (cheap: a counter, and an event every so many)."""
        self._commits += 1
        if self._commits >= EVERY_COMMITS:
            self._commits = 0
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="rxflow-sqlite-wal", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def stop(self, *, wait: bool = True) -> None:
        """Stop the thread; with ``wait``, once a checkpoint under way is done (the writer's
        close then copies what is left)."""
        self._stopping = True
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                # A failed checkpoint (the file busy, or gone) leaves the log to the writer's
                # backstop; the next wake tries again.
                with contextlib.suppress(sqlite3.Error):
                    if conn is None:
                        conn = sqlite3.connect(
                            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None
                        )
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
