"""Docstrings use Sphinx roles (:meth:`x`, :class:`~a.b.C`); show them as plain code names."""

from __future__ import annotations

import re
from typing import Any

# Markdown renders :meth:`x` as ":meth:<code>x</code>"; a leading ~ keeps the last name only.
_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):<code>(~?)([\w.]+)</code>")


def _plain(match: re.Match[str]) -> str:
    name = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
    return f"<code>{name}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_plain, html)
