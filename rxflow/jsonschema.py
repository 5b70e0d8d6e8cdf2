"""JSON Schema of a schema type: pydantic's own for pydantic models, generated (draft-07) for
attrs classes, dataclasses, TypedDicts, enums and typing forms (``list[int]``,
``dict[str, float]``, ``Optional[...]``, unions, ``Literal``)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .convert.models import is_pydantic_schema, model_json_schema

__all__ = ["JsonSchemas", "json_schema"]

_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
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
    ones without a default under ``required``, and allow no other keys.

    A pydantic model (or constrained type) gets pydantic's own JSON Schema (draft 2020-12, the
    schema of what it validates); one nested in another schema is inlined, its definitions
    gathered under the document's ``$defs``."""
    if is_pydantic_schema(schema):
        return {**model_json_schema(schema), "$schema": _DRAFT_2020_12}
    defs: dict[str, Any] = {}
    document = _schema(schema, defs)
    if defs:
        document["$defs"] = defs
    return {**document, "$schema": _DRAFT_07}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is None or tp is Any or tp is object:
        return {}
    if is_pydantic_schema(tp):
        document = model_json_schema(tp)
        defs.update(document.pop("$defs", {}))
        return document
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if isinstance(tp, type) and (
        attrs.has(tp) or dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)
    ):
        return _object(tp, defs)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [_schema(arg, defs) for arg in args]}
    if origin is typing.Annotated:
        return _schema(args[0], defs)
    if origin in (list, set, frozenset) or origin is Sequence:
        return {"type": "array", "items": _schema(args[0], defs) if args else {}}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], defs)}
        return {
            "type": "array",
            "items": [_schema(arg, defs) for arg in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": _schema(args[1], defs) if args else {}}
    if tp in (list, tuple, set, frozenset):
        return {"type": "array"}
    if tp in (dict, Mapping):
        return {"type": "object"}
    return {}


def _object(tp: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    properties: dict[str, Any] = {}
    required: list[str] = []
    if attrs.has(tp):
        for field in attrs.fields(tp):
            properties[field.name] = _schema(hints.get(field.name, field.type), defs)
            if field.default is attrs.NOTHING:
                required.append(field.name)
    elif dataclasses.is_dataclass(tp):
        for dc_field in dataclasses.fields(tp):
            properties[dc_field.name] = _schema(hints.get(dc_field.name, dc_field.type), defs)
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
            properties[name] = _schema(hint, defs)
            if marker is typing.Required or (
                marker is not typing.NotRequired and name not in optional
            ):
                required.append(name)
    document: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        document["required"] = required
    document["additionalProperties"] = False
    return document


class JsonSchemas:
    """The JSON Schema of each schema a step or workflow declares (``{"$schema": ...}``, any
    value, where it declares none); the HTTP server publishes these."""

    __slots__ = ()

    input_schema: Any
    output_schema: Any
    state_schema: Any
    resume_schema: Any
    suspend_schema: Any
    request_context_schema: Any

    def input_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``input_schema``."""
        return json_schema(self.input_schema)

    def output_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``output_schema``."""
        return json_schema(self.output_schema)

    def state_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``state_schema``."""
        return json_schema(self.state_schema)

    def resume_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``resume_schema``."""
        return json_schema(self.resume_schema)

    def suspend_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``suspend_schema``."""
        return json_schema(self.suspend_schema)

    def request_context_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``request_context_schema``."""
        return json_schema(self.request_context_schema)
