"""pydantic models as schemas: validated by pydantic itself (its validators, ``Field``
constraints and mode), written as the JSON data pydantic dumps, read back into models.

pydantic is optional (``rxflow[pydantic]``) and never imported here: a model class can only
exist once pydantic is imported, so the checks below look it up in ``sys.modules``.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from rxflow.convert.converter import Invalid, converter
from rxflow.errors import NotJSONError

__all__ = [
    "ModelInvalid",
    "is_pydantic_schema",
    "model_field_types",
    "model_json_schema",
    "pydantic_lines",
    "register_model_hooks",
]


class ModelInvalid(Invalid):
    """pydantic refused a value; ``lines`` are its errors as ``.path: message`` suffixes,
    relative to where the model sits in the value being checked."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def _pydantic() -> Any:
    return sys.modules.get("pydantic")


def is_pydantic_schema(t: Any) -> bool:
    """Whether pydantic validates ``t``: a ``BaseModel`` subclass, a pydantic dataclass, or
    ``Annotated[...]`` carrying pydantic or ``annotated_types`` constraints."""
    pydantic = _pydantic()
    if pydantic is None:
        return False
    if isinstance(t, type):
        return issubclass(t, pydantic.BaseModel) or "__pydantic_validator__" in t.__dict__
    if typing.get_origin(t) is typing.Annotated:
        return any(
            type(meta).__module__.partition(".")[0] in ("pydantic", "annotated_types")
            for meta in t.__metadata__
        )
    return False


def _segment(part: Any) -> str:
    return f"[{part!r}]" if isinstance(part, int) else f".{part}"


def pydantic_lines(error: Any) -> list[str]:
    """A pydantic ``ValidationError`` as ``.path: message`` suffixes, one per error."""
    lines = []
    for detail in error.errors(include_url=False):
        path = "".join(_segment(part) for part in detail["loc"])
        lines.append(f"{path}: {detail['msg']}")
    return lines


@cache
def _adapter(t: Any) -> Any:
    pydantic = _pydantic()
    if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
        return t  # a model validates itself (model_validate), no adapter needed
    return pydantic.TypeAdapter(t)


def _structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    pydantic = _pydantic()
    adapter = _adapter(t)
    validate = adapter.model_validate if adapter is t else adapter.validate_python

    def structure_model(value: Any, _: Any) -> Any:
        try:
            return validate(value)
        except pydantic.ValidationError as error:
            raise ModelInvalid(pydantic_lines(error)) from None

    return structure_model


def _unstructure_factory(t: Any) -> Callable[[Any], Any]:
    pydantic = _pydantic()
    adapter = pydantic.TypeAdapter(t)

    def model_to_wire(value: Any) -> Any:
        try:
            return adapter.dump_python(value, mode="json")
        except pydantic.PydanticSerializationError as error:
            raise NotJSONError("$", str(error)) from None

    return model_to_wire


def model_field_types(t: Any) -> dict[str, Any] | None:
    """Each field of a ``BaseModel`` as a type pydantic checks alone (its annotation with its
    ``Field`` constraints), for ``set_state`` partials; ``None`` for anything else."""
    pydantic = _pydantic()
    if pydantic is None or not (isinstance(t, type) and issubclass(t, pydantic.BaseModel)):
        return None
    fields: dict[str, Any] = getattr(t, "model_fields", {})
    return {name: typing.Annotated[field.annotation, field] for name, field in fields.items()}


def model_json_schema(t: Any) -> dict[str, Any]:
    """pydantic's own JSON Schema of a model or constrained type (for validation input)."""
    schema: dict[str, Any] = _pydantic().TypeAdapter(t).json_schema()
    return schema


def register_model_hooks() -> None:
    """Register the pydantic hooks; called once all other hooks are registered (a later hook
    wins), so they apply to pydantic dataclasses too."""
    converter.register_structure_hook_factory(is_pydantic_schema, _structure_factory)
    converter.register_unstructure_hook_factory(is_pydantic_schema, _unstructure_factory)
