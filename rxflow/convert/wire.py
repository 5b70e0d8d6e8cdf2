"""The camelCase wire form of rxflow's own classes: a generated writer and a reader per class,
``structure_wire`` (errors naming each bad field) and ``wire_difference``."""

from __future__ import annotations

import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from cattrs.gen import make_dict_structure_fn, override

from rxflow.convert.converter import (
    NONE_TYPE,
    Mismatch,
    converter,
    is_literal,
    is_union,
    type_name,
)
from rxflow.convert.plain import PLAIN_SCALARS, WIRE_KEYS, to_wire
from rxflow.convert.validation import error_lines

__all__ = ["register_wire_form", "structure_wire", "wire_difference"]

T = TypeVar("T")


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _default_of(field: attrs.Attribute[Any]) -> Any:
    """What an omitted wire key reads back as: the field's default, else ``None``."""
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return typing.cast(Any, default).factory()
    return None if default is attrs.NOTHING else default


def _admits_none(t: Any) -> bool:
    return t is Any or (is_union(t) and NONE_TYPE in typing.get_args(t))


# Field types whose values are already plain JSON (as declared; annotations may be strings).
_SCALAR_FIELD_TYPES: frozenset[Any] = frozenset(
    {str, int, float, bool}
    | {f"{t}" for t in ("str", "int", "float", "bool")}
    | {f"{t} | None" for t in ("str", "int", "float", "bool")}
)


def _is_scalar_type(t: Any) -> bool:
    if t in _SCALAR_FIELD_TYPES:
        return True
    if is_literal(t):  # a status word, say
        return all(a.__class__ in PLAIN_SCALARS for a in typing.get_args(t))
    if is_union(t):
        return all(a is NONE_TYPE or a in _SCALAR_FIELD_TYPES for a in typing.get_args(t))
    return False


def _wire_writer(
    cls: type[Any],
    renames: Mapping[str, str],
    applies: Mapping[str, Callable[[Any], bool]],
    hooks: Mapping[str, Callable[[Any], Any]],
    constants: Mapping[str, Any],
    key_order: Sequence[str],
    after: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> Callable[[Any], dict[str, Any]]:
    """Generate the function writing ``cls``'s wire dict: one statement per key, in wire order.

    Events and step results are converted on every snapshot and every ``to_dict()``, so this
    is generated once per class (like cattrs' own unstructure functions) rather than
    interpreted per call: keys that do not apply are never written, and values go through
    ``to_wire``, whose plain-data path skips the converter's dispatch.
    """
    by_key = {key: name for name, key in renames.items()}
    ordered = [k for k in key_order if k in by_key] + [
        renames[name] for name in renames if renames[name] not in key_order
    ]
    scalar_fields = {f.name for f in attrs.fields(cls) if _is_scalar_type(f.type)}
    scope: dict[str, Any] = {"to_wire": to_wire}
    lines = [f"def write_{cls.__name__}(o):", "    d = {}"]
    for index, (key, value) in enumerate(constants.items()):
        scope[f"c{index}"] = value
        lines.append(f"    d[{key!r}] = c{index}")
    for key in ordered:
        name = by_key[key]
        if name in hooks:
            scope[f"h_{name}"] = hooks[name]
            value = f"h_{name}(o.{name})"
        elif name in scalar_fields:  # declared str/int/float/bool (or None): already plain
            value = f"o.{name}"
        else:
            value = f"to_wire(o.{name})"
        statement = f"d[{key!r}] = {value}"
        if name in applies:
            scope[f"a_{name}"] = applies[name]
            lines.append(f"    if a_{name}(o): {statement}")
        else:
            lines.append(f"    {statement}")
    lines.append("    return d")
    exec(compile("\n".join(lines), f"<rxflow wire writer {cls.__name__}>", "exec"), scope)
    write: Callable[[Any], dict[str, Any]] = scope[f"write_{cls.__name__}"]
    if after is None:
        return write

    def write_then_adjust(obj: Any) -> dict[str, Any]:
        return after(write(obj))

    return write_then_adjust


def register_wire_form(
    cls: type[Any],
    *,
    applies: Mapping[str, Callable[[Any], bool]] | None = None,
    unstruct_hooks: Mapping[str, Callable[[Any], Any]] | None = None,
    struct_hooks: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    forbid_extra_keys: bool = False,
    key_order: Sequence[str] = (),
    after_unstructure: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    before_structure: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    may_omit: Collection[str] = (),
) -> None:
    """Give one of rxflow's attrs classes its camelCase wire form on ``converter``.

    Field ``snake_name`` is written as ``snakeName`` (``from_`` as ``from``). ``applies`` maps a
    field name to a predicate on the instance: when it is false the key is omitted (a field
    that applies is written even when ``None``); when reading, an omitted key takes the
    field's default (or ``None``). ``constants`` are keys written first and skipped when
    reading (an event's ``type``). ``key_order`` lists wire keys to write first, in that order.
    ``unstruct_hooks``/``struct_hooks`` override one field; ``after_unstructure`` and
    ``before_structure`` adjust the whole dict (they may change it in place).

    ``may_omit`` names the fields whose keys other writers (Mastra) leave out when they have
    no value although rxflow writes them: an absent key reads as the field's default (or
    ``None``), and ``wire_difference`` does not count its absence as a difference.
    """
    applies = applies or {}
    unstruct_hooks = unstruct_hooks or {}
    struct_hooks = struct_hooks or {}
    constants = dict(constants or {})
    attrs.resolve_types(cls)  # so a field typed by an alias (a status Literal) is seen as such
    fields = attrs.fields(cls)
    renames = {f.name: _camel(f.name) for f in fields}
    unknown = set(may_omit) - set(renames)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")

    to_wire_dict = _wire_writer(
        cls, renames, applies, unstruct_hooks, constants, key_order, after_unstructure
    )

    reading: dict[str, Any] = {
        n: override(rename=key, struct_hook=struct_hooks.get(n)) for n, key in renames.items()
    }
    structure = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=forbid_extra_keys, **reading
    )
    # Absent keys read as None where the class has no default (a default it applies itself).
    fills = {
        renames[f.name]: _default_of(f)
        for f in fields
        if f.name in applies
        or (f.name in may_omit and f.default is attrs.NOTHING and _admits_none(f.type))
    }
    name = type_name(cls)

    def from_wire_dict(value: Any, _: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise Mismatch(f"{name} (a mapping)", value)
        data = {k: v for k, v in value.items() if k not in constants}
        if before_structure:
            data = before_structure(data)
        for key, default in fills.items():
            if key not in data:
                data[key] = default
        return structure(data, cls)

    converter.register_unstructure_hook(cls, to_wire_dict)
    converter.register_structure_hook(cls, from_wire_dict)
    WIRE_KEYS[cls] = renames
    _READ_FORMS[cls] = _ReadForm(
        {key: field for field, key in renames.items()},
        frozenset(renames[field] for field in may_omit),
    )


@attrs.frozen
class _ReadForm:
    """What ``wire_difference`` needs to know about a class's wire form."""

    field_of: Mapping[str, str]  # wire key -> attribute name
    may_omit: frozenset[str]  # wire keys a reader accepts absent


_READ_FORMS: dict[type[Any], _ReadForm] = {}


def structure_wire(data: Any, cls: type[T], *, what: str) -> T:
    """Read wire data into ``cls`` (registered with ``register_wire_form``).

    Raises ``ValueError`` naming every malformed field, with ``what`` (like ``"StepResult"``).
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        lines = error_lines(exc, data, "$", cls, _camel)
        raise ValueError(f"malformed {what}: " + "; ".join(lines)) from None


def wire_difference(given: Any, value: Any) -> str | None:
    """Where wire data and the wire form written back from ``value`` (read from it) differ.

    Says ``"payload.error is not expected here"``, ``"payload.id is missing"`` or ``"x is not
    plain JSON data (...)"``; ``None`` when they agree. A key that ``given`` lacks is no
    difference where the class lets readers omit it (``may_omit`` of ``register_wire_form``).
    """
    return _difference(given, converter.unstructure(value), value, "")


def _difference(given: Any, rebuilt: Any, value: Any, path: str) -> str | None:
    if isinstance(given, Mapping) and isinstance(rebuilt, Mapping):
        form = _READ_FORMS.get(value.__class__)
        for key in given:
            if key not in rebuilt:
                return f"{path}{key} is not expected here"
        for key in rebuilt:
            if key not in given and (form is None or key not in form.may_omit):
                return f"{path}{key} is missing"
        for key in given:
            field = form.field_of.get(key) if form is not None else None
            child = getattr(value, field) if field is not None else None
            found = _difference(given[key], rebuilt[key], child, f"{path}{key}.")
            if found:
                return found
        return None
    if given != rebuilt or type(given) is not type(rebuilt):
        return f"{path.rstrip('.') or 'value'} is not plain JSON data ({given!r})"
    return None
