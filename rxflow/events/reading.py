"""``from_dict``: read a wire dict (rxflow's or Mastra's) back into its event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rxflow.convert import converter, structure_wire
from rxflow.events.chunks import EVENT_TYPES, CustomChunk, Event

__all__ = ["from_dict"]


def _first_difference(given: Any, rebuilt: Any, path: str) -> str | None:
    """Where a wire dict and its re-written form differ (so we can say what is malformed)."""
    if isinstance(given, Mapping) and isinstance(rebuilt, Mapping):
        for key in given:
            if key not in rebuilt:
                return f"{path}{key} is not expected here"
        for key in rebuilt:
            if key not in given:
                return f"{path}{key} is missing"
        for key in given:
            found = _first_difference(given[key], rebuilt[key], f"{path}{key}.")
            if found:
                return found
        return None
    if given != rebuilt or type(given) is not type(rebuilt):
        return f"{path.rstrip('.') or 'value'} is not plain JSON data ({given!r})"
    return None


def from_dict(data: Mapping[str, Any]) -> Event:
    """Read a wire dict back into its event: ``from_dict(d).to_dict() == d``.

    User values stay plain JSON data and errors stay ``{message, name, ...}`` dicts. Raises
    ``ValueError`` naming what is wrong for an unknown ``type`` or a malformed dict.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"an event must be a mapping, got {data!r}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"an event needs a string 'type', got {kind!r}")
    cls: type[Any] | None = CustomChunk if kind.startswith("data-") else EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    event: Event = (
        converter.structure(data, CustomChunk)
        if cls is CustomChunk
        else structure_wire(data, cls, what=f"{kind!r} event")
    )
    problem = _first_difference(data, event.to_dict(), "")
    if problem:
        raise ValueError(f"malformed {kind!r} event: {problem}")
    return event
