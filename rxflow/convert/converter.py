"""The one cattrs ``Converter`` rxflow has, with the type names and mismatch errors its hooks
share; the hooks register from the modules beside it."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import cattrs
from cattrs.errors import StructureHandlerNotFoundError

from rxflow.errors import NotJSONError

__all__ = [
    "NONE_TYPE",
    "NOT_KNOWN",
    "Invalid",
    "Mismatch",
    "converter",
    "is_literal",
    "is_union",
    "origin_of",
    "show",
    "type_name",
]

NONE_TYPE = type(None)
_SHOW_LIMIT = 60


class Mismatch(TypeError):
    """A value is not of the expected type (raised by our strict hooks, carries the value)."""

    def __init__(self, expected: str, value: Any, *, role: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.role = role


class Invalid(ValueError):
    """A value has the right shape but its class rejected it (an attrs validator, say)."""


def _fallback(cl: Any) -> Callable[[Any, Any], Any]:
    """For a plain class no hook knows: accept its instances, reject anything else."""
    if not isinstance(cl, type):
        raise StructureHandlerNotFoundError(f"Unsupported schema: {cl!r}", cl)

    def instance_of(value: Any, _: Any) -> Any:
        if isinstance(value, cl):
            return value
        raise Mismatch(type_name(cl), value)

    return instance_of


#: What a value of a class the converter does not know is told (after the class name).
NOT_KNOWN = "is not JSON data; register a conversion or return plain data"


def _unknown(cl: Any) -> Callable[[Any], Any]:
    """For a class no unstructure hook knows: refuse its values (they are not JSON data)."""
    name = type_name(cl)

    def not_json(value: Any) -> Any:
        raise NotJSONError("$", f"{name} {NOT_KNOWN}")

    return not_json


converter = cattrs.Converter(
    detailed_validation=True,
    structure_fallback_factory=_fallback,
    unstructure_fallback_factory=_unknown,
)
"""The converter: strict structure hooks for schemas, wire hooks for rxflow's classes, and
JSON data (or ``NotJSONError``) for everything it unstructures."""


def is_union(t: Any) -> bool:
    """Whether ``t`` is ``A | B`` or ``Union[A, B]`` (``Optional[A]`` included)."""
    return get_origin(t) in (Union, types.UnionType)


def is_literal(t: Any) -> bool:
    """Whether ``t`` is ``Literal[...]``."""
    origin: Any = get_origin(t)
    return origin is Literal


def origin_of(t: Any) -> Any:
    """``list`` for ``list[int]``; ``t`` itself when it is not generic."""
    return get_origin(t) or t


def type_name(t: Any) -> str:
    """How a type reads in a message: ``int``, ``str | None``, ``'a' | 'b'``, ``list``."""
    if t is None or t is NONE_TYPE:
        return "None"
    if t is Any:
        return "any"
    origin = get_origin(t)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(t))
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(t))
    if hasattr(t, "__metadata__"):  # Annotated[T, ...]
        return type_name(get_args(t)[0])
    if origin is not None:
        t = origin
    return str(getattr(t, "__name__", repr(t)))


def show(value: Any) -> str:
    """A value as a message shows it: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."
