"""Whether a step body can be sent to Dask workers (cloudpickle), and if not, which object of
its closure, globals or defaults is to blame."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import cloudpickle

from ..errors import StepNotSerializableError

__all__ = [
    "first_unpicklable",
    "not_sendable",
    "pickled_body",
    "type_name",
]


def not_sendable(step_id: str, what: str, culprit: str, error: Exception) -> Exception:
    """The error for ``what`` (of step ``step_id``) that could not be pickled."""
    return StepNotSerializableError(
        f"step '{step_id}': {what} cannot be sent to the Dask workers: {culprit} cannot be "
        f"pickled ({type(error).__name__}: {error})",
        step_id=step_id,
        culprit=culprit,
    )


def _culprit(body: Callable[..., Any], depth: int = 0) -> str:
    """The first part of ``body`` that does not pickle, by name (or the body itself)."""
    for name, value in _parts(body):
        try:
            cloudpickle.dumps(value)
        except Exception:
            inner = _culprit(value, depth + 1) if inspect.isfunction(value) and depth < 3 else ""
            found = f"{name} ({type_name(value)})"
            return f"{inner} of {found}" if inner and inner != "the body" else found
    return "the body"


def _parts(body: Callable[..., Any]) -> Iterator[tuple[str, Any]]:
    """What pickling a function pickles besides its code: closure cells, the globals its code
    names, defaults; a bound method's instance."""
    instance = getattr(body, "__self__", None)
    if instance is not None and not inspect.ismodule(instance):
        yield "the instance the body is bound to", instance
    function = getattr(body, "__func__", body)
    code = getattr(function, "__code__", None)
    if code is None:
        return
    for name, cell in zip(code.co_freevars, function.__closure__ or (), strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        yield f"closure variable '{name}'", value
    namespace = function.__globals__
    for name in _names(code):
        if name in namespace:
            yield f"global '{name}'", namespace[name]
    for index, value in enumerate(function.__defaults__ or ()):
        yield f"default #{index + 1}", value
    for name, value in (function.__kwdefaults__ or {}).items():
        yield f"default of '{name}'", value


def _names(code: Any) -> Iterator[str]:
    """The global names ``code`` and its nested code objects use."""
    yield from code.co_names
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _names(const)


def type_name(value: Any) -> str:
    kind = type(value)
    return (
        f"{kind.__module__}.{kind.__qualname__}"
        if kind.__module__ != "builtins"
        else kind.__qualname__
    )


def pickled_body(step_id: str, body: Callable[..., Any]) -> tuple[str, bytes]:
    """``body`` pickled once for the workers, with the digest that names it there; raises
    ``StepNotSerializableError`` naming the step and the culprit when it cannot be pickled."""
    try:
        blob: bytes = cloudpickle.dumps(body, protocol=5)
    except Exception as error:
        raise not_sendable(step_id, "its body", _culprit(body), error) from error
    return hashlib.blake2b(blob, digest_size=16).hexdigest(), blob


def first_unpicklable(fields: Mapping[str, Any]) -> str | None:
    """The name (and type) of the first of ``fields`` that does not pickle; None: all do."""
    for name, value in fields.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"{name} ({type_name(value)})"
    return None
