"""The one cattrs converter: strict schema structuring, readable validation errors, wire form.

Schema checks (``conform``), the camelCase wire form of rxflow's own classes (``to_wire``,
``register_wire_form``) and snapshots all go through ``converter``; nothing else in rxflow
builds or reads wire dicts by hand. The classes themselves live in ``events`` and ``results``.

Strict structuring: no coercion between ``str``, numbers and ``bool`` (``"3"`` is not an int,
``3.7`` is not an int, ``True`` is not a number, ``1`` is not a bool); an ``int`` is accepted
where a ``float`` is expected and becomes a float. Keys of a mapping that the schema does not
name are ignored (dropped), like zod's default ``strip``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from collections.abc import (
    Callable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from datetime import date, datetime, time
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
    StructureHandlerNotFoundError,
)
from cattrs.gen import make_dict_structure_fn, override

from rxflow.errors import ValidationError

__all__ = [
    "ErrorValue",
    "conform",
    "converter",
    "error_to_wire",
    "register_wire_form",
    "structure_wire",
    "to_wire",
]

T = TypeVar("T")

#: What an ``error`` attribute holds: the exception object, or its wire dict once read back.
ErrorValue = BaseException | dict[str, Any] | None

_NoneType = type(None)
_MISSING: Any = object()
_SHOW_LIMIT = 60


class _Mismatch(TypeError):
    """A value is not of the expected type (raised by our strict hooks, carries the value)."""

    def __init__(self, expected: str, value: Any, *, role: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.role = role


class _Invalid(ValueError):
    """A value has the right shape but its class rejected it (an attrs validator, say)."""


def _fallback(cl: Any) -> Callable[[Any, Any], Any]:
    """For a plain class no hook knows: accept its instances, reject anything else."""
    if not isinstance(cl, type):
        raise StructureHandlerNotFoundError(f"Unsupported schema: {cl!r}", cl)

    def instance_of(value: Any, _: Any) -> Any:
        if isinstance(value, cl):
            return value
        raise _Mismatch(_type_name(cl), value)

    return instance_of


converter = cattrs.Converter(detailed_validation=True, structure_fallback_factory=_fallback)
"""The converter: strict structure hooks for schemas, wire hooks for rxflow's classes."""


# ---------------------------------------------------------------------------------------------
# Type names and value display, for messages
# ---------------------------------------------------------------------------------------------


def _is_union(t: Any) -> bool:
    return get_origin(t) in (Union, types.UnionType)


def _type_name(t: Any) -> str:
    if t is None or t is _NoneType:
        return "None"
    if t is Any:
        return "any"
    origin = get_origin(t)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(t))
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(t))
    if hasattr(t, "__metadata__"):  # Annotated[T, ...]
        return _type_name(get_args(t)[0])
    if origin is not None:
        t = origin
    return str(getattr(t, "__name__", repr(t)))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Strict hooks: primitives
# ---------------------------------------------------------------------------------------------


def _structure_enum(value: Any, cl: Any) -> Any:
    """A member, or the value of one, of the very same type (``True`` is not ``1`` here)."""
    if isinstance(value, cl):
        return value
    for member in cl:
        if member.value.__class__ is value.__class__ and member.value == value:
            return member
    raise _Mismatch(_type_name(cl), value)


def _subclass_of_primitive(value: Any, cl: Any) -> Any:
    """A subclass of str/int/float/bool as schema (an Enum, usually)."""
    if issubclass(cl, Enum):
        return _structure_enum(value, cl)
    if isinstance(value, cl):
        return value
    raise _Mismatch(_type_name(cl), value)


def _structure_str(value: Any, cl: Any) -> Any:
    if cl is not str:
        return _subclass_of_primitive(value, cl)
    if isinstance(value, str):
        return value
    raise _Mismatch("str", value)


def _structure_int(value: Any, cl: Any) -> Any:
    if cl is not int:
        return _subclass_of_primitive(value, cl)
    if value.__class__ is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise _Mismatch("int", value)


def _structure_float(value: Any, cl: Any) -> Any:
    if cl is not float:
        return _subclass_of_primitive(value, cl)
    if value.__class__ is float:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _Mismatch("float", value)


def _structure_bool(value: Any, cl: Any) -> Any:
    if value is True or value is False:
        return value
    raise _Mismatch("bool", value)


def _structure_datetime(value: Any, cl: Any) -> Any:
    if isinstance(value, cl):
        return value
    if isinstance(value, str):
        try:
            return cl.fromisoformat(value)
        except ValueError:
            pass
    raise _Mismatch(f"{cl.__name__} (or ISO 8601 string)", value)


def _structure_uuid(value: Any, cl: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise _Mismatch("UUID", value)


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_structure_hook(date, _structure_datetime)
converter.register_structure_hook(time, _structure_datetime)
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, Enum), lambda _: _structure_enum
)


# ---------------------------------------------------------------------------------------------
# Strict hooks: containers (element errors carry IterableValidationNotes, like cattrs' own)
# ---------------------------------------------------------------------------------------------

_SEQUENCE_ORIGINS = (list, Sequence, MutableSequence)
_SET_ORIGINS = (set, frozenset, AbstractSet, MutableSet)
_MAPPING_ORIGINS = (dict, Mapping, MutableMapping)


def _origin(t: Any) -> Any:
    return get_origin(t) or t


def _element_hook(t: Any) -> Callable[[Any, Any], Any] | None:
    """The hook for an element type, or None when elements pass through unchanged.

    The hook is looked up on first use, so recursive types (a ``Node`` holding
    ``list[Node]``) do not recurse while their hooks are being made.
    """
    if t is Any or t is object:
        return None
    found: list[Callable[[Any, Any], Any]] = []

    def element(value: Any, cl: Any) -> Any:
        if not found:
            found.append(converter.get_structure_hook(t))
        return found[0](value, cl)

    return element


def _pass(value: Any, _: Any) -> Any:
    return value


def _note(exc: Exception, index: int | str, t: Any) -> Exception:
    exc.add_note(IterableValidationNote(f"Structuring @ {index!r}", index, t))
    return exc


def _structure_elements(
    items: Any, hooks: Sequence[tuple[Any, Callable[[Any, Any], Any] | None]], cl: Any
) -> list[Any]:
    out: list[Any] = []
    errors: list[Exception] = []
    for index, (item, (t, hook)) in enumerate(zip(items, hooks, strict=True)):
        if hook is None:
            out.append(item)
            continue
        try:
            out.append(hook(item, t))
        except Exception as exc:
            errors.append(_note(exc, index, t))
    if errors:
        raise IterableValidationError(f"While structuring {_type_name(cl)}", errors, cl)
    return out


def _sequence_factory(cl: Any) -> Callable[[Any, Any], Any]:
    origin = _origin(cl)
    args = get_args(cl)
    hetero = origin is tuple and bool(args) and (len(args) != 2 or args[1] is not Ellipsis)
    elem = Any if not args else args[0]
    elem_hook = _element_hook(elem)
    hetero_hooks = [(t, _element_hook(t)) for t in args] if hetero else []
    if origin in _SET_ORIGINS:
        accepted: tuple[type, ...] = (list, tuple, set, frozenset)
        build: Callable[[list[Any]], Any] = frozenset if origin is frozenset else set
    else:
        accepted = (list, tuple)
        build = tuple if origin is tuple else list
    name = _type_name(cl)

    def structure_sequence(value: Any, _: Any) -> Any:
        if not isinstance(value, accepted):
            raise _Mismatch(name, value)
        items = typing.cast("Sequence[Any] | AbstractSet[Any]", value)
        if hetero:
            if len(items) != len(hetero_hooks):
                raise _Mismatch(f"{name} of {len(hetero_hooks)} items", value)
            return build(_structure_elements(items, hetero_hooks, cl))
        if elem_hook is None:
            return build(list(items))
        return build(_structure_elements(items, [(elem, elem_hook)] * len(items), cl))

    return structure_sequence


def _mapping_factory(cl: Any) -> Callable[[Any, Any], Any]:
    args = get_args(cl)
    key_t, value_t = args if len(args) == 2 else (Any, Any)
    key_hook, value_hook = _element_hook(key_t), _element_hook(value_t)
    name = _type_name(cl)

    def structure_mapping(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Mismatch(name, value)
        out: dict[Any, Any] = {}
        errors: list[Exception] = []
        for k, v in value.items():
            try:
                key = k if key_hook is None else key_hook(k, key_t)
            except Exception:
                errors.append(_note(_Mismatch(_type_name(key_t), k, role="key"), k, key_t))
                continue
            try:
                out[key] = v if value_hook is None else value_hook(v, value_t)
            except Exception as exc:
                errors.append(_note(exc, k, value_t))
        if errors:
            raise IterableValidationError(f"While structuring {name}", errors, cl)
        return out

    return structure_mapping


converter.register_structure_hook_factory(
    lambda t: _origin(t) in _SEQUENCE_ORIGINS + _SET_ORIGINS + (tuple,), _sequence_factory
)
converter.register_structure_hook_factory(
    lambda t: _origin(t) in _MAPPING_ORIGINS, _mapping_factory
)


# ---------------------------------------------------------------------------------------------
# Strict hooks: classes, TypedDicts, unions, literals
# ---------------------------------------------------------------------------------------------


def _is_record(value: Any) -> bool:
    """An attrs or dataclass instance (its fields can be read back as a mapping)."""
    cls = value.__class__
    return attrs.has(cls) or dataclasses.is_dataclass(cls)


def _class_factory(cl: Any) -> Callable[[Any, Any], Any]:
    from_mapping = converter.gen_structure_attrs_fromdict(cl)
    target = _origin(cl)
    name = _type_name(cl)

    def structure_class(value: Any, _: Any) -> Any:
        if isinstance(value, target):
            return value
        if isinstance(value, Mapping):
            mapping = value
        elif _is_record(value):
            mapping = converter.unstructure(value)
        else:
            raise _Mismatch(name, value)
        try:
            return from_mapping(mapping, cl)
        except BaseValidationError:
            raise
        except (TypeError, ValueError) as exc:  # the class's own __init__ or validators
            raise _Invalid(str(exc)) from exc

    return structure_class


def _typeddict_factory(cl: Any) -> Callable[[Any, Any], Any]:
    from_mapping = converter.gen_structure_typeddict(cl)
    keys = frozenset(typing.get_type_hints(_origin(cl)))
    name = _type_name(cl)

    def structure_typeddict(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Mismatch(name, value)
        known = {k: v for k, v in value.items() if k in keys}  # strip extra keys
        return from_mapping(known, cl)

    return structure_typeddict


def _exact(value: Any, t: Any) -> bool:
    """Whether ``value`` is already of member type ``t`` (no conversion needed)."""
    if value.__class__ is t:
        return True
    return (
        isinstance(t, type)
        and (attrs.has(t) or dataclasses.is_dataclass(t))
        and (isinstance(value, t))
    )


def _union_factory(cl: Any) -> Callable[[Any, Any], Any]:
    members = get_args(cl)
    allows_none = _NoneType in members
    others = [(t, _element_hook(t) or _pass) for t in members if t is not _NoneType]
    name = _type_name(cl)

    def structure_union(value: Any, _: Any) -> Any:
        if value is None and allows_none:
            return None
        for t, hook in others:
            if _exact(value, t):
                return hook(value, t)
        deep: list[Exception] = []
        for t, hook in others:
            try:
                return hook(value, t)
            except _Mismatch as exc:
                if exc.value is not value:
                    deep.append(exc)
            except Exception as exc:
                deep.append(exc)
        if len(deep) == 1:  # only one member fits the shape: report what is wrong inside it
            raise deep[0]
        raise _Mismatch(name, value)

    return structure_union


def _literal_factory(cl: Any) -> Callable[[Any, Any], Any]:
    allowed = get_args(cl)
    name = _type_name(cl)

    def structure_literal(value: Any, _: Any) -> Any:
        for choice in allowed:
            if value.__class__ is choice.__class__ and value == choice:
                return choice
        raise _Mismatch(name, value)

    return structure_literal


def _is_class_schema(t: Any) -> bool:
    return attrs.has(_origin(t)) or dataclasses.is_dataclass(_origin(t))


converter.register_structure_hook_factory(_is_class_schema, _class_factory)
converter.register_structure_hook_factory(typing.is_typeddict, _typeddict_factory)
converter.register_structure_hook_factory(_is_union, _union_factory)


def _is_literal(t: Any) -> bool:
    origin: Any = get_origin(t)
    return origin is Literal


converter.register_structure_hook_factory(_is_literal, _literal_factory)
converter.register_structure_hook_func(lambda t: t is object, lambda value, _: value)


# ---------------------------------------------------------------------------------------------
# Validation messages: one line per bad field
# ---------------------------------------------------------------------------------------------


def _child(value: Any, key: Any) -> Any:
    try:
        if isinstance(value, Mapping):
            return value.get(key, _MISSING)
        if isinstance(key, int) and isinstance(value, Sequence):
            return value[key]
        return getattr(value, str(key), _MISSING)
    except Exception:
        return _MISSING


def _error_lines(
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
            lines += _error_lines(sub, _child(value, name), f"{path}.{name}", note.type, key)
        for sub in without:  # the class itself refused the fields (an attrs validator, say)
            lines += _error_lines(sub, _MISSING, path, None, key)
        return lines
    if isinstance(exc, IterableValidationError):
        lines = []
        with_items, without_items = exc.group_exceptions()
        for sub, item in with_items:
            sub_path = f"{path}[{item.index!r}]"
            lines += _error_lines(sub, _child(value, item.index), sub_path, item.type, key)
        for sub in without_items:
            lines += _error_lines(sub, _MISSING, path, None, key)
        return lines
    if isinstance(exc, _Mismatch):
        what = f"{exc.expected} key" if exc.role == "key" else exc.expected
        return [f"{path}: expected {what}, got {_show(exc.value)}"]
    if isinstance(exc, KeyError):
        return [f"{path}: required field missing"]
    if isinstance(exc, _Invalid) or value is _MISSING or expected is None:
        return [f"{path}: {exc}"]
    return [f"{path}: expected {_type_name(expected)}, got {_show(value)}"]


def conform(value: Any, schema: Any, *, what: str | None = None) -> Any:
    """Return ``value`` made to fit ``schema``; else raise ``ValidationError`` listing bad fields.

    ``schema`` is an attrs class, a dataclass, a builtin or typing type (``int``, ``list[Item]``,
    ``dict[str, float]``, a ``TypedDict``, ``Optional[...]``, a union), or ``None`` (anything
    goes, the value is returned unchanged). An instance of the schema class is returned as is;
    a mapping, or an attrs/dataclass instance of another class with the same fields, is
    structured into it. Extra mapping keys are ignored. ``what`` (like ``"input of step
    'double'"``) becomes the heading of the error.
    """
    if schema is None or value.__class__ is schema:
        return value
    try:
        return converter.structure(value, schema)
    except StructureHandlerNotFoundError:
        raise
    except Exception as exc:
        lines = _error_lines(exc, value, "$", schema, str)
        raise ValidationError(lines, heading=what) from None


# ---------------------------------------------------------------------------------------------
# Wire form (unstructuring)
# ---------------------------------------------------------------------------------------------


def error_to_wire(exc: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    """``{"message", "name"}`` for an exception (no stack); a mapping passes through as a dict."""
    if isinstance(exc, Mapping):
        return dict(exc)
    return {"message": str(exc), "name": type(exc).__name__}


_PLAIN_SCALARS = frozenset({str, int, float, bool, _NoneType})


def to_wire(value: Any) -> Any:
    """Plain JSON-able data for ``value``.

    rxflow's own classes (events, results, ``Usage``) get their camelCase wire form; user
    attrs/dataclass values keep their own field names; exceptions become
    ``{"message", "name"}``; tuples and sets become lists; datetimes ISO 8601 strings.

    Values that are already plain JSON data (scalars, and dicts with string keys and lists
    of them) are copied without the converter's per-value dispatch: snapshots convert every
    step's input and output, and most of those are plain.
    """
    cls = value.__class__
    if cls in _PLAIN_SCALARS:
        return value
    if cls is dict:
        return {
            k if k.__class__ is str else converter.unstructure(k): to_wire(v)
            for k, v in value.items()
        }
    if cls is list:
        return [to_wire(item) for item in value]
    return converter.unstructure(value)


def _as_list(items: Any) -> list[Any]:
    return [converter.unstructure(item) for item in items]


def _is_exception_class(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseException)


converter.register_unstructure_hook_factory(_is_exception_class, lambda _: error_to_wire)
converter.register_unstructure_hook(tuple, _as_list)
converter.register_unstructure_hook(set, _as_list)
converter.register_unstructure_hook(frozenset, _as_list)
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook(time, time.isoformat)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_unstructure_hook(PurePath, str)


def _error_from_wire(value: Any, _: Any) -> Any:
    if value is None or isinstance(value, BaseException):
        return value
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("message"), str)
        and isinstance(value.get("name"), str)
    ):
        return dict(value)
    raise _Mismatch("error ({message, name})", value)


converter.register_structure_hook_func(lambda t: t == ErrorValue, _error_from_wire)


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _default_of(field: attrs.Attribute[Any]) -> Any:
    """What an omitted wire key reads back as: the field's default, else ``None``."""
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return typing.cast(Any, default).factory()
    return None if default is attrs.NOTHING else default


# Field types whose values are already plain JSON (as declared; annotations may be strings).
_SCALAR_FIELD_TYPES: frozenset[Any] = frozenset(
    {str, int, float, bool}
    | {f"{t}" for t in ("str", "int", "float", "bool")}
    | {f"{t} | None" for t in ("str", "int", "float", "bool")}
)


def _is_scalar_type(t: Any) -> bool:
    if t in _SCALAR_FIELD_TYPES:
        return True
    if _is_literal(t):  # a status word, say
        return all(a.__class__ in _PLAIN_SCALARS for a in typing.get_args(t))
    if _is_union(t):
        return all(a is _NoneType or a in _SCALAR_FIELD_TYPES for a in typing.get_args(t))
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
    attrs.resolve_types(cls)  # so a field typed by an alias (a status Literal) is seen as such
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
) -> None:
    """Give one of rxflow's attrs classes its camelCase wire form on ``converter``.

    Field ``snake_name`` is written as ``snakeName`` (``from_`` as ``from``). ``applies`` maps a
    field name to a predicate on the instance: when it is false the key is omitted (a field
    that applies is written even when ``None``); when reading, an omitted key takes the
    field's default (or ``None``). ``constants`` are keys written first and skipped when
    reading (an event's ``type``). ``key_order`` lists wire keys to write first, in that order.
    ``unstruct_hooks``/``struct_hooks`` override one field; ``after_unstructure`` and
    ``before_structure`` adjust the whole dict (they may change it in place).
    """
    applies = applies or {}
    unstruct_hooks = unstruct_hooks or {}
    struct_hooks = struct_hooks or {}
    constants = dict(constants or {})
    fields = attrs.fields(cls)
    renames = {f.name: _camel(f.name) for f in fields}

    to_wire_dict = _wire_writer(
        cls, renames, applies, unstruct_hooks, constants, key_order, after_unstructure
    )

    reading: dict[str, Any] = {
        n: override(rename=key, struct_hook=struct_hooks.get(n)) for n, key in renames.items()
    }
    structure = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=forbid_extra_keys, **reading
    )
    omittable = {renames[f.name]: _default_of(f) for f in fields if f.name in applies}
    name = _type_name(cls)

    def from_wire_dict(value: Any, _: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _Mismatch(f"{name} (a mapping)", value)
        data = {k: v for k, v in value.items() if k not in constants}
        for key, default in omittable.items():
            if key not in data:
                data[key] = default
        if before_structure:
            data = before_structure(data)
        return structure(data, cls)

    converter.register_unstructure_hook(cls, to_wire_dict)
    converter.register_structure_hook(cls, from_wire_dict)


def structure_wire(data: Any, cls: type[T], *, what: str) -> T:
    """Read wire data into ``cls`` (registered with ``register_wire_form``).

    Raises ``ValueError`` naming every malformed field, with ``what`` (like ``"StepResult"``).
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        lines = _error_lines(exc, data, "$", cls, _camel)
        raise ValueError(f"malformed {what}: " + "; ".join(lines)) from None
