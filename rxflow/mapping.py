"""The bodies of ``map()`` steps: a function of the context, or a checked mapping spec."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import WorkflowDefinitionError
from .step import Step

if TYPE_CHECKING:
    from .context import StepContext

__all__ = ["function_body", "mapping_body"]


def _get_path(value: Any, path: str) -> Any:
    """Read ``a.b.c`` from nested mappings / objects; ``.`` is the whole value."""
    if path in (".", ""):
        return value
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    return value


def _read_step(step: Step, path: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.get_step_result(step), path)


def _read_value(value: Any) -> Callable[[StepContext], Any]:
    return lambda ctx: value


def _read_init_data(path: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.get_init_data(), path)


def _read_request_context(head: str, rest: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.request_context.get(head), rest or ".")


def mapping_body(spec: Mapping[str, Mapping[str, Any]], workflow_id: str) -> Callable[..., Any]:
    """Check a ``map({...})`` spec at build time and return the body that evaluates it."""
    readers: dict[str, Callable[[StepContext], Any]] = {}
    for key, source in spec.items():
        where = f"workflow '{workflow_id}': map key '{key}'"
        if not isinstance(source, Mapping):
            raise WorkflowDefinitionError(
                f"{where}: expected a mapping source dict, got {source!r}"
            )
        if "step" in source:
            src_step = source["step"]
            if not isinstance(src_step, Step):  # a Workflow counts: it registers as a Step
                raise WorkflowDefinitionError(
                    f"{where}: expected a Step or Workflow, got {src_step!r}"
                )
            path = source.get("path", ".")
            readers[key] = _read_step(src_step, path)
        elif "value" in source:
            readers[key] = _read_value(source["value"])
        elif source.get("init_data"):
            path = source.get("path", ".")
            readers[key] = _read_init_data(path)
        elif "request_context_path" in source:
            rc_path = str(source["request_context_path"])
            head, _, rest = rc_path.partition(".")
            readers[key] = _read_request_context(head, rest)
        else:
            raise WorkflowDefinitionError(
                f"{where}: expected one of 'step', 'value', 'init_data' or "
                f"'request_context_path', got keys {sorted(source)}"
            )

    async def mapping(ctx: StepContext) -> dict[str, Any]:
        return {key: read(ctx) for key, read in readers.items()}

    return mapping


def function_body(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mapping functions run on the loop (they are cheap); async ones are awaited."""
    if inspect.iscoroutinefunction(fn):
        return fn

    async def mapping(ctx: StepContext) -> Any:
        result = fn(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result

    return mapping
