"""Schemas are strict: ``conform`` structures input into a schema or lists every bad field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any, Literal, Optional, TypedDict

import attrs
import pytest

from rxflow.convert import conform
from rxflow.errors import ValidationError


@attrs.frozen
class Item:
    name: str
    price: float


@attrs.frozen
class Order:
    items: list[Item]
    note: str | None = None


@attrs.frozen
class OrderCopy:
    items: list[Item]
    note: str | None = None


@attrs.frozen
class Num:
    value: int


@attrs.frozen
class Other:
    value: int


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Movie(TypedDict):
    title: str
    year: int


@attrs.frozen
class Tree:
    value: int
    children: list[Tree] = attrs.Factory(list)


@attrs.frozen
class Positive:
    n: int = attrs.field(validator=attrs.validators.gt(0))


class Plain:
    pass


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


@attrs.frozen
class Meeting:
    at: dt.datetime
    level: Level


def errors_of(value: Any, schema: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        conform(value, schema)
    return caught.value.errors


# --- accepted values ------------------------------------------------------------------------


def test_none_schema_passes_anything_through() -> None:
    value = object()
    assert conform(value, None) is value
    assert conform("3", None) == "3"


def test_instance_of_the_schema_is_returned_as_is() -> None:
    order = Order([Item("a", 1.0)])
    assert conform(order, Order) is order
    point = Point(1, 2.0)
    assert conform(point, Point) is point
    plain = Plain()
    assert conform(plain, Plain) is plain


def test_mapping_into_attrs_class() -> None:
    got = conform({"items": [{"name": "a", "price": 2.5}], "note": "x"}, Order)
    assert got == Order([Item("a", 2.5)], "x")


def test_extra_keys_are_ignored() -> None:
    assert conform({"value": 1, "unknown": 2}, Num) == Num(1)
    assert conform({"title": "T", "year": 1999, "extra": 1}, Movie) == {"title": "T", "year": 1999}


def test_mapping_into_dataclass() -> None:
    assert conform({"x": 1, "y": 2}, Point) == Point(1, 2.0)


def test_builtin_types() -> None:
    assert conform(3, int) == 3
    assert conform("s", str) == "s"
    assert conform(True, bool) is True
    assert conform(2.5, float) == 2.5


def test_int_is_accepted_for_float_and_becomes_float() -> None:
    got = conform(3, float)
    assert got == 3.0
    assert type(got) is float
    assert conform({"name": "a", "price": 2}, Item).price.__class__ is float


def test_list_of_attrs() -> None:
    got = conform([{"name": "a", "price": 1}, Item("b", 2.0)], list[Item])
    assert got == [Item("a", 1.0), Item("b", 2.0)]


def test_dict_of_floats() -> None:
    assert conform({"a": 1, "b": 2.5}, dict[str, float]) == {"a": 1.0, "b": 2.5}


def test_typeddict() -> None:
    assert conform({"title": "T", "year": 1999}, Movie) == {"title": "T", "year": 1999}


def test_optional() -> None:
    assert conform(None, Optional[int]) is None  # noqa: UP045 (the typing spelling on purpose)
    assert conform(3, int | None) == 3
    assert conform({"items": []}, Order) == Order([], None)


def test_unions_and_literals() -> None:
    assert conform(3, int | str) == 3
    assert conform("x", int | str) == "x"
    assert conform("b", Literal["a", "b"]) == "b"


def test_any_passes_through() -> None:
    assert conform({"x": [1, "2"]}, dict[str, Any]) == {"x": [1, "2"]}


def test_attrs_instance_of_another_class_with_the_same_fields() -> None:
    got = conform(OrderCopy([Item("a", 1.0)], "n"), Order)
    assert got == Order([Item("a", 1.0)], "n")
    assert type(got) is Order
    assert conform(Other(5), Num) == Num(5)


def test_enums_and_datetimes() -> None:
    assert conform("red", Color) is Color.RED
    assert conform(Level.LOW, Level) is Level.LOW
    got = conform({"at": "2024-05-01T09:00:00+00:00", "level": 1}, Meeting)
    assert got == Meeting(dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC), Level.LOW)


def test_recursive_schema() -> None:
    got = conform({"value": 1, "children": [{"value": 2}]}, Tree)
    assert got == Tree(1, [Tree(2)])


# --- strict rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "schema", "line"),
    [
        ("3", int, "$: expected int, got '3'"),
        (3.7, int, "$: expected int, got 3.7"),
        (True, int, "$: expected int, got True"),
        (True, float, "$: expected float, got True"),
        ("1.5", float, "$: expected float, got '1.5'"),
        (1, bool, "$: expected bool, got 1"),
        ("true", bool, "$: expected bool, got 'true'"),
        (3, str, "$: expected str, got 3"),
        (1.5, str, "$: expected str, got 1.5"),
        (3, list[int], "$: expected list, got 3"),
        ("abc", list[int], "$: expected list, got 'abc'"),
        ([1], dict[str, int], "$: expected dict, got [1]"),
        (5, Item, "$: expected Item, got 5"),
        ("x", Optional[int], "$: expected int | None, got 'x'"),  # noqa: UP045
        (2.5, int | str, "$: expected int | str, got 2.5"),
        ("c", Literal["a", "b"], "$: expected 'a' | 'b', got 'c'"),
        (1, Literal[True], "$: expected True, got 1"),
        (3, Plain, "$: expected Plain, got 3"),
        ("blue", Color, "$: expected Color, got 'blue'"),
        (True, Level, "$: expected Level, got True"),
        (5, dt.datetime, "$: expected datetime (or ISO 8601 string), got 5"),
    ],
)
def test_strict_rejections(value: Any, schema: Any, line: str) -> None:
    assert errors_of(value, schema) == [line]


def test_field_paths() -> None:
    assert errors_of({"items": 3}, Order) == ["$.items: expected list, got 3"]
    assert errors_of({"price": 1}, Item) == ["$.name: required field missing"]
    assert errors_of({"value": "3"}, Num) == ["$.value: expected int, got '3'"]
    assert errors_of({"a": 1, "b": "x"}, dict[str, float]) == ["$['b']: expected float, got 'x'"]
    assert errors_of({1: 1.0}, dict[str, float]) == ["$[1]: expected str key, got 1"]
    assert errors_of({"title": "T", "year": "1999"}, Movie) == ["$.year: expected int, got '1999'"]
    assert errors_of({"x": 1.5, "y": 1}, Point) == ["$.x: expected int, got 1.5"]
    assert errors_of({"value": 1, "children": [{"value": True}]}, Tree) == [
        "$.children[0].value: expected int, got True"
    ]


def test_every_bad_field_is_listed() -> None:
    bad = {
        "items": [
            {"name": "a", "price": 1.0},
            {"name": 7, "price": 2.0},
            {"name": "c", "price": "abc"},
            {"price": 1},
            "nope",
        ],
        "note": 3,
    }
    assert errors_of(bad, Order) == [
        "$.items[1].name: expected str, got 7",
        "$.items[2].price: expected float, got 'abc'",
        "$.items[3].name: required field missing",
        "$.items[4]: expected Item, got 'nope'",
        "$.note: expected str | None, got 3",
    ]


def test_list_elements_are_all_listed() -> None:
    assert errors_of([1, "2", 3.5, True], list[int]) == [
        "$[1]: expected int, got '2'",
        "$[2]: expected int, got 3.5",
        "$[3]: expected int, got True",
    ]


def test_class_validators_are_reported() -> None:
    assert errors_of({"n": -1}, Positive) == ["$: 'n' must be > 0: -1"]


def test_other_class_with_bad_field_values() -> None:
    assert errors_of(Other(True), Num) == ["$.value: expected int, got True"]


def test_heading_names_what_was_validated() -> None:
    with pytest.raises(ValidationError) as caught:
        conform({"value": "3"}, Num, what="input of step 'double'")
    error = caught.value
    assert error.heading == "input of step 'double'"
    assert str(error) == "input of step 'double'\n$.value: expected int, got '3'"


def test_long_values_are_shortened_in_messages() -> None:
    [line] = errors_of("x" * 200, int)
    assert line.startswith("$: expected int, got 'xxxx")
    assert line.endswith("...")
    assert len(line) < 100
