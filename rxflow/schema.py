"""Schema checks beyond structuring one value: is a schema usable at all (checked when a step or
workflow is defined), and ``set_state`` partials, key by key."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.errors import StructureHandlerNotFoundError

from .convert import conform, converter
from .convert.models import model_field_types
from .errors import ValidationError, WorkflowDefinitionError

__all__ = ["check_schema", "check_state_partial", "field_types"]


def check_schema(schema: Any, where: str) -> None:
    """Raise ``WorkflowDefinitionError`` (``"<where> must be a type ..."``) when ``schema`` is
    neither ``None``, a class nor a typing form the converter can structure into."""
    if schema is None or isinstance(schema, type):
        return
    try:
        converter.get_structure_hook(schema)
    except StructureHandlerNotFoundError:
        raise WorkflowDefinitionError(
            f"{where} must be a type (a class, or a typing form such as list[int]), got {schema!r}"
        ) from None
    except Exception:  # resolvable only later (a forward reference): checked when used
        return


def field_types(schema: Any) -> dict[str, Any] | None:
    """The per-key types of a state schema (attrs, dataclass, TypedDict, pydantic model),
    else ``None``."""
    model_fields = model_field_types(schema)
    if model_fields is not None:
        return model_fields
    if attrs.has(schema):
        attrs.resolve_types(schema)
        return {f.name: f.type for f in attrs.fields(schema)}
    if dataclasses.is_dataclass(schema) or typing.is_typeddict(schema):
        return typing.get_type_hints(schema)
    origin = typing.get_origin(schema)
    if origin in (dict, Mapping) and len(typing.get_args(schema)) == 2:
        value_type = typing.get_args(schema)[1]
        return _AnyKey(value_type)
    return None


class _AnyKey(dict[str, Any]):
    """Field types of a ``dict[str, T]`` schema: every key has type T."""

    def __init__(self, value_type: Any) -> None:
        super().__init__()
        self.value_type = value_type

    def get(self, key: str, default: Any = None) -> Any:
        return self.value_type

    def __contains__(self, key: object) -> bool:
        return True


def check_state_partial(partial: Mapping[str, Any], schema: Any, *, what: str) -> None:
    """Check each key of a ``set_state`` partial against the schema's type for that key.

    Raises ``ValidationError`` listing every bad key (``$.key: ...``); unknown keys of a
    schema with fixed fields are errors too.
    """
    types = field_types(schema)
    if types is None:
        return
    errors: list[str] = []
    for key, value in partial.items():
        if key not in types:
            errors.append(f"$.{key}: not a field of the state schema")
            continue
        try:
            conform(value, types.get(key))
        except ValidationError as error:
            errors.extend(f"$.{key}{line[1:]}" for line in error.errors)
    if errors:
        raise ValidationError(errors, heading=f"invalid {what}")
