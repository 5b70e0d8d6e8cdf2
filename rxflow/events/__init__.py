"""Stream events: one class per event type (``to_dict()`` gives the camelCase wire form Mastra
clients read), ``CustomChunk`` and ``from_dict``. Treat events as read-only: readers share them."""

# payloads: the payload classes; chunks: one class per event type and the Event union;
# reading: from_dict; records: the compact tuples a step's start and result travel as.
from rxflow.events.chunks import (
    EVENT_TYPES,
    CustomChunk,
    Event,
    WorkflowCanceled,
    WorkflowFinish,
    WorkflowPaused,
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
    "WorkflowPaused",
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
