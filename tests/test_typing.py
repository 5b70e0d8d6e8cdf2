"""Types that help: mypy --strict and pyright (basic) are clean on the examples and on a typed
module of the public API (tests/typed_api.py, ``assert_type`` checks), and the README's
editable install leaves the package visible to type checkers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = [str(ROOT / "examples"), str(ROOT / "tests" / "typed_api.py")]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_mypy_strict_is_clean_on_the_examples_and_the_typed_module(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), *CHECKED]
    done = _run(command, ROOT, _env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyright_is_clean_on_the_examples_and_the_typed_module() -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which(
        "pyright"
    )
    if pyright is None:
        message = "pyright is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = _run([pyright, "--pythonpath", sys.executable, *CHECKED], ROOT, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout, done.stdout


def test_the_typed_module_runs() -> None:
    done = _run([sys.executable, str(ROOT / "tests" / "typed_api.py")], ROOT, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "success [1, 2, 3] 10\n"


def test_mypy_finds_the_package_after_the_readme_editable_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("venv") is None:
        pytest.fail("the venv module is missing (on Debian and Ubuntu: apt install python3-venv)")
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, dict(os.environ))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the README's command: python -m pip install -e . (run from the project folder)
    installed = _run([str(python), "-m", "pip", "install", "-q", "-e", "."], ROOT, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # mypy, run from elsewhere, sees only what the venv's install put on its path
    example = tmp_path / "order_pipeline.py"
    example.write_text((ROOT / "examples" / "order_pipeline.py").read_text())
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--python-executable",
        str(python),
        "--cache-dir",
        str(tmp_path / "cache"),
        str(example),
    ]
    checked = _run(command, tmp_path, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_event_class_types_its_type_as_a_literal() -> None:
    import typing

    from rxflow.events import EVENT_TYPES

    for name, cls in EVENT_TYPES.items():
        hint = typing.get_type_hints(cls)["type"]
        assert typing.get_origin(hint) is typing.ClassVar, cls
        (literal,) = typing.get_args(hint)
        assert typing.get_args(literal) == (name,), cls
