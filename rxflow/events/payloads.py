"""The payload of each stream event (snake_case attributes, camelCase on the wire), and each
payload's wire form."""

from __future__ import annotations

from typing import Any

import attrs

from rxflow.convert import ErrorValue, register_wire_form, to_wire
from rxflow.results import TripwireInfo, Usage, metadata_from_wire
from rxflow.status import OUTPUT_STATUSES, IterationStatus, RunStatus, StepStatus

__all__ = [
    "BlockResultPayload",
    "EmptyPayload",
    "FinishOutput",
    "StepFinishPayload",
    "StepOutputPayload",
    "StepProgressPayload",
    "StepResultPayload",
    "StepStartPayload",
    "StepSuspendedPayload",
    "StepWaitingPayload",
    "WireForm",
    "WorkflowFinishPayload",
    "WorkflowStartPayload",
]


class WireForm:
    """Base of events and payloads: ``to_dict()``, the wire form written by the converter."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The camelCase wire form: JSON data, or ``NotJSONError`` naming the path of a value
        JSON cannot carry (``$.payload.output.total``)."""
        result: dict[str, Any] = to_wire(self)
        return result


# The engine builds payloads per step, so construction is kept cheap: no validators, no
# default factories on the hot classes, slotted but not frozen (a frozen attrs ``__init__``
# costs four times as much on this per-event path).


@attrs.define(slots=True, eq=True)
class WorkflowStartPayload(WireForm):
    """``{workflowId}``."""

    workflow_id: str


@attrs.define(slots=True, eq=True)
class StepStartPayload(WireForm):
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
class StepOutputPayload(WireForm):
    """``writer.write(x)``: ``{stepName, runId, output}``."""

    step_name: str
    run_id: str
    output: Any


@attrs.define(slots=True, eq=True)
class StepProgressPayload(WireForm):
    """One foreach item settled; ``iteration_output`` is on the wire only for a success."""

    id: str
    step_name: str
    completed_count: int
    total_count: int
    current_index: int
    iteration_status: IterationStatus
    iteration_output: Any = None


@attrs.define(slots=True, eq=True)
class StepResultPayload(WireForm):
    """A step ended (success, failed, bailed or canceled)."""

    id: str
    step_name: str
    step_call_id: str | None
    status: StepStatus
    payload: Any
    started_at: int | None
    ended_at: int
    output: Any = None
    error: ErrorValue = None
    resume_payload: Any = None
    resumed_at: int | None = None
    tripwire: TripwireInfo | None = None
    metadata: Any = None


@attrs.define(slots=True, eq=True)
class BlockResultPayload(WireForm):
    """A foreach block or a sleep ended: no ``stepCallId``, ``payload`` or ``startedAt``."""

    id: str
    step_name: str
    status: StepStatus
    ended_at: int
    output: Any = None
    error: ErrorValue = None


@attrs.define(slots=True, eq=True)
class StepSuspendedPayload(WireForm):
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
class StepWaitingPayload(WireForm):
    """A sleep started."""

    id: str
    step_name: str
    payload: Any
    started_at: int
    status: StepStatus = "waiting"


@attrs.define(slots=True, eq=True)
class StepFinishPayload(WireForm):
    """Follows every step result; only ``run.watch`` sees it:
    ``{id, stepName, stepCallId?, metadata}``."""

    id: str
    step_name: str
    step_call_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(slots=True, eq=True)
class EmptyPayload(WireForm):
    """``{}`` (the payload of ``workflow-canceled``)."""


@attrs.define(slots=True, eq=True)
class FinishOutput(WireForm):
    """``{"usage": {...six integer counters}}``."""

    usage: Usage


@attrs.define(slots=True, eq=True)
class WorkflowFinishPayload(WireForm):
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


def _step_name_from_id(data: dict[str, Any]) -> dict[str, Any]:
    """Mastra adds ``stepName`` only to events that go through its stream, never to this one."""
    if "stepName" not in data and "id" in data:
        data["stepName"] = data["id"]
    return data


# ``may_omit``: what Mastra leaves out when it has no value (JSON drops an ``undefined``
# payload, output, error or resume data; a foreach or sleep has no step call id; a step result
# of older versions has no ``startedAt``). Ids, ``stepName``, statuses, counts and the other
# timestamps always have a value, so they stay required.
_RESUME = ("resume_payload", "resumed_at")

register_wire_form(WorkflowStartPayload, forbid_extra_keys=True)
register_wire_form(
    StepStartPayload,
    applies={
        "step_call_id": _has_call_id,
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "metadata": _has_metadata,
    },
    struct_hooks={"metadata": metadata_from_wire},
    forbid_extra_keys=True,
    may_omit=("step_call_id", "payload", *_RESUME, "metadata"),
)
register_wire_form(StepOutputPayload, forbid_extra_keys=True, may_omit=("output",))
register_wire_form(
    StepProgressPayload,
    applies={"iteration_output": lambda p: p.iteration_status == "success"},
    forbid_extra_keys=True,
    may_omit=("iteration_output",),
)
register_wire_form(
    StepResultPayload,
    applies={
        "output": lambda p: p.status in OUTPUT_STATUSES,
        "error": lambda p: p.status == "failed",
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "tripwire": lambda p: p.tripwire is not None,
        "metadata": _has_metadata,
    },
    struct_hooks={"metadata": metadata_from_wire},
    forbid_extra_keys=True,
    may_omit=(
        "step_call_id",
        "payload",
        "started_at",
        "output",
        "error",
        *_RESUME,
        "tripwire",
        "metadata",
    ),
)
register_wire_form(
    BlockResultPayload,
    applies={
        "output": lambda p: p.status in OUTPUT_STATUSES,
        "error": lambda p: p.status == "failed",
    },
    forbid_extra_keys=True,
    may_omit=("output", "error"),
)
register_wire_form(
    StepSuspendedPayload,
    applies={
        "step_call_id": _has_call_id,
        "resume_payload": _resumed,
        "resumed_at": _resumed,
        "metadata": _has_metadata,
    },
    struct_hooks={"metadata": metadata_from_wire},
    forbid_extra_keys=True,
    may_omit=("step_call_id", "payload", "suspend_payload", *_RESUME, "metadata"),
)
register_wire_form(StepWaitingPayload, forbid_extra_keys=True, may_omit=("payload",))
register_wire_form(
    StepFinishPayload,
    applies={"step_call_id": _has_call_id},
    forbid_extra_keys=True,
    before_structure=_step_name_from_id,
    may_omit=("step_name", "step_call_id"),
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
    may_omit=("final_workflow_result", "tripwire"),
)
