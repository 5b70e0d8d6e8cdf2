"""Sibling invocations (parallel branches, chosen branch steps): run concurrently, settle once.

Every sibling's start event is emitted before any body runs; results come in completion order;
the block's outcome is decided after all siblings have settled (siblings never cancel each
other; a run cancel cancels them all).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..graph import StepLike
from ..results import StepResult
from .invoke import cancel_call, run_step, start_step
from .state import ExecutionState

__all__ = ["run_siblings"]


async def _settle_all(ex: ExecutionState, calls: list[Any]) -> list[StepResult]:
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(run_step(ex, call)) for call in calls]
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        if not ex.scope.abort_signal.aborted:
            raise
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    return [
        cancel_call(ex, call) if task.cancelled() else task.result()
        for call, task in zip(calls, tasks)
    ]


async def run_siblings(
    ex: ExecutionState,
    steps: Sequence[StepLike],
    input_data: Any,
    *,
    allow_failure: bool = False,
) -> None:
    """Run ``steps`` on ``input_data`` concurrently, record them and settle the block."""
    calls = [start_step(ex, step, input_data) for step in steps]
    results = await _settle_all(ex, calls) if calls else []
    output: dict[str, Any] = {}
    failed: StepResult | None = None
    suspended: dict[str, Any] = {}
    canceled = False
    for step, result in zip(steps, results):
        status = result.status
        if status == "bailed":  # a bailed sibling is left out of the block output
            result.status = "success"
        elif status == "success":
            output[step.id] = result.output
        elif status == "failed":
            if allow_failure:
                output[step.id] = None
            elif failed is None:
                failed = result
        elif status == "suspended":
            suspended[step.id] = result.suspend_payload
        else:
            canceled = True
        ex.record(step.id, result)
    if failed is not None:
        assert failed.error is not None
        ex.fail(failed.error, failed.tripwire)
    elif suspended:
        ex.status = "suspended"
        ex.suspended.update(suspended)
    elif canceled or ex.scope.abort_signal.aborted:
        ex.status = "canceled"
    else:
        ex.value = output
