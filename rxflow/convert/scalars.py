"""Strict structure hooks for scalars: ``"3"`` is not an int, ``3.7`` is not an int, ``True`` is
not a number, ``1`` is not a bool; an ``int`` is accepted for a ``float`` and becomes one.
Datetimes, UUIDs and decimals also read their JSON form (strings)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from rxflow.convert.converter import Mismatch, converter, type_name

__all__: list[str] = []  # registers hooks on ``converter``; nothing to import from here


def _structure_enum(value: Any, cl: Any) -> Any:
    """A member, or the value of one, of the very same type (``True`` is not ``1`` here)."""
    if isinstance(value, cl):
        return value
    for member in cl:
        if member.value.__class__ is value.__class__ and member.value == value:
            return member
    raise Mismatch(type_name(cl), value)


def _subclass_of_primitive(value: Any, cl: Any) -> Any:
    """A subclass of str/int/float/bool as schema (an Enum, usually)."""
    if issubclass(cl, Enum):
        return _structure_enum(value, cl)
    if isinstance(value, cl):
        return value
    raise Mismatch(type_name(cl), value)


def _structure_str(value: Any, cl: Any) -> Any:
    if cl is not str:
        return _subclass_of_primitive(value, cl)
    if isinstance(value, str):
        return value
    raise Mismatch("str", value)


def _structure_int(value: Any, cl: Any) -> Any:
    if cl is not int:
        return _subclass_of_primitive(value, cl)
    if value.__class__ is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise Mismatch("int", value)


def _structure_float(value: Any, cl: Any) -> Any:
    if cl is not float:
        return _subclass_of_primitive(value, cl)
    if value.__class__ is float:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise Mismatch("float", value)


def _structure_bool(value: Any, cl: Any) -> Any:
    if value is True or value is False:
        return value
    raise Mismatch("bool", value)


def _structure_datetime(value: Any, cl: Any) -> Any:
    if isinstance(value, cl):
        return value
    if isinstance(value, str):
        try:
            return cl.fromisoformat(value)
        except ValueError:
            pass
    raise Mismatch(f"{cl.__name__} (or ISO 8601 string)", value)


def _structure_uuid(value: Any, cl: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise Mismatch("UUID", value)


def _structure_decimal(value: Any, cl: Any) -> Any:
    """A ``Decimal``, its string (the JSON form, every digit kept), or a number (not a bool);
    a float becomes the decimal of its shortest repr (``0.1`` is ``Decimal("0.1")``)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return Decimal(repr(value) if isinstance(value, float) else value)
        except InvalidOperation:
            pass
    raise Mismatch("Decimal (or decimal string)", value)


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_structure_hook(date, _structure_datetime)
converter.register_structure_hook(time, _structure_datetime)
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_structure_hook(Decimal, _structure_decimal)
converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, Enum), lambda _: _structure_enum
)
