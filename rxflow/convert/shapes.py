"""Strict structure hooks for containers, attrs/dataclass classes, TypedDicts, unions and
literals; mapping keys a schema does not name are dropped (like zod's ``strip``)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import (
    Callable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from typing import Any, get_args

import attrs
from cattrs.errors import (
    BaseValidationError,
    IterableValidationError,
    IterableValidationNote,
)

from rxflow.convert.converter import (
    NONE_TYPE,
    Invalid,
    Mismatch,
    converter,
    is_literal,
    is_union,
    origin_of,
    type_name,
)

__all__: list[str] = []  # registers hooks on ``converter``; nothing to import from here

_SEQUENCE_ORIGINS = (list, Sequence, MutableSequence)
_SET_ORIGINS = (set, frozenset, AbstractSet, MutableSet)
_MAPPING_ORIGINS = (dict, Mapping, MutableMapping)

# ---------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------


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
        raise IterableValidationError(f"While structuring {type_name(cl)}", errors, cl)
    return out


def _sequence_factory(cl: Any) -> Callable[[Any, Any], Any]:
    origin = origin_of(cl)
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
    name = type_name(cl)

    def structure_sequence(value: Any, _: Any) -> Any:
        if not isinstance(value, accepted):
            raise Mismatch(name, value)
        items = typing.cast("Sequence[Any] | AbstractSet[Any]", value)
        if hetero:
            if len(items) != len(hetero_hooks):
                raise Mismatch(f"{name} of {len(hetero_hooks)} items", value)
            return build(_structure_elements(items, hetero_hooks, cl))
        if elem_hook is None:
            return build(list(items))
        return build(_structure_elements(items, [(elem, elem_hook)] * len(items), cl))

    return structure_sequence


def _mapping_factory(cl: Any) -> Callable[[Any, Any], Any]:
    args = get_args(cl)
    key_t, value_t = args if len(args) == 2 else (Any, Any)
    key_hook, value_hook = _element_hook(key_t), _element_hook(value_t)
    name = type_name(cl)

    def structure_mapping(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(name, value)
        out: dict[Any, Any] = {}
        errors: list[Exception] = []
        for k, v in value.items():
            try:
                key = k if key_hook is None else key_hook(k, key_t)
            except Exception:
                errors.append(_note(Mismatch(type_name(key_t), k, role="key"), k, key_t))
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
    lambda t: origin_of(t) in _SEQUENCE_ORIGINS + _SET_ORIGINS + (tuple,), _sequence_factory
)
converter.register_structure_hook_factory(
    lambda t: origin_of(t) in _MAPPING_ORIGINS, _mapping_factory
)


# ---------------------------------------------------------------------------------------------
# Classes, TypedDicts, unions, literals
# ---------------------------------------------------------------------------------------------


def _is_record(value: Any) -> bool:
    """An attrs or dataclass instance (its fields can be read back as a mapping)."""
    cls = value.__class__
    return attrs.has(cls) or dataclasses.is_dataclass(cls)


def _class_factory(cl: Any) -> Callable[[Any, Any], Any]:
    from_mapping = converter.gen_structure_attrs_fromdict(cl)
    target = origin_of(cl)
    name = type_name(cl)

    def structure_class(value: Any, _: Any) -> Any:
        if isinstance(value, target):
            return value
        if isinstance(value, Mapping):
            mapping = value
        elif _is_record(value):
            mapping = converter.unstructure(value)
        else:
            raise Mismatch(name, value)
        try:
            return from_mapping(mapping, cl)
        except BaseValidationError:
            raise
        except (TypeError, ValueError) as exc:  # the class's own __init__ or validators
            raise Invalid(str(exc)) from exc

    return structure_class


def _typeddict_factory(cl: Any) -> Callable[[Any, Any], Any]:
    from_mapping = converter.gen_structure_typeddict(cl)
    keys = frozenset(typing.get_type_hints(origin_of(cl)))
    name = type_name(cl)

    def structure_typeddict(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(name, value)
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
    allows_none = NONE_TYPE in members
    others = [(t, _element_hook(t) or _pass) for t in members if t is not NONE_TYPE]
    name = type_name(cl)

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
            except Mismatch as exc:
                if exc.value is not value:
                    deep.append(exc)
            except Exception as exc:
                deep.append(exc)
        if len(deep) == 1:  # only one member fits the shape: report what is wrong inside it
            raise deep[0]
        raise Mismatch(name, value)

    return structure_union


def _literal_factory(cl: Any) -> Callable[[Any, Any], Any]:
    allowed = get_args(cl)
    name = type_name(cl)

    def structure_literal(value: Any, _: Any) -> Any:
        for choice in allowed:
            if value.__class__ is choice.__class__ and value == choice:
                return choice
        raise Mismatch(name, value)

    return structure_literal


def _is_class_schema(t: Any) -> bool:
    return attrs.has(origin_of(t)) or dataclasses.is_dataclass(origin_of(t))


converter.register_structure_hook_factory(_is_class_schema, _class_factory)
converter.register_structure_hook_factory(typing.is_typeddict, _typeddict_factory)
converter.register_structure_hook_factory(is_union, _union_factory)


converter.register_structure_hook_factory(is_literal, _literal_factory)
converter.register_structure_hook_func(lambda t: t is object, lambda value, _: value)
