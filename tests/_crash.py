"""What the crash tests share: the stores they run on, worker processes, and waiting on files.

The ``store_spec`` fixture gives a store spec per store under test: SQLite always, PostgreSQL when
``RXFLOW_TEST_POSTGRES_DSN`` names a server (and always in CI, where a missing server fails them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _postgres import fresh_schema, in_ci

HERE = Path(__file__).parent
WORKER = HERE / "crash_worker.py"
BOUND = 60.0  # seconds; a guard against hangs, never a pacing delay


def backends() -> list[str]:
    names = ["sqlite"]
    if os.environ.get("RXFLOW_TEST_POSTGRES_DSN") or in_ci():
        names.append("postgres")  # without a server, in CI, the fixture fails these tests
    return names


@pytest.fixture(params=backends())
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store spec for ``crash_app.open_store``: a fresh SQLite file, or a fresh schema."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'runs.db'}"
    return f"postgres:{fresh_schema(str(tmp_path))}"


@pytest.fixture
def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RXFLOW_TEST_DIR", str(tmp_path))
    for name in (
        "RXFLOW_TEST_BLOCK_AT",
        "RXFLOW_TEST_HOLD",
        "RXFLOW_TEST_DURABILITY",
        "RXFLOW_TEST_LEASE_TTL",
        "RXFLOW_TEST_GO_ON",
    ):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


def spawn(
    mode: str, spec: str, run_id: str, arg: object = None, **env: str
) -> subprocess.Popen[str]:
    """A worker process (see ``crash_worker.py``); ``env`` adds environment variables."""
    args = [sys.executable, str(WORKER), mode, spec, run_id]
    if arg is not None:
        args.append(str(arg))
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    """Poll a condition (a file, a process's exit) until it holds; fail after ``bound``."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(BOUND)
    assert process.returncode == -signal.SIGKILL


def died_by_sigkill(process: subprocess.Popen[str]) -> None:
    """The worker killed itself with SIGKILL (it read what it waited for)."""
    _, err = process.communicate(timeout=BOUND)
    assert process.returncode == -signal.SIGKILL, err


def finish(process: subprocess.Popen[str]) -> str:
    """The worker's output line, once it exited cleanly."""
    out, err = process.communicate(timeout=BOUND)
    assert process.returncode == 0, err
    return out.strip()


def ready_pids(workdir: Path) -> list[int]:
    return sorted(int(p.name.split(".")[1]) for p in workdir.glob("ready.*"))
