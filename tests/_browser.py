"""Headless Chromium for the run viewer's tests: Debian's /usr/bin/chromium driven by
Playwright (the Python package; it brings its own driver and downloads no browser). Without
them the tests are skipped, except when CI is set: there they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RXFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"Chromium is missing at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is missing (pip install -e '.[test]')"
    return None


def chromium() -> Iterator[Any]:
    """A launched browser (a generator for a fixture); skipped or, under CI, failed without
    Chromium or Playwright."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifacts(factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: RXFLOW_TEST_ARTIFACTS when set, else a directory of the run's
    temporary files."""
    named = os.environ.get("RXFLOW_TEST_ARTIFACTS")
    if named:
        path = Path(named)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return factory.mktemp("viewer-screenshots")
