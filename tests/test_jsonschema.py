"""JSON Schema of schema types, as the server's workflow details carry them."""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal, NotRequired, TypedDict

import attrs

from rxflow.jsonschema import json_schema

DRAFT = {"$schema": "http://json-schema.org/draft-07/schema#"}


@attrs.frozen
class Item:
    name: str
    price: float
    tags: list[str] = attrs.Factory(list)


@dataclasses.dataclass
class Order:
    items: list[Item]
    note: str | None = None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Paint(TypedDict):
    color: Color
    coats: NotRequired[int]


def test_attrs_classes_list_fields_and_required_ones() -> None:
    assert json_schema(Item) == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "price": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "price"],
        "additionalProperties": False,
        **DRAFT,
    }


def test_dataclasses_nest_and_optional_is_any_of_null() -> None:
    schema = json_schema(Order)
    assert schema["required"] == ["items"]
    assert schema["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert schema["properties"]["items"]["items"]["required"] == ["name", "price"]


def test_typed_dicts_enums_and_literals() -> None:
    assert json_schema(Paint) == {
        "type": "object",
        "properties": {"color": {"enum": ["red", "blue"]}, "coats": {"type": "integer"}},
        "required": ["color"],
        "additionalProperties": False,
        **DRAFT,
    }
    assert json_schema(Literal["a", 1]) == {"enum": ["a", 1], **DRAFT}


def test_typing_forms_and_anything() -> None:
    assert json_schema(dict[str, int]) == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        **DRAFT,
    }
    assert json_schema(tuple[int, str]) == {
        "type": "array",
        "items": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
        **DRAFT,
    }
    assert json_schema(int | None) == {"anyOf": [{"type": "integer"}, {"type": "null"}], **DRAFT}
    assert json_schema(None) == DRAFT
    assert json_schema(bool) == {"type": "boolean", **DRAFT}


def test_steps_and_workflows_give_the_json_schema_of_each_of_their_schemas() -> None:
    from rxflow import create_step, create_workflow

    step = create_step(
        id="s",
        execute=lambda ctx: None,
        input_schema=Item,
        output_schema=int,
        suspend_schema=Paint,
        resume_schema=bool,
        state_schema=Order,
        request_context_schema=dict[str, int],
    )
    assert step.input_json_schema() == json_schema(Item)
    assert step.output_json_schema() == {"type": "integer", **DRAFT}
    assert step.suspend_json_schema() == json_schema(Paint)
    assert step.resume_json_schema() == {"type": "boolean", **DRAFT}
    assert step.state_json_schema() == json_schema(Order)
    assert step.request_context_json_schema() == json_schema(dict[str, int])
    wf = create_workflow(id="w", input_schema=Order, output_schema=Item).then(step).commit()
    assert wf.input_json_schema() == json_schema(Order)
    assert wf.output_json_schema() == json_schema(Item)
    assert wf.state_json_schema() == DRAFT  # no schema: any value
    assert wf.resume_json_schema() == DRAFT
