"""One class per stream event ``type`` (with ``run_id``, ``from_`` and ``payload``), ``CustomChunk``
for ``data-*`` chunks, the ``Event`` union and the ``EVENT_TYPES`` table."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs

from rxflow.convert import converter, register_wire_form, to_wire
from rxflow.events.payloads import (
    BlockResultPayload,
    EmptyPayload,
    StepFinishPayload,
    StepOutputPayload,
    StepProgressPayload,
    StepResultPayload,
    StepStartPayload,
    StepSuspendedPayload,
    StepWaitingPayload,
    WireForm,
    WorkflowFinishPayload,
    WorkflowStartPayload,
)

__all__ = [
    "EVENT_TYPES",
    "CustomChunk",
    "Event",
    "WorkflowCanceled",
    "WorkflowFinish",
    "WorkflowPaused",
    "WorkflowStart",
    "WorkflowStepFinish",
    "WorkflowStepOutput",
    "WorkflowStepProgress",
    "WorkflowStepResult",
    "WorkflowStepStart",
    "WorkflowStepSuspended",
    "WorkflowStepWaiting",
]


@attrs.define(slots=True, eq=True)
class WorkflowStart(WireForm):
    """First chunk of every output."""

    type: ClassVar[Literal["workflow-start"]] = "workflow-start"
    run_id: str
    payload: WorkflowStartPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepStart(WireForm):
    """Before a step runs (once for a whole foreach)."""

    type: ClassVar[Literal["workflow-step-start"]] = "workflow-step-start"
    run_id: str
    payload: StepStartPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepOutput(WireForm):
    """``writer.write(x)`` from a step body."""

    type: ClassVar[Literal["workflow-step-output"]] = "workflow-step-output"
    run_id: str
    payload: StepOutputPayload
    from_: str = "USER"


@attrs.define(slots=True, eq=True)
class WorkflowStepProgress(WireForm):
    """A foreach item settled (success, failed or suspended), in completion order."""

    type: ClassVar[Literal["workflow-step-progress"]] = "workflow-step-progress"
    run_id: str
    payload: StepProgressPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepResult(WireForm):
    """A step ended (not when suspended); a foreach block or sleep has a ``BlockResultPayload``."""

    type: ClassVar[Literal["workflow-step-result"]] = "workflow-step-result"
    run_id: str
    payload: StepResultPayload | BlockResultPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepSuspended(WireForm):
    """A step suspended; no result follows."""

    type: ClassVar[Literal["workflow-step-suspended"]] = "workflow-step-suspended"
    run_id: str
    payload: StepSuspendedPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepWaiting(WireForm):
    """A sleep started."""

    type: ClassVar[Literal["workflow-step-waiting"]] = "workflow-step-waiting"
    run_id: str
    payload: StepWaitingPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowStepFinish(WireForm):
    """Right after each step result; only ``run.watch`` sees it (never the stream)."""

    type: ClassVar[Literal["workflow-step-finish"]] = "workflow-step-finish"
    run_id: str
    payload: StepFinishPayload
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowCanceled(WireForm):
    """The run was canceled."""

    type: ClassVar[Literal["workflow-canceled"]] = "workflow-canceled"
    run_id: str
    payload: EmptyPayload = EmptyPayload()
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowPaused(WireForm):
    """A step-by-step segment (``per_step=True``) ran its one entry and paused the run."""

    type: ClassVar[Literal["workflow-paused"]] = "workflow-paused"
    run_id: str
    payload: EmptyPayload = EmptyPayload()
    from_: str = "WORKFLOW"


@attrs.define(slots=True, eq=True)
class WorkflowFinish(WireForm):
    """Last chunk of every output."""

    type: ClassVar[Literal["workflow-finish"]] = "workflow-finish"
    run_id: str
    payload: WorkflowFinishPayload
    from_: str = "WORKFLOW"


if TYPE_CHECKING:
    #: The ``type`` of a custom chunk, any string starting with ``data-``. Type checkers see
    #: one literal here (typing cannot spell a prefix), so that every event class's ``type``
    #: is a literal and ``if chunk.type == "workflow-step-progress":`` narrows ``chunk``. To
    #: test a custom chunk's type, first narrow with ``isinstance(chunk, CustomChunk)``, then
    #: use ``chunk.type.startswith(...)`` or compare ``str(chunk.type)``.
    DataChunkType: TypeAlias = Literal["data-*"]
else:
    DataChunkType = str


@attrs.define(slots=True, eq=True)
class CustomChunk(WireForm):
    """A ``data-*`` chunk from ``writer.custom(...)``: ``{type, runId, from, data, **extra}``.

    It has ``data`` instead of a payload; any other keys the writer gave are kept in ``extra``.
    """

    type: DataChunkType
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


_STEP_ONLY_KEYS = ("stepCallId", "startedAt", "payload")


def _result_payload_from_wire(value: Any, _: Any) -> StepResultPayload | BlockResultPayload:
    """A foreach block or sleep result has no ``stepCallId``, ``startedAt`` or ``payload``."""
    is_block = isinstance(value, Mapping) and not any(key in value for key in _STEP_ONLY_KEYS)
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
    | WorkflowPaused
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
    WorkflowPaused,
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
