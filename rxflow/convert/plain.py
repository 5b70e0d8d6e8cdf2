"""Plain JSON data for any value (``to_wire``; user classes keep their own field names), and
errors as ``{message, name}`` both ways."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

from rxflow.convert.converter import NONE_TYPE, Mismatch, converter

__all__ = ["PLAIN_SCALARS", "ErrorValue", "error_to_wire", "to_wire"]

#: What an ``error`` attribute holds: the exception object, or its wire dict once read back.
ErrorValue = BaseException | dict[str, Any] | None


def error_to_wire(exc: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    """``{"message", "name"}`` for an exception (no stack); a mapping passes through as a dict."""
    if isinstance(exc, Mapping):
        return dict(exc)
    return {"message": str(exc), "name": type(exc).__name__}


#: The classes of values that are already plain JSON scalars.
PLAIN_SCALARS = frozenset({str, int, float, bool, NONE_TYPE})


def to_wire(value: Any) -> Any:
    """Plain JSON-able data for ``value``.

    rxflow's own classes (events, results, ``Usage``) get their camelCase wire form; user
    attrs/dataclass values keep their own field names; exceptions become
    ``{"message", "name"}``; tuples and sets become lists; datetimes ISO 8601 strings.

    Values that are already plain JSON data (scalars, and dicts with string keys and lists
    of them) are copied without the converter's per-value dispatch: snapshots convert every
    step's input and output, and most of those are plain.
    """
    cls = value.__class__
    if cls in PLAIN_SCALARS:
        return value
    if cls is dict:
        return {
            k if k.__class__ is str else converter.unstructure(k): to_wire(v)
            for k, v in value.items()
        }
    if cls is list:
        return [to_wire(item) for item in value]
    return converter.unstructure(value)


def _as_list(items: Any) -> list[Any]:
    return [converter.unstructure(item) for item in items]


def _is_exception_class(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseException)


converter.register_unstructure_hook_factory(_is_exception_class, lambda _: error_to_wire)
converter.register_unstructure_hook(tuple, _as_list)
converter.register_unstructure_hook(set, _as_list)
converter.register_unstructure_hook(frozenset, _as_list)
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook(time, time.isoformat)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_unstructure_hook(PurePath, str)


def _error_from_wire(value: Any, _: Any) -> Any:
    if value is None or isinstance(value, BaseException):
        return value
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("message"), str)
        and isinstance(value.get("name"), str)
    ):
        return dict(value)
    raise Mismatch("error ({message, name})", value)


converter.register_structure_hook_func(lambda t: t == ErrorValue, _error_from_wire)
