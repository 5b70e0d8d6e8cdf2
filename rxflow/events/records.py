"""Compact step records: a step's start and result as flat tuples until someone reads them
(``build_event`` makes the event), and ``UsageRecorded``, the engine's usage notice."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from rxflow.events.chunks import Event, WorkflowStepResult, WorkflowStepStart
from rxflow.events.payloads import StepResultPayload, StepStartPayload
from rxflow.results import Usage

__all__ = [
    "STEP_RESULT_RECORD",
    "STEP_START_RECORD",
    "EventRecord",
    "UsageRecorded",
    "build_event",
]


@attrs.define(slots=True, eq=True)
class UsageRecorded:
    """Internal notice, not an event: a step called ``record_usage`` (never on the wire)."""

    usage: Usage


# ---------------------------------------------------------------------------------------------
# Step events recorded compactly
# ---------------------------------------------------------------------------------------------
# A run keeps every event it emitted for replay, and with many runs in flight their unread
# step events made up most of the objects CPython's cyclic garbage collector had to walk.
# So the engine records a step's start and result as one flat tuple of the event's values;
# an output keeps that tuple and builds the event object the first time someone reads it
# (and keeps the object from then on). The collector stops tracking a tuple that holds only
# atomic values, so unread history costs it nothing. Anyone taking events as objects (Rx
# subscribers, ``watch`` callbacks) gets them built at once.

STEP_START_RECORD = 0
"""``(STEP_START_RECORD, run_id, id, step_call_id, payload, started_at, resume_payload,
resumed_at, metadata)``"""

STEP_RESULT_RECORD = 1
"""``(STEP_RESULT_RECORD, run_id, id, step_call_id, status, payload, started_at, ended_at,
output, error, resume_payload, resumed_at, tripwire, metadata)``"""

EventRecord: TypeAlias = tuple[Any, ...]


def build_event(record: EventRecord) -> Event:
    """The event object a compact step record stands for."""
    # Plain tuples and positional calls: this runs once per step event read, the hot path.
    if record[0] == STEP_START_RECORD:
        _, run_id, event_id, call_id, payload, started_at, resume_data, resumed_at, metadata = (
            record
        )
        return WorkflowStepStart(
            run_id,
            StepStartPayload(
                event_id,  # id
                event_id,  # step_name
                call_id,
                payload,
                started_at,
                "running",
                resume_data,
                resumed_at,
                metadata,
            ),
        )
    (
        _,
        run_id,
        event_id,
        call_id,
        status,
        payload,
        started_at,
        ended_at,
        output,
        error,
        resume_data,
        resumed_at,
        tripwire,
        metadata,
    ) = record
    return WorkflowStepResult(
        run_id,
        StepResultPayload(
            event_id,  # id
            event_id,  # step_name
            call_id,
            status,
            payload,
            started_at,
            ended_at,
            output,
            error,
            resume_data,
            resumed_at,
            tripwire,
            metadata,
        ),
    )
