"""``from_dict``: read a wire dict (rxflow's or Mastra's) back into its event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rxflow.convert import converter, structure_wire, wire_difference
from rxflow.events.chunks import EVENT_TYPES, CustomChunk, Event

__all__ = ["from_dict"]


def from_dict(data: Mapping[str, Any]) -> Event:
    """Read a wire dict back into its event: ``from_dict(d).to_dict() == d`` for any dict
    rxflow wrote.

    Mastra leaves out what has no value (a step's input or output, resume data, a foreach's
    step call id, the optional usage counters, ...): such keys read as ``None`` (counters as 0
    on the wire) and ``to_dict()`` writes them back in rxflow's full form. User values stay
    plain JSON data and errors stay ``{message, name, ...}`` dicts. Raises ``ValueError``
    naming what is wrong for an unknown ``type``, a missing required key (``type``, ``runId``,
    ids, statuses, counts), a key that does not belong, or a malformed value.
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
    problem = wire_difference(data, event)
    if problem:
        raise ValueError(f"malformed {kind!r} event: {problem}")
    return event
