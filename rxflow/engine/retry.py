"""Retries: what a failed attempt means for its step, and the loop that runs the attempts.

A step runs at most ``attempts + 1`` times (``step.retries``, else the workflow's
``retry_config.attempts``), each retry after ``retry_config.delay`` ms; ``TripWire`` and
``NonRetryableError`` end it at once, and so does the run's cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import NonRetryableError, TripWire
from ..results import StepResult
from .call import StepCall, canceled, failed
from .state import ExecutionState

__all__ = ["Attempt", "after_failure", "retry_after", "run_attempts"]

#: One attempt of a step: ``(execution, call, input, attempt number) -> result``; raises when
#: the body does.
Attempt = Callable[[ExecutionState, StepCall, Any, int], Awaitable[StepResult]]


def after_failure(
    ex: ExecutionState, call: StepCall, error: Exception, retry: int
) -> StepResult | None:
    """What ``error``, raised by attempt ``retry``, makes of the step: its result, or None when
    it is retried."""
    if ex.scope.absorb_cancel():
        # Raised while unwinding from the run's cancel: a cancel it asked for stays a cancel.
        return canceled(call)
    if isinstance(error, (TripWire, NonRetryableError)):
        return failed(call, error)
    step = call.step
    attempts = step.retries if step.retries is not None else ex.workflow.retry_config.attempts
    return failed(call, error) if retry >= attempts else None


async def run_attempts(
    ex: ExecutionState, call: StepCall, attempt: Attempt, input_data: Any, retry: int
) -> StepResult:
    """Run ``attempt`` from attempt number ``retry`` on (each retry after the configured delay)
    until one does not fail or retries run out; the step's result."""
    while True:
        try:
            if retry:  # waiting to retry is part of the step: a cancel here cancels the step
                delay = ex.workflow.retry_config.delay
                if delay:
                    await asyncio.sleep(delay / 1000)
            return await attempt(ex, call, input_data, retry)
        except asyncio.CancelledError:
            if not ex.scope.absorb_cancel():
                raise
            return canceled(call)
        except Exception as error:
            result = after_failure(ex, call, error, retry)
            if result is not None:
                return result
            retry += 1
            _retrying(ex, call, retry)


async def retry_after(
    ex: ExecutionState, call: StepCall, error: Exception, attempt: Attempt, input_data: Any
) -> StepResult:
    """The step's result once its first attempt (run outside this loop) raised ``error``:
    canceled or failed at once, else what the retries make of it."""
    result = after_failure(ex, call, error, 0)
    if result is None:
        _retrying(ex, call, 1)
        result = await run_attempts(ex, call, attempt, input_data, 1)
    return result


def _retrying(ex: ExecutionState, call: StepCall, retry: int) -> None:
    """Tell whoever watches the run's retries that ``call``'s step is tried again."""
    on_retry = ex.scope.on_retry
    if on_retry is not None:
        on_retry(ex.prefix + call.step.id, retry)
