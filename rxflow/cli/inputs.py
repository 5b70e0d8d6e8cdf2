"""Reading the JSON a command line gives: ``--input JSON``, ``--input @file.json``, stdin."""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import Any

from .exits import UsageProblem

__all__ = ["parse_json_option", "parse_object_option", "read_input"]


def parse_json_option(option: str, text: str) -> Any:
    """The JSON value of ``option``: the text itself, ``@path`` for a file's content, or ``-``
    for stdin. A syntax error names the option, the file if any, and the position."""
    if text == "-":
        return _parse(option, sys.stdin.read(), "stdin")
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, encoding="utf-8") as file:
                content = file.read()
        except OSError as error:
            raise UsageProblem(f"{option} {text}: cannot read {path!r}: {error.strerror}") from None
        return _parse(option, content, path)
    return _parse(option, text, None)


def parse_object_option(option: str, text: str | None) -> dict[str, Any] | None:
    """A JSON option that must be an object (``--request-context``, ``--state``)."""
    if text is None:
        return None
    value = parse_json_option(option, text)
    if not isinstance(value, dict):
        raise UsageProblem(f"{option} must be a JSON object, got {json.dumps(value)[:60]}")
    return value


def read_input(text: str | None) -> Any:
    """The run's input: ``--input`` when given, else stdin when it is a pipe or a file
    (never a terminal), else ``None``."""
    if text is not None:
        return parse_json_option("--input", text)
    if _stdin_has_data():
        content = sys.stdin.read()
        return _parse("--input", content, "stdin") if content.strip() else None
    return None


def _stdin_has_data() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _parse(option: str, text: str, source: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f" ({source})" if source else ""
        line = text.splitlines()[error.lineno - 1] if text.strip() else ""
        pointer = f"\n  {line}\n  {' ' * (error.colno - 1)}^" if line and len(line) < 200 else ""
        raise UsageProblem(
            f"{option}{where}: invalid JSON at line {error.lineno}, column {error.colno}: "
            f"{error.msg}{pointer}"
        ) from None
