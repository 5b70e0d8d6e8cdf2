"""A PostgreSQL server of a test's own, which the test may stop, start and restart.

The shared test server (``RXFLOW_TEST_POSTGRES_DSN``) is never restarted: other tests use it.
This one is a new cluster (``initdb``) in a temporary directory, started with ``pg_ctl`` on
127.0.0.1 and a free port, with the server programs ``tests/start_postgres.sh`` found
(``RXFLOW_TEST_POSTGRES_BIN``, else ``initdb`` on the PATH or Debian's directory). As root it
runs as the ``postgres`` user, as that script does. Missing programs skip the test, or fail
it when ``CI`` is set.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from _postgres import in_ci, server_dsn

BOUND = 60  # seconds for pg_ctl to start or stop the server


def _bindir() -> str | None:
    given = os.environ.get("RXFLOW_TEST_POSTGRES_BIN", "")
    if given and os.path.exists(os.path.join(given, "pg_ctl")):
        return given
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class OwnServer:
    """One cluster in a new temporary directory (its own, since pytest's are private to this
    user and the server may run as another); ``dsn`` names its database ``rxflow_test``.
    ``close()`` stops it and removes the directory."""

    def __init__(self) -> None:
        server_dsn()  # skip (or fail in CI) exactly when the other PostgreSQL tests do
        bindir = _bindir()
        if bindir is None:
            problem = "the PostgreSQL server programs (initdb, pg_ctl) were not found"
            if in_ci():
                pytest.fail(f"{problem}; CI is set, so the PostgreSQL tests must run")
            pytest.skip(problem)
        self._bin = bindir
        where = Path(tempfile.mkdtemp(prefix="rxflow-own-pg."))
        self._root = where
        self._data = where / "data"
        self._as_root = os.getuid() == 0
        self.port = _free_port()
        sockets = where / "socket"
        sockets.mkdir(parents=True)
        where.chmod(0o755)
        if self._as_root:
            shutil.chown(where, "postgres")
            shutil.chown(sockets, "postgres")
        self._options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sockets}"
            " -c fsync=off -c full_page_writes=off"
        )
        self._run(
            "initdb", "-D", str(self._data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.start()
        base = f"postgresql://postgres@127.0.0.1:{self.port}"
        from _postgres import execute

        execute(f"{base}/postgres", "CREATE DATABASE rxflow_test")
        self.dsn = f"{base}/rxflow_test"

    def _run(self, program: str, *args: str) -> None:
        command = [os.path.join(self._bin, program), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=BOUND)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    def _ctl(self, action: str, *args: str) -> None:
        log = str(self._root / "server.log")
        self._run("pg_ctl", "-D", str(self._data), "-l", log, "-w", "-t", str(BOUND), *args, action)

    def start(self) -> None:
        self._ctl("start", "-o", self._options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session and shuts down cleanly; ``immediate``
        ends the processes at once (the next start recovers from the write-ahead log)."""
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
