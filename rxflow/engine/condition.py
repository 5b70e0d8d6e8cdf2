"""Evaluating a condition (branch, loop) or a dynamic value (sleep) against a context."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..context import ConditionContext, TracingContext
from .state import ExecutionState

__all__ = ["evaluate"]

_NO_TRACING = TracingContext(None)


async def evaluate(
    fn: Callable[..., Any],
    ex: ExecutionState,
    input_data: Any,
    *,
    iteration_count: int | None = None,
) -> Any:
    """``fn(ConditionContext)``, awaited when it is async. Sync functions run on the loop:
    conditions are meant to be quick predicates."""
    value = fn(ConditionContext(ex, input_data, -1, _NO_TRACING, ex.state, iteration_count))
    if inspect.isawaitable(value):
        value = await value
    return value
