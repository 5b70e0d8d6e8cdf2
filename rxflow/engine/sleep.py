"""``sleep(ms | fn)`` and ``sleep_until(datetime | fn)``: wait, passing the input through.

Emits ``workflow-step-waiting``, then a block ``workflow-step-result``. A run cancel interrupts
the wait at once (the result then says ``canceled``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from ..events import (
    BlockResultPayload,
    StepWaitingPayload,
    WorkflowStepResult,
    WorkflowStepWaiting,
)
from ..graph import SleepEntry, SleepUntilEntry
from ..results import StepResult
from ..status import StepStatus
from ..tracing import block_span
from .condition import evaluate
from .operator import EntryOperator
from .outcome import end_entry
from .state import ExecutionState, now_ms

__all__ = ["sleep_operator"]


def _seconds_until(when: Any) -> float:
    if not isinstance(when, datetime):
        raise TypeError(f"sleep_until expects a datetime, got {when!r}")
    # A naive datetime is local time, as datetime.timestamp() reads it.
    return when.timestamp() - time.time()


def _seconds(ms: Any) -> float:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise TypeError(f"sleep expects a number of milliseconds, got {ms!r}")
    return ms / 1000


async def _duration(entry: SleepEntry | SleepUntilEntry, ex: ExecutionState) -> float:
    if isinstance(entry, SleepEntry):
        ms = entry.duration
        if callable(ms):
            ms = await evaluate(ms, ex, ex.value)
        return max(0.0, _seconds(ms))
    when = entry.until
    if callable(when):
        when = await evaluate(when, ex, ex.value)
    return max(0.0, _seconds_until(when))


def sleep_operator(entry: SleepEntry | SleepUntilEntry) -> EntryOperator:
    sleep_id = entry.id

    async def run(ex: ExecutionState) -> None:
        scope = ex.scope
        event_id = ex.prefix + sleep_id
        input_data = ex.value
        started_at = now_ms()
        status: StepStatus = "success"
        error: Exception | None = None
        try:
            seconds = await _duration(entry, ex)
        except Exception as exc:
            status, error = "failed", exc
        else:
            span_name = (
                f"sleep: {round(seconds * 1000)}ms"
                if isinstance(entry, SleepEntry)
                else "sleepUntil: "
                + (entry.until.isoformat() if not callable(entry.until) else "dynamic")
            )
            scope.emit(
                WorkflowStepWaiting(
                    run_id=scope.run_id,
                    payload=StepWaitingPayload(
                        id=event_id, step_name=event_id, payload=input_data, started_at=started_at
                    ),
                )
            )
            with block_span(ex, span_name, {"rxflow.step.id": sleep_id}):
                try:
                    await asyncio.sleep(seconds)
                except asyncio.CancelledError:
                    if not scope.absorb_cancel():
                        raise
                    status = "canceled"
        ended_at = now_ms()
        scope.emit(
            WorkflowStepResult(
                run_id=scope.run_id,
                payload=BlockResultPayload(
                    id=event_id,
                    step_name=event_id,
                    status=status,
                    ended_at=ended_at,
                    output=input_data if status == "success" else None,
                    error=error,
                ),
            )
        )
        ex.record(
            sleep_id,
            StepResult(
                status=status,
                payload=input_data,
                output=input_data if status == "success" else None,
                error=error,
                started_at=started_at,
                ended_at=ended_at,
            ),
        )
        end_entry(ex, status, input_data, error)

    label = f"{entry.duration}ms" if isinstance(entry, SleepEntry) else "until"
    return EntryOperator(entry.kind, label, run)
