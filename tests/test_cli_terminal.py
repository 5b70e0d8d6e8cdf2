"""``rxflow run`` in a real terminal (tmux): the live tree and a foreach's progress bar
advancing, then Ctrl-C cancelling the run for real (exit 4, stored ``canceled``, the step body
saw ``CancelledError``). Fails, not skips, without tmux on CI."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli import GUARD, ROOT, TESTS, stored_runs, wait_for


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[list[str]]:
    """The tmux command on a private server (its socket in ``tmp_path``)."""
    if shutil.which("tmux") is None:
        message = "tmux is not installed (apt-get install tmux)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = ["tmux", "-u", "-S", str(tmp_path / "tmux.sock")]
    yield base
    subprocess.run([*base, "kill-server"], capture_output=True, timeout=GUARD)


def _screen(tmux: list[str]) -> str:
    done = subprocess.run(
        [*tmux, "capture-pane", "-p", "-J", "-t", "cli"],
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    return done.stdout


def _showing(tmux: list[str], text: str) -> str:
    """The screen once it shows ``text``."""

    def shown() -> str:
        screen = _screen(tmux)
        return screen if text in screen else ""

    return str(wait_for(shown, repr(text)))


def _counts(screen: str) -> list[int]:
    return [int(n) for n in re.findall(r"(\d+)/10\b", screen)]


def test_live_view_and_ctrl_c_in_a_terminal(tmp_path: Path, tmux: list[str]) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
        "RXFLOW_CLI_TEST_DIR": str(tmp_path),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    run = (
        f"cd {shlex.quote(str(tmp_path))} && env -u NO_COLOR -u FORCE_COLOR {exports} "
        f"{shlex.quote(sys.executable)} -m rxflow run cli_fixtures.flows:slow_items "
        f"--input 10 --db runs.db; echo EXIT=$? > exit.txt; sleep 600"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "cli", "-x", "120", "-y", "30", run],
        check=True,
        timeout=GUARD,
    )

    first = _showing(tmux, "0/10")
    assert re.search(r"^\S+ slow_items  run \S+  running", first, re.MULTILINE), first
    assert "├── ✓ prepare" in first
    assert re.search(r"├── \S process \(foreach, concurrency 2\) .*━*─+ 0/10", first), first
    assert "└── ○ total" in first

    (tmp_path / "allow").write_text("3")
    second = _showing(tmux, "3/10")
    (tmp_path / "allow").write_text("6")
    third = _showing(tmux, "6/10")
    assert max(_counts(first)) < max(_counts(second)) < max(_counts(third))
    assert re.search(r"━+─+ 6/10 .*/s  ETA \d+:\d\d", third), third  # rate and ETA
    assert "› item " in third  # writer output of the running foreach

    subprocess.run([*tmux, "send-keys", "-t", "cli", "C-c"], check=True, timeout=GUARD)
    exit_file = tmp_path / "exit.txt"
    wait_for(exit_file.exists, "the command to exit")
    assert exit_file.read_text().strip() == "EXIT=4"
    assert (tmp_path / "cancelled.marker").read_text().startswith("item ")
    assert [r["status"] for r in stored_runs(tmp_path)] == ["canceled"]
    last = _screen(tmux)
    assert re.search(r"⊘ slow_items  run \S+  canceled", last), last
    assert "⊘ process" in last
    assert re.search(r"run \S+ canceled after .*: 1 step done, process 6/10 items", last), last
