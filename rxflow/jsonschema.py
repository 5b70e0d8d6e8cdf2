"""JSON Schema (draft-07) of a schema type: attrs classes, dataclasses, TypedDicts, enums and
typing forms (``list[int]``, ``dict[str, float]``, ``Optional[...]``, unions, ``Literal``)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["json_schema"]

_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    bytes: {"type": "string"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
}


def json_schema(schema: Any) -> dict[str, Any]:
    """The JSON Schema of ``schema`` as a draft-07 document; ``{}`` (anything) for ``None``,
    ``Any`` and types it cannot describe. Objects list their fields under ``properties``, the
    ones without a default under ``required``, and allow no other keys."""
    document = _schema(schema)
    return {**document, "$schema": _DRAFT_07}


def _schema(tp: Any) -> dict[str, Any]:
    if tp is None or tp is Any or tp is object:
        return {}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if isinstance(tp, type) and (
        attrs.has(tp) or dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)
    ):
        return _object(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [_schema(arg) for arg in args]}
    if origin is typing.Annotated:
        return _schema(args[0])
    if origin in (list, set, frozenset) or origin is Sequence:
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0])}
        return {
            "type": "array",
            "items": [_schema(arg) for arg in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": _schema(args[1]) if args else {}}
    if tp in (list, tuple, set, frozenset):
        return {"type": "array"}
    if tp in (dict, Mapping):
        return {"type": "object"}
    return {}


def _object(tp: type) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    properties: dict[str, Any] = {}
    required: list[str] = []
    if attrs.has(tp):
        for field in attrs.fields(tp):
            properties[field.name] = _schema(hints.get(field.name, field.type))
            if field.default is attrs.NOTHING:
                required.append(field.name)
    elif dataclasses.is_dataclass(tp):
        for dc_field in dataclasses.fields(tp):
            properties[dc_field.name] = _schema(hints.get(dc_field.name, dc_field.type))
            if (
                dc_field.default is dataclasses.MISSING
                and dc_field.default_factory is dataclasses.MISSING
            ):
                required.append(dc_field.name)
    else:
        # Keys marked NotRequired in string annotations are only known once resolved.
        optional: frozenset[str] = getattr(tp, "__optional_keys__", frozenset())
        for name, hint in typing.get_type_hints(tp, include_extras=True).items():
            marker = typing.get_origin(hint)
            if marker is typing.NotRequired or marker is typing.Required:
                hint = typing.get_args(hint)[0]
            properties[name] = _schema(hint)
            if marker is typing.Required or (
                marker is not typing.NotRequired and name not in optional
            ):
                required.append(name)
    document: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        document["required"] = required
    document["additionalProperties"] = False
    return document
