"""The documentation site: every ```python block of docs/ runs as written, and the site builds.

Each block runs alone, in a fresh interpreter, in an empty temporary directory, like the README's
blocks. Fragments that are not meant to run on their own are fenced ```py instead. The site is
built with ``mkdocs build --strict``: a broken link, a missing page or a docstring that mkdocstrings
cannot render fails the build.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# Pages of generated API reference: their content is mkdocstrings directives, not examples.
REFERENCE = DOCS / "reference"


def python_blocks(text: str) -> list[str]:
    """The body of every fenced ```python block (the fence alone on its line), in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def page_name(page: Path) -> str:
    return page.relative_to(DOCS).with_suffix("").as_posix()


BLOCKS = [
    (page, index, code)
    for page in PAGES
    for index, code in enumerate(python_blocks(page.read_text(encoding="utf-8")))
]


def test_docs_pages_exist() -> None:
    names = {page_name(page) for page in PAGES}
    assert {"index", "getting-started", "reference/rxflow"} <= names


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_python_fence_is_found(page: Path) -> None:
    # A fence written ```python with something after it on the line would be skipped silently.
    text = page.read_text(encoding="utf-8")
    assert text.count("```python\n") == len(python_blocks(text))
    assert "```python " not in text


@pytest.mark.parametrize("page", [p for p in PAGES if REFERENCE not in p.parents], ids=page_name)
def test_every_guide_page_has_a_runnable_block(page: Path) -> None:
    assert python_blocks(page.read_text(encoding="utf-8")), f"{page_name(page)} has no example"


@pytest.mark.parametrize(
    ("page", "index", "code"),
    BLOCKS,
    ids=[f"{page_name(page)}-{index}" for page, index, _ in BLOCKS],
)
def test_python_block_runs(page: Path, index: int, code: str, tmp_path: Path) -> None:
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
        f"{page_name(page)} python block {index} exited {completed.returncode}\n"
        f"--- code ---\n{code}\n--- stdout ---\n{completed.stdout}\n"
        f"--- stderr ---\n{completed.stderr}"
    )
    assert completed.returncode == 0, report
    # A callback error printed by asyncio or reactivex does not change the exit code.
    assert "Traceback" not in completed.stderr, report


def test_site_builds_strictly(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        message = "mkdocs is not installed (pip install -e '.[docs]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NO_MKDOCS_2_WARNING"] = "1"  # a banner from mkdocs-material, not a build problem
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "rxflow" / "index.html").is_file()
