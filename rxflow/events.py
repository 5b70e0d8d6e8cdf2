"""Stream events: the chunk classes a run emits, ``CustomChunk``, and ``from_dict`` to read them.

Every event has ``type`` (a class constant), ``run_id``, ``from_`` and ``payload`` (a custom
``data-*`` chunk has ``data`` instead); ``to_dict()`` gives the camelCase wire form that Mastra
clients read. Payload classes hold snake_case attributes. The engine builds these per step, so
construction is kept cheap: no validators, no default factories on the hot classes, and the
classes are slotted but not frozen (a frozen attrs ``__init__`` costs four times as much on
this per-event path). Events are shared by every reader of a run: treat them as read-only.
The hottest two, a step's start and result, travel as compact records (``build_event``) until
someone reads them.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias

import attrs

from rxflow.convert import (
    ErrorValue,
    converter,
    register_wire_form,
    structure_wire,
    to_wire,
)
from rxflow.results import IterationMetadata, TripwireInfo, Usage, metadata_from_wire
from rxflow.status import OUTPUT_STATUSES, IterationStatus, RunStatus, StepStatus

__all__ = [
    "EVENT_TYPES",
    "BlockResultPayload",
    "CustomChunk",
    "EmptyPayload",
    "Event",
    "FinishOutput",
    "IterationMetadata",
    "StepFinishPayload",
    "StepOutputPayload",
    "StepProgressPayload",
    "StepResultPayload",
    "StepStartPayload",
    "StepSuspendedPayload",
    "StepWaitingPayload",
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
    "from_dict",
]


class _Wire:
    """``to_dict()`` for the classes below: the wire form written by the converter."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The camelCase wire form (plain JSON data)."""
        result: dict[str, Any] = converter.unstructure(self)
        return result


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


@attrs.define(slots=True, eq=True)
class WorkflowStartPayload(_Wire):
    """``{workflowId}``."""

    workflow_id: str


@attrs.define(slots=True, eq=True)
class StepStartPayload(_Wire):
    """A step (or a whole foreach) is starting; ``step_call_id`` is ``None`` for foreach."""

    id: str
    step_name: str
    step_call_id: str | None
    payload: Any
    started_at: int
    status: StepStatus = "running"
    resume_payload: Any = None
    resumed_at: int | None = None
    metadata: Any = None


@attrs.define(slots=True, eq=True)
class StepOutputPayload(_Wire):
    """``writer.write(x)``: ``{stepName, runId, output}``."""

    step_name: str
    run_id: str
    output: Any


@attrs.define(slots=True, eq=True)
class StepProgressPayload(_Wire):
    """One foreach item settled; ``iteration_output`` is on the wire only for a success."""

    id: str
    step_name: str
    completed_count: int
    total_count: int
    current_index: int
    iteration_status: IterationStatus
    iteration_output: Any = None


@attrs.define(slots=True, eq=True)
class StepResultPayload(_Wire):
    """A step ended (success, failed, bailed or canceled)."""

    id: str
    step_name: str
    step_call_id: str | None
    status: StepStatus
    payload: Any
    started_at: int
    ended_at: int
    output: Any = None
    error: ErrorValue = None
    resume_payload: Any = None
    resumed_at: int | None = None
    tripwire: TripwireInfo | None = None
    metadata: Any = None


@attrs.define(slots=True, eq=True)
class BlockResultPayload(_Wire):
    """A foreach block or a sleep ended: no ``stepCallId``, ``payload`` or ``startedAt``."""

    id: str
    step_name: str
    status: StepStatus
    ended_at: int
    output: Any = None
    error: ErrorValue = None


@attrs.define(slots=True, eq=True)
class StepSuspendedPayload(_Wire):
    """A step suspended (no result follows)."""

    id: str
    step_name: str
    step_call_id: str | None
    payload: Any
    started_at: int
    suspend_payload: Any
    suspended_at: int
    status: StepStatus = "suspended"
    resume_payload: Any = None
    resumed_at: int | None = None
    metadata: Any = None


@attrs.define(slots=True, eq=True)
class StepWaitingPayload(_Wire):
    """A sleep started."""

    id: str
    step_name: str
    payload: Any
    started_at: int
    status: StepStatus = "waiting"


@attrs.define(slots=True, eq=True)
class StepFinishPayload(_Wire):
    """Follows every step result; only ``run.watch`` sees it:
    ``{id, stepName, stepCallId?, metadata}``."""

    id: str
    step_name: str
    step_call_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(slots=True, eq=True)
class EmptyPayload(_Wire):
    """``{}`` (the payload of ``workflow-canceled``)."""


@attrs.define(slots=True, eq=True)
class FinishOutput(_Wire):
    """``{"usage": {...six integer counters}}``."""

    usage: Usage


@attrs.define(slots=True, eq=True)
class WorkflowFinishPayload(_Wire):
    """The end of an output: status, usage, ``metadata`` (``{error, errorMessage}`` on failure),
    ``final_workflow_result`` (on the wire only on success) and ``tripwire``."""

    workflow_status: RunStatus
    output: FinishOutput
    metadata: dict[str, Any]
    final_workflow_result: Any = None
    tripwire: TripwireInfo | None = None


def _resumed(p: Any) -> bool:
    return p.resumed_at is not None


def _has_metadata(p: Any) -> bool:
    return p.metadata is not None


def _has_call_id(p: Any) -> bool:
    return p.step_call_id is not None


def _step_wire_form(cls: type[Any], applies: dict[str, Any]) -> None:
    register_wire_form(
        cls,
        applies=applies,
        struct_hooks={"metadata": metadata_from_wire},
        forbid_extra_keys=True,
    )


register_wire_form(WorkflowStartPayload, forbid_extra_keys=True)
_step_wire_form(
    StepStartPayload,
    {
        "step_call_id": _has_call_id,
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "metadata": _has_metadata,
    },
)
register_wire_form(StepOutputPayload, forbid_extra_keys=True)
register_wire_form(
    StepProgressPayload,
    applies={"iteration_output": lambda p: p.iteration_status == "success"},
    forbid_extra_keys=True,
)
_step_wire_form(
    StepResultPayload,
    {
        "output": lambda p: p.status in OUTPUT_STATUSES,
        "error": lambda p: p.status == "failed",
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "tripwire": lambda p: p.tripwire is not None,
        "metadata": _has_metadata,
    },
)
register_wire_form(
    BlockResultPayload,
    applies={
        "output": lambda p: p.status in OUTPUT_STATUSES,
        "error": lambda p: p.status == "failed",
    },
    forbid_extra_keys=True,
)
_step_wire_form(
    StepSuspendedPayload,
    {
        "step_call_id": _has_call_id,
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "metadata": _has_metadata,
    },
)
register_wire_form(StepWaitingPayload, forbid_extra_keys=True)
register_wire_form(
    StepFinishPayload, applies={"step_call_id": _has_call_id}, forbid_extra_keys=True
)
register_wire_form(EmptyPayload, forbid_extra_keys=True)
register_wire_form(FinishOutput, forbid_extra_keys=True)
register_wire_form(
    WorkflowFinishPayload,
    applies={
        "final_workflow_result": lambda p: p.workflow_status == "success",
        "tripwire": lambda p: p.tripwire is not None,
    },
    forbid_extra_keys=True,
)


# ---------------------------------------------------------------------------------------------
# Events (envelopes)
# ---------------------------------------------------------------------------------------------


@attrs.define(slots=True, eq=True)
class WorkflowStart(_Wire):
    """First chunk of every output."""

    type: ClassVar[str] = "workflow-start"
    run_id: str
    payload: WorkflowStartPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepStart(_Wire):
    """Before a step runs (once for a whole foreach)."""

    type: ClassVar[str] = "workflow-step-start"
    run_id: str
    payload: StepStartPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepOutput(_Wire):
    """``writer.write(x)`` from a step body."""

    type: ClassVar[str] = "workflow-step-output"
    run_id: str
    payload: StepOutputPayload
    from_: str = "USER"


@attrs.define(slots=True, eq=True)
class WorkflowStepProgress(_Wire):
    """A foreach item settled (success, failed or suspended), in completion order."""

    type: ClassVar[str] = "workflow-step-progress"
    run_id: str
    payload: StepProgressPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepResult(_Wire):
    """A step ended (not when suspended); a foreach block or sleep has a ``BlockResultPayload``."""

    type: ClassVar[str] = "workflow-step-result"
    run_id: str
    payload: StepResultPayload | BlockResultPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepSuspended(_Wire):
    """A step suspended; no result follows."""

    type: ClassVar[str] = "workflow-step-suspended"
    run_id: str
    payload: StepSuspendedPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepWaiting(_Wire):
    """A sleep started."""

    type: ClassVar[str] = "workflow-step-waiting"
    run_id: str
    payload: StepWaitingPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepFinish(_Wire):
    """Right after each step result; only ``run.watch`` sees it (never the stream)."""

    type: ClassVar[str] = "workflow-step-finish"
    run_id: str
    payload: StepFinishPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowCanceled(_Wire):
    """The run was canceled."""

    type: ClassVar[str] = "workflow-canceled"
    run_id: str
    payload: EmptyPayload = EmptyPayload()
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowFinish(_Wire):
    """Last chunk of every output."""

    type: ClassVar[str] = "workflow-finish"
    run_id: str
    payload: WorkflowFinishPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class CustomChunk(_Wire):
    """A ``data-*`` chunk from ``writer.custom(...)``: ``{type, runId, from, data, **extra}``.

    It has ``data`` instead of a payload; any other keys the writer gave are kept in ``extra``.
    """

    type: str
    run_id: str
    data: Any
    from_: str = "USER"
    extra: dict[str, Any] = attrs.field(factory=dict)


def _custom_to_wire(chunk: CustomChunk) -> dict[str, Any]:
    wire = {"type": chunk.type, "runId": chunk.run_id, "from": chunk.from_}
    wire["data"] = to_wire(chunk.data)
    for key, value in chunk.extra.items():
        wire[key] = to_wire(value)
    return wire


_CUSTOM_KEYS = frozenset({"type", "runId", "from", "data"})


def _custom_from_wire(data: Any, _: Any) -> CustomChunk:
    missing = sorted(k for k in _CUSTOM_KEYS if k not in data)
    if missing:
        raise ValueError(f"custom chunk is missing {', '.join(map(repr, missing))}")
    for key in ("type", "runId", "from"):
        if not isinstance(data[key], str):
            raise ValueError(f"custom chunk {key!r} must be a string, got {data[key]!r}")
    extra = {k: v for k, v in data.items() if k not in _CUSTOM_KEYS}
    return CustomChunk(data["type"], data["runId"], data["data"], data["from"], extra)


converter.register_unstructure_hook(CustomChunk, _custom_to_wire)
converter.register_structure_hook(CustomChunk, _custom_from_wire)


def _result_payload_from_wire(value: Any, _: Any) -> StepResultPayload | BlockResultPayload:
    """A foreach block or sleep result has neither ``stepCallId`` nor ``startedAt``."""
    is_block = isinstance(value, Mapping) and "stepCallId" not in value and "startedAt" not in value
    cls = BlockResultPayload if is_block else StepResultPayload
    return converter.structure(value, cls)  # type: ignore[return-value]


Event: TypeAlias = (
    WorkflowStart
    | WorkflowStepStart
    | WorkflowStepOutput
    | WorkflowStepProgress
    | WorkflowStepResult
    | WorkflowStepSuspended
    | WorkflowStepWaiting
    | WorkflowStepFinish
    | WorkflowCanceled
    | WorkflowFinish
    | CustomChunk
)
"""Any chunk a run emits."""

_ENVELOPES: tuple[type[Any], ...] = (
    WorkflowStart,
    WorkflowStepStart,
    WorkflowStepOutput,
    WorkflowStepProgress,
    WorkflowStepResult,
    WorkflowStepSuspended,
    WorkflowStepWaiting,
    WorkflowStepFinish,
    WorkflowCanceled,
    WorkflowFinish,
)

EVENT_TYPES: Mapping[str, type[Any]] = types.MappingProxyType({cls.type: cls for cls in _ENVELOPES})
"""Each fixed event ``type`` and its class (``data-*`` types are all ``CustomChunk``)."""

for _cls in _ENVELOPES:
    register_wire_form(
        _cls,
        constants={"type": _cls.type},
        key_order=("type", "runId", "from", "payload"),
        forbid_extra_keys=True,
        struct_hooks={"payload": _result_payload_from_wire} if _cls is WorkflowStepResult else None,
    )


def _first_difference(given: Any, rebuilt: Any, path: str) -> str | None:
    """Where a wire dict and its re-written form differ (so we can say what is malformed)."""
    if isinstance(given, Mapping) and isinstance(rebuilt, Mapping):
        for key in given:
            if key not in rebuilt:
                return f"{path}{key} is not expected here"
        for key in rebuilt:
            if key not in given:
                return f"{path}{key} is missing"
        for key in given:
            found = _first_difference(given[key], rebuilt[key], f"{path}{key}.")
            if found:
                return found
        return None
    if given != rebuilt or type(given) is not type(rebuilt):
        return f"{path.rstrip('.') or 'value'} is not plain JSON data ({given!r})"
    return None


def from_dict(data: Mapping[str, Any]) -> Event:
    """Read a wire dict back into its event: ``from_dict(d).to_dict() == d``.

    User values stay plain JSON data and errors stay ``{message, name, ...}`` dicts. Raises
    ``ValueError`` naming what is wrong for an unknown ``type`` or a malformed dict.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"an event must be a mapping, got {data!r}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"an event needs a string 'type', got {kind!r}")
    cls: type[Any] | None = CustomChunk if kind.startswith("data-") else EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    event: Event = (
        _custom_from_wire(data, cls)
        if cls is CustomChunk
        else structure_wire(data, cls, what=f"{kind!r} event")
    )
    problem = _first_difference(data, event.to_dict(), "")
    if problem:
        raise ValueError(f"malformed {kind!r} event: {problem}")
    return event


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
