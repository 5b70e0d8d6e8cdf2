"""The examples in examples/ run and print what the README says they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_order_pipeline_streams_to_success() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "order_pipeline.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    assert completed.returncode == 0, report
    lines = completed.stdout.splitlines()
    assert any(line.startswith("workflow-step-progress") for line in lines), report
    assert any(line.startswith("workflow-finish") for line in lines), report
    assert "status: success" in lines, report
