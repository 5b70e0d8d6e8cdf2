"""Running the real ``rxflow`` command in a subprocess, for the command line tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
GUARD = 30  # seconds: a guard against hangs, never a pacing delay


def cli_env(work: Path, **extra: str) -> dict[str, str]:
    """This checkout's rxflow and the test workflows importable; no colour forced; the
    gate directory of ``cli_fixtures.flows`` set to ``work``."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.pop("RXFLOW_APP", None)
    env.pop("RXFLOW_DB", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)])
    env["RXFLOW_CLI_TEST_DIR"] = str(work)
    env["LANG"] = "C.UTF-8"
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rxflow", *args]


def rxflow(
    work: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``rxflow ARGS`` in ``work`` with pipes (not a terminal), to its end."""
    return subprocess.run(
        command(*args),
        cwd=work,
        env=env or cli_env(work),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=GUARD * 2,
    )


def start(work: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``rxflow ARGS`` in the background (pipes, not a terminal)."""
    return subprocess.Popen(
        command(*args),
        cwd=work,
        env=cli_env(work),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], Any], what: str, timeout: float = GUARD) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def stored_runs(work: Path, db: str = "runs.db") -> list[dict[str, Any]]:
    done = rxflow(work, "runs", "--db", db, "--json", "--limit", "100")
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


_VOLATILE_IDS = {"runId", "stepCallId"}


def without_ids(value: Any) -> Any:
    """A wire form with run ids, step call ids and timestamps (keys ending in ``At``) masked."""
    if isinstance(value, dict):
        return {
            k: "<id>" if k in _VOLATILE_IDS else "<ms>" if k.endswith("At") else without_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value
