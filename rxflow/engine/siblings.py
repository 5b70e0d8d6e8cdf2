"""Sibling invocations (parallel branches, chosen branch steps): run concurrently, settle once.

Every sibling's start event is emitted before any body runs; results come in completion order
and are recorded as they come (so a durable store keeps finished siblings even if the process
dies mid-block); the block's outcome is decided after all siblings have settled (siblings never
cancel each other; a run cancel cancels them all).

On resume, siblings with a stored result are not run again: the targeted suspended sibling is
resumed, other suspended siblings stay suspended, and siblings with no result yet (a restart
after a crash) run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .invoke import StepCall, StepInvoker, cancel_call
from .outcome import settle_siblings
from .state import ExecutionState, ResumeTarget

__all__ = ["run_siblings"]


async def _run_all(
    ex: ExecutionState, calls: list[tuple[StepInvoker, StepCall]], again: set[str]
) -> None:
    """Run the started calls concurrently; each result is recorded as it settles."""
    loop = asyncio.get_running_loop()

    async def one(invoker: StepInvoker, call: StepCall) -> None:
        result = await invoker.run(ex, call)
        ex.record(call.step.id, result, again=call.step.id in again)

    tasks = [loop.create_task(one(invoker, call)) for invoker, call in calls]
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        if not ex.scope.absorb_cancel():
            raise
    for (_, call), task in zip(calls, tasks, strict=True):
        if task.cancelled():  # canceled before its body could report
            ex.record(call.step.id, cancel_call(ex, call), again=call.step.id in again)


def _plan(
    ex: ExecutionState,
    invokers: Sequence[StepInvoker],
    input_data: Any,
    target: ResumeTarget | None,
    resuming: bool,
) -> tuple[list[tuple[StepInvoker, StepCall]], set[str]]:
    """Start the siblings that must run now; the rest keep their stored results."""
    calls: list[tuple[StepInvoker, StepCall]] = []
    again: set[str] = set()
    for invoker in invokers:
        step_id = invoker.step.id
        stored = ex.step_results.get(step_id) if resuming else None
        if stored is None:
            calls.append((invoker, invoker.start(ex, input_data)))
        elif stored.status == "suspended" and target is not None and target.path[0] == step_id:
            call = invoker.start(ex, stored.payload, resume_from=stored, target=target)
            calls.append((invoker, call))
            again.add(step_id)
    return calls, again


async def run_siblings(
    ex: ExecutionState,
    invokers: Sequence[StepInvoker],
    input_data: Any,
    *,
    allow_failure: bool = False,
    target: ResumeTarget | None = None,
    resuming: bool = False,
) -> None:
    """Run the steps of ``invokers`` on ``input_data`` concurrently (or continue them from
    stored results when ``resuming``), then settle the block from every sibling's result."""
    calls, again = _plan(ex, invokers, input_data, target, resuming)
    if calls:
        await _run_all(ex, calls, again)
    settle_siblings(ex, [invoker.step for invoker in invokers], allow_failure=allow_failure)
