"""Tracing options (SPEC §12): where a run's spans go and what they carry."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["TracingOptions"]

_HEX = re.compile(r"[0-9a-fA-F]+")


def _hex_id(option: str, width: int) -> Any:
    def convert(value: str | None) -> str | None:
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= width
            or not _HEX.fullmatch(value)
            or int(value, 16) == 0
        ):
            raise ValueError(
                f"TracingOptions.{option} must be 1-{width} hex characters and not all zeros, "
                f"got {value!r}"
            )
        return value.lower().rjust(width, "0")

    return convert


def _tags(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"TracingOptions.tags must be a list of strings, got {value!r}")
    return tuple(value)


def _keys(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(k, str) and k for k in value):
        raise ValueError(
            f"TracingOptions.request_context_keys must be a list of strings, got {value!r}"
        )
    return tuple(value)


def _metadata(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"TracingOptions.metadata must be a mapping, got {value!r}")
    return dict(value)


@attrs.frozen(slots=True)
class TracingOptions:
    """Per-run tracing options.

    ``trace_id`` (1–32 hex, left-padded to 32) and ``parent_span_id`` (1–16 hex, padded to 16)
    place the run span in that trace under that parent; an invalid one raises ``ValueError``
    naming the option. ``metadata`` and ``tags`` go on the run span; ``request_context_keys``
    (dot notation, ``"user.id"``) are read from the request context into span attributes.
    """

    metadata: dict[str, Any] | None = attrs.field(default=None, converter=_metadata)
    request_context_keys: tuple[str, ...] | None = attrs.field(default=None, converter=_keys)
    trace_id: str | None = attrs.field(default=None, converter=_hex_id("trace_id", 32))
    parent_span_id: str | None = attrs.field(default=None, converter=_hex_id("parent_span_id", 16))
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_tags)
