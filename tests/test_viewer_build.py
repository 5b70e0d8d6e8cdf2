"""The run viewer's committed build (rxflow/server/ui, shipped in the package so installing
rxflow needs no Node) is exactly what its sources (viewer/) build to. Needs viewer's npm
packages (`npm ci --prefix viewer`): skipped without them, failed under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "viewer"
BUILT = ROOT / "rxflow" / "server" / "ui"


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_the_committed_build_equals_a_fresh_build(tmp_path: Path) -> None:
    missing = None
    if shutil.which("npm") is None:
        missing = "npm is needed to build the viewer"
    elif not (VIEWER / "node_modules" / ".bin" / "vite").exists():
        missing = "run `npm ci --prefix viewer` first"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    out = tmp_path / "ui"
    done = subprocess.run(
        ["npm", "run", "build", "--", "--outDir", str(out), "--emptyOutDir"],
        cwd=VIEWER,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fresh, committed = _files(out), _files(BUILT)
    assert (
        sorted(fresh) == sorted(committed) == ["assets/index.css", "assets/viewer.js", "index.html"]
    )
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"rebuild and commit: npm run build --prefix viewer ({stale})"
