"""The layering holds: ``lint-imports`` checks the import contracts in pyproject.toml (the
engine never imports the builder, run, output or a concrete store; storage never imports the
engine; data modules import nothing above them), counting imports inside functions and under
TYPE_CHECKING."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found is not None, "lint-imports is not installed (pip install -e '.[test]')"
    return found


def test_the_import_contracts_hold() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's rxflow, not an installed one
    done = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_type_checking_imports_count() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["exclude_type_checking_imports"] is False
    assert {c["id"] for c in config["contracts"]} >= {
        "engine-below-builder",
        "engine-without-concrete-stores",
        "storage-below-engine",
        "data-at-the-bottom",
    }
