"""Schema validation: ``conform`` a value to a schema, with one readable ``$.path`` line per
bad field when it does not fit (cattrs' exception groups walked down to each field)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cattrs.errors import (
    ClassValidationError,
    IterableValidationError,
    StructureHandlerNotFoundError,
)

from rxflow.convert.converter import Invalid, Mismatch, converter, show, type_name
from rxflow.convert.models import ModelInvalid
from rxflow.errors import ValidationError

__all__ = ["conform", "error_lines"]

_MISSING: Any = object()


def _child(value: Any, key: Any) -> Any:
    try:
        if isinstance(value, Mapping):
            return value.get(key, _MISSING)
        if isinstance(key, int) and isinstance(value, Sequence):
            return value[key]
        return getattr(value, str(key), _MISSING)
    except Exception:
        return _MISSING


def error_lines(
    exc: BaseException, value: Any, path: str, expected: Any, key: Callable[[str], str]
) -> list[str]:
    """Walk cattrs' exception groups down to each bad field; one message line per field.

    ``key`` turns an attribute name into the key the data uses for it.
    """
    if isinstance(exc, ClassValidationError):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = key(note.name)
            lines += error_lines(sub, _child(value, name), f"{path}.{name}", note.type, key)
        for sub in without:  # the class itself refused the fields (an attrs validator, say)
            lines += error_lines(sub, _MISSING, path, None, key)
        return lines
    if isinstance(exc, IterableValidationError):
        lines = []
        with_items, without_items = exc.group_exceptions()
        for sub, item in with_items:
            sub_path = f"{path}[{item.index!r}]"
            lines += error_lines(sub, _child(value, item.index), sub_path, item.type, key)
        for sub in without_items:
            lines += error_lines(sub, _MISSING, path, None, key)
        return lines
    if isinstance(exc, Mismatch):
        what = f"{exc.expected} key" if exc.role == "key" else exc.expected
        return [f"{path}: expected {what}, got {show(exc.value)}"]
    if isinstance(exc, ModelInvalid):  # pydantic's own messages, under this path
        return [f"{path}{line}" for line in exc.lines]
    if isinstance(exc, KeyError):
        return [f"{path}: required field missing"]
    if isinstance(exc, Invalid) or value is _MISSING or expected is None:
        return [f"{path}: {exc}"]
    return [f"{path}: expected {type_name(expected)}, got {show(value)}"]


def conform(value: Any, schema: Any, *, what: str | None = None) -> Any:
    """Return ``value`` made to fit ``schema``; else raise ``ValidationError`` listing bad fields.

    ``schema`` is an attrs class, a dataclass, a builtin or typing type (``int``, ``list[Item]``,
    ``dict[str, float]``, a ``TypedDict``, ``Optional[...]``, a union), a pydantic model
    (validated by pydantic with its own rules and validators), or ``None`` (anything
    goes, the value is returned unchanged). An instance of the schema class is returned as is;
    a mapping, or an attrs/dataclass instance of another class with the same fields, is
    structured into it. Extra mapping keys are ignored. Nothing is coerced between ``str``,
    numbers and ``bool`` (an ``int`` is accepted for a ``float``). ``what`` (like ``"input of
    step 'double'"``) becomes the heading of the error.
    """
    if schema is None or value.__class__ is schema:
        return value
    try:
        return converter.structure(value, schema)
    except StructureHandlerNotFoundError:
        raise
    except Exception as exc:
        lines = error_lines(exc, value, "$", schema, str)
        raise ValidationError(lines, heading=what) from None
