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

INSTALL_AND_EXAMPLE = "python3 -m pip install -e . && python3 examples/order_pipeline.py"
TEST_COMMAND = "python3 -m pip install -e '.[test]' && python3 -m pytest -q"


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
    assert len(BLOCKS) >= 10
    # Every fence that opens a python block is one of those found (none half-matched).
    assert README.count("```python\n") == len(BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=block_title)
def test_python_block_runs(index: int, tmp_path: Path) -> None:
    code = BLOCKS[index]
    # The blocks import this checkout of rxflow, installed or not.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
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
