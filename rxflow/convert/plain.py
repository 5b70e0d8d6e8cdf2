"""JSON data for any value (``to_wire``; user classes keep their own field names) or
``NotJSONError`` naming the path, and errors as ``{message, name}`` both ways."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

import attrs

from rxflow.convert.converter import NONE_TYPE, NOT_KNOWN, Mismatch, converter, show
from rxflow.errors import NotJSONError

__all__ = ["PLAIN_SCALARS", "WIRE_KEYS", "ErrorValue", "error_to_wire", "to_wire"]

#: What an ``error`` attribute holds: the exception object, or its wire dict once read back.
ErrorValue = BaseException | dict[str, Any] | None


def error_to_wire(exc: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    """``{"message", "name"}`` for an exception (no stack); a mapping passes through as a dict."""
    if isinstance(exc, Mapping):
        return dict(exc)
    return {"message": str(exc), "name": type(exc).__name__}


#: The classes of values that are plain JSON scalars (a float only when it is finite).
PLAIN_SCALARS = frozenset({str, int, float, bool, NONE_TYPE})
_EXACT_SCALARS = frozenset({str, int, bool, NONE_TYPE})

#: Wire key of each field, for rxflow's classes with a camelCase wire form (``NotJSONError``
#: paths name the keys the data has).
WIRE_KEYS: dict[type[Any], Mapping[str, str]] = {}


def to_wire(value: Any) -> Any:
    """JSON data for ``value``: dicts, lists, strings, numbers, booleans and ``None``.

    rxflow's own classes (events, results, ``Usage``) get their camelCase wire form; user
    attrs/dataclass values become dicts of their fields; exceptions ``{"message", "name"}``;
    tuples and sets lists; datetimes, dates and times ISO 8601 strings; ``UUID`` and
    ``Decimal`` strings (a string keeps every digit of a ``Decimal``); enums their value;
    classes given to ``register_conversion`` what their hook returns.

    Anything else (an unknown class, bytes, NaN or infinity, a key that is neither a string nor
    a number) raises ``NotJSONError`` naming the path, like ``$.total``.

    Values that are already plain JSON data (scalars, and dicts with string keys and lists
    of them) are copied without the converter's per-value dispatch: snapshots convert every
    step's input and output, and most of those are plain.
    """
    cls = value.__class__
    if cls in _EXACT_SCALARS:
        return value
    if cls is float:
        if value - value == 0.0:  # false for NaN and both infinities
            return value
        return _finite(value)
    try:
        if cls is dict:
            return {k if k.__class__ is str else _key(k): to_wire(v) for k, v in value.items()}
        if cls is list:
            return [to_wire(item) for item in value]
        return converter.unstructure(value)
    except NotJSONError as error:
        # Only on failure: find which part of ``value`` failed, so the path starts here.
        raise _located(value, error) from None


def _finite(value: float) -> float:
    if value - value == 0.0:  # false for NaN and both infinities
        return float(value)
    raise NotJSONError("$", f"{value!r} is not JSON data (JSON has no NaN or infinity)")


def _key(key: Any) -> Any:
    """A mapping key as JSON allows it: a string (or a number, boolean or ``None``, which
    JSON writers turn into strings)."""
    wire = converter.unstructure(key)
    if wire.__class__ in PLAIN_SCALARS:
        return wire
    raise NotJSONError("$", f"the key {show(key)} is not a string; JSON keys are strings")


def _located(value: Any, error: NotJSONError) -> NotJSONError:
    """``error`` with its path from ``value``: the first part of ``value`` that fails to
    convert is converted again (its own error already has the path from that part)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k.__class__ is not str:
                try:
                    _key(k)
                except NotJSONError as bad_key:
                    return bad_key
            found = _failure(v, _segment(k))
            if found is not None:
                return found
    elif isinstance(value, (Sequence, AbstractSet)) and not isinstance(value, (str, bytes)):
        for index, item in enumerate(value):
            found = _failure(item, f"[{index}]")
            if found is not None:
                return found
    else:
        for name, field_value in _fields(value):
            found = _failure(field_value, _segment(name))
            if found is not None:
                return found
    return error


def _failure(part: Any, segment: str) -> NotJSONError | None:
    try:
        to_wire(part)
    except NotJSONError as error:
        return NotJSONError(f"${segment}{error.path[1:]}", error.problem)
    return None


def _segment(key: Any) -> str:
    return f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"


def _fields(value: Any) -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of each field of an attrs or dataclass value, by its wire key."""
    cls = value.__class__
    if attrs.has(cls):
        names = [f.name for f in attrs.fields(cls)]
    elif dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        return
    keys = WIRE_KEYS.get(cls, {})
    for name in names:
        yield keys.get(name, name), getattr(value, name, None)


# -- hooks: what the converter makes of each kind of value ----------------------------------


def _mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    return {k if k.__class__ is str else _key(k): to_wire(v) for k, v in value.items()}


def _as_list(items: Any) -> list[Any]:
    return [to_wire(item) for item in items]


def _plain_str(value: str) -> Any:
    """A ``str`` subclass: an enum's value, else the plain string."""
    if isinstance(value, Enum):
        return to_wire(value.value)
    return str.__str__(value)


def _plain_int(value: int) -> int:
    """An ``int`` subclass (an ``IntEnum``, say): the plain integer."""
    return int(value)


def _refuse_bytes(value: Any) -> Any:
    raise NotJSONError("$", f"{type(value).__name__} {NOT_KNOWN}")


def _enum_value(value: Enum) -> Any:
    return to_wire(value.value)


def _record_hook(cls: Any) -> Callable[[Any], dict[str, Any]]:
    """A user attrs/dataclass class: a dict of its fields by name, each converted by what it
    holds (not by its declared type: a field declared ``int`` may hold anything)."""
    names = [f.name for f in (attrs.fields(cls) if attrs.has(cls) else dataclasses.fields(cls))]

    def record_to_wire(value: Any) -> dict[str, Any]:
        return {name: to_wire(getattr(value, name)) for name in names}

    return record_to_wire


def _is_record(t: Any) -> bool:
    return isinstance(t, type) and (attrs.has(t) or dataclasses.is_dataclass(t))


def _is_collection(t: Any) -> bool:
    return (
        isinstance(t, type)
        and issubclass(t, (Sequence, AbstractSet))
        and not issubclass(t, (str, bytes, bytearray))
    )


def _is_mapping(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, Mapping)


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, Enum)


def _is_exception_class(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseException)


# Later registrations win over earlier ones (and over cattrs' own) for the same type.
converter.register_unstructure_hook_factory(_is_record, _record_hook)
converter.register_unstructure_hook_factory(_is_collection, lambda _: _as_list)
converter.register_unstructure_hook_factory(_is_mapping, lambda _: _mapping)
converter.register_unstructure_hook_factory(_is_enum, lambda _: _enum_value)
converter.register_unstructure_hook_factory(_is_exception_class, lambda _: error_to_wire)
converter.register_unstructure_hook(str, _plain_str)
converter.register_unstructure_hook(int, _plain_int)
converter.register_unstructure_hook(bool, bool)
converter.register_unstructure_hook(float, _finite)
converter.register_unstructure_hook(bytes, _refuse_bytes)
converter.register_unstructure_hook(tuple, _as_list)
converter.register_unstructure_hook(set, _as_list)
converter.register_unstructure_hook(frozenset, _as_list)
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook(time, time.isoformat)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_unstructure_hook(Decimal, str)
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
