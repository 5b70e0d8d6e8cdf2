"""Stream events: the chunk classes a run emits, ``CustomChunk``, and ``from_dict`` to read them.

Every event has ``type`` (a class constant), ``run_id``, ``from_`` and ``payload`` (a custom
``data-*`` chunk has ``data`` instead); ``to_dict()`` gives the camelCase wire form that Mastra
clients read. Payload classes hold snake_case attributes. Events are shared by every reader of
a run: treat them as read-only.

The modules: ``payloads`` (the payload classes), ``chunks`` (one class per event type, the
``Event`` union), ``reading`` (``from_dict``) and ``records`` (the compact records the engine
emits a step's start and result as, until someone reads them).
"""

from rxflow.events.chunks import (
    EVENT_TYPES,
    CustomChunk,
    Event,
    WorkflowCanceled,
    WorkflowFinish,
    WorkflowStart,
    WorkflowStepFinish,
    WorkflowStepOutput,
    WorkflowStepProgress,
    WorkflowStepResult,
    WorkflowStepStart,
    WorkflowStepSuspended,
    WorkflowStepWaiting,
)
from rxflow.events.payloads import (
    BlockResultPayload,
    EmptyPayload,
    FinishOutput,
    StepFinishPayload,
    StepOutputPayload,
    StepProgressPayload,
    StepResultPayload,
    StepStartPayload,
    StepSuspendedPayload,
    StepWaitingPayload,
    WorkflowFinishPayload,
    WorkflowStartPayload,
)
from rxflow.events.reading import from_dict
from rxflow.events.records import (
    STEP_RESULT_RECORD,
    STEP_START_RECORD,
    EventRecord,
    UsageRecorded,
    build_event,
)
from rxflow.results import IterationMetadata

__all__ = [
    "EVENT_TYPES",
    "STEP_RESULT_RECORD",
    "STEP_START_RECORD",
    "BlockResultPayload",
    "CustomChunk",
    "EmptyPayload",
    "Event",
    "EventRecord",
    "FinishOutput",
    "IterationMetadata",
    "StepFinishPayload",
    "StepOutputPayload",
    "StepProgressPayload",
    "StepResultPayload",
    "StepStartPayload",
    "StepSuspendedPayload",
    "StepWaitingPayload",
    "UsageRecorded",
    "WorkflowCanceled",
    "WorkflowFinish",
    "WorkflowFinishPayload",
    "WorkflowStart",
    "WorkflowStartPayload",
    "WorkflowStepFinish",
    "WorkflowStepOutput",
    "WorkflowStepProgress",
    "WorkflowStepResult",
    "WorkflowStepStart",
    "WorkflowStepSuspended",
    "WorkflowStepWaiting",
    "build_event",
    "from_dict",
]
