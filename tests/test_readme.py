"""Every ```python block of README.md runs as written, and the set-up commands are the real ones.

Each block runs alone, in a fresh interpreter, in an empty temporary directory: a block that
needs something from another block, a file or a path on this machine fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Each command makes (or reuses) a virtual environment and runs from it, so it works where the
# system Python refuses pip installs (PEP 668), and a second run works like the first.
INSTALL_AND_EXAMPLE = (
    "python3 -m venv .venv && .venv/bin/python -m pip install -e . "
    "&& .venv/bin/python examples/order_pipeline.py"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/python -m pip install -e '.[test,docs]' "
    "&& .venv/bin/python -m pytest -q"
)


def python_blocks(text: str) -> list[str]:
    """The body of every fenced ```python block, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


BLOCKS = python_blocks(README)


def block_title(index: int) -> str:
    """The README heading above a block, for readable test ids."""
    start = README.index(BLOCKS[index])
    headings = re.findall(r"^## (.+)$", README[:start], flags=re.MULTILINE)
    slug = re.sub(r"[^a-z0-9]+", "-", headings[-1].lower()).strip("-") if headings else "top"
    return f"{index:02d}-{slug}"


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 3
    # Every fence that opens a python block is one of those found (none half-matched).
    assert README.count("```python\n") == len(BLOCKS)


def run_block(index: int, cwd: Path) -> None:
    """Run README block ``index`` in a fresh interpreter in ``cwd``; fail with its output."""
    code = BLOCKS[index]
    # The blocks import this checkout of rxflow, installed or not.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = (
        f"README python block {index} exited {completed.returncode}\n"
        f"--- code ---\n{code}\n--- stdout ---\n{completed.stdout}\n"
        f"--- stderr ---\n{completed.stderr}"
    )
    assert completed.returncode == 0, report
    # A callback error printed by asyncio or reactivex does not change the exit code.
    assert "Traceback" not in completed.stderr, report


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=block_title)
def test_python_block_runs(index: int, tmp_path: Path) -> None:
    run_block(index, tmp_path)


DURABLE = [index for index, code in enumerate(BLOCKS) if "SQLiteStorage(" in code]


@pytest.mark.parametrize("index", DURABLE, ids=block_title)
def test_durable_block_runs_twice_in_one_directory(index: int, tmp_path: Path) -> None:
    # A reader who runs an example again finds the files of the first run (runs.db, ...):
    # the second run must work all the same.
    run_block(index, tmp_path)
    run_block(index, tmp_path)


def test_readme_states_the_two_set_up_commands() -> None:
    lines = [line.strip() for line in README.splitlines()]
    assert INSTALL_AND_EXAMPLE in lines
    assert TEST_COMMAND in lines


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    # CI may quiet pip with -q; otherwise it is the README's command.
    normalized = [re.sub(r"pip install -q ", "pip install ", line) for line in commands]
    assert TEST_COMMAND in normalized
