"""What a run returns: ``WorkflowResult``, per-step ``StepResult``, token ``Usage``, tripwire info;
each with ``to_dict()`` (camelCase JSON data, or ``NotJSONError`` naming the path of a value JSON
cannot carry) and ``from_dict()`` (ignores keys it does not know)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

import attrs
from typing_extensions import TypeVar

from rxflow.convert import ErrorValue, register_wire_form, structure_wire, to_wire
from rxflow.errors import TripWire
from rxflow.status import OUTPUT_STATUSES, ResultStatus, StepStatus

__all__ = [
    "IterationMetadata",
    "StepResult",
    "TripwireInfo",
    "Usage",
    "WorkflowResult",
]


#: The workflow's output type (``WorkflowResult[Receipt]``); ``Any`` when not given.
Out = TypeVar("Out", default=Any)


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _report_int(value: Any) -> int | None:
    """Integer-parse one usage counter as an LLM report gives it (int, float or numeric text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


@attrs.frozen(slots=True)
class Usage:
    """Token usage; ``None`` for the optional counters means no report ever gave them.

    On the wire all six counters are integers (``None`` is written as ``0``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    # Defaults to input + output; an explicit total is kept as given.
    total_tokens: int = attrs.field(
        default=attrs.Factory(
            lambda usage: usage.input_tokens + usage.output_tokens, takes_self=True
        )
    )
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def plus(self, other: Usage) -> Usage:
        """The sum of two usages (``None`` + ``None`` is ``None``; ``None`` + x is x)."""
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            _add_optional(self.reasoning_tokens, other.reasoning_tokens),
            _add_optional(self.cached_input_tokens, other.cached_input_tokens),
            _add_optional(self.cache_creation_input_tokens, other.cache_creation_input_tokens),
        )

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Usage:
        """Read an LLM usage report (``inputTokens``/``outputTokens`` or the older
        ``promptTokens``/``completionTokens``); counters are integer-parsed and
        ``totalTokens`` defaults to input + output (an explicit one is kept)."""
        first = report.get("inputTokens")
        input_tokens = _report_int(first if first is not None else report.get("promptTokens"))
        second = report.get("outputTokens")
        output_tokens = _report_int(
            second if second is not None else report.get("completionTokens")
        )
        input_tokens, output_tokens = input_tokens or 0, output_tokens or 0
        total = _report_int(report.get("totalTokens"))
        return cls(
            input_tokens,
            output_tokens,
            input_tokens + output_tokens if total is None else total,
            _report_int(report.get("reasoningTokens")),
            _report_int(report.get("cachedInputTokens")),
            _report_int(report.get("cacheCreationInputTokens")),
        )

    def to_dict(self) -> dict[str, Any]:
        """``{inputTokens, outputTokens, totalTokens, reasoningTokens, cachedInputTokens,
        cacheCreationInputTokens}``, all integers."""
        result: dict[str, Any] = to_wire(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Read the wire form back (missing counters take their defaults)."""
        return structure_wire(data, cls, what="Usage")


def _zero_if_none(value: int | None) -> int:
    return 0 if value is None else value


_OPTIONAL_COUNTERS = ("reasoning_tokens", "cached_input_tokens", "cache_creation_input_tokens")

# Mastra declares only input, output and total; it leaves the optional counters out when no
# report gave them, and they read as ``None`` (written back as 0).
register_wire_form(
    Usage,
    unstruct_hooks=dict.fromkeys(_OPTIONAL_COUNTERS, _zero_if_none),
    may_omit=_OPTIONAL_COUNTERS,
)


@attrs.frozen(slots=True)
class TripwireInfo:
    """Why a guardrail ended the run (from a ``TripWire`` raised by a step)."""

    reason: str
    retry: bool = False
    metadata: dict[str, Any] | None = None
    processor_id: str | None = None

    @classmethod
    def from_exception(cls, exc: TripWire) -> TripwireInfo:
        """The info carried by a raised ``TripWire``."""
        return cls(exc.reason, exc.retry, exc.metadata, exc.processor_id)

    def to_dict(self) -> dict[str, Any]:
        """``{reason, retry, metadata, processorId}``."""
        result: dict[str, Any] = to_wire(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TripwireInfo:
        """Read the wire form back."""
        return structure_wire(data, cls, what="TripwireInfo")


register_wire_form(TripwireInfo, may_omit=("retry", "metadata", "processor_id"))


@attrs.frozen(slots=True)
class IterationMetadata:
    """The ``metadata`` of a loop iteration's events and step result: ``{"iterationCount": n}``."""

    iteration_count: int

    def to_dict(self) -> dict[str, Any]:
        """``{"iterationCount": n}``."""
        result: dict[str, Any] = to_wire(self)
        return result


register_wire_form(IterationMetadata, forbid_extra_keys=True)


def metadata_from_wire(value: Any, _: Any = None) -> Any:
    """Read a ``metadata`` value: ``{"iterationCount": n}`` becomes ``IterationMetadata``."""
    if isinstance(value, Mapping) and len(value) == 1 and type(value.get("iterationCount")) is int:
        return IterationMetadata(value["iterationCount"])
    return value


@attrs.define(slots=True)
class StepResult:
    """How one step ended (or where it stands): kept in ``WorkflowResult.steps`` and snapshots.

    Mutable on purpose: the engine updates it in place (on resume, for instance).
    """

    status: StepStatus
    payload: Any = None
    output: Any = None
    error: ErrorValue = None
    started_at: int | None = None
    ended_at: int | None = None
    suspend_payload: Any = None
    suspended_at: int | None = None
    resume_payload: Any = None
    resumed_at: int | None = None
    metadata: Any = None
    tripwire: TripwireInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``status, payload, startedAt`` always, the rest when it applies."""
        result: dict[str, Any] = to_wire(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        """Read the wire form back (errors stay ``{message, name, ...}`` dicts)."""
        return structure_wire(data, cls, what="StepResult")


register_wire_form(
    StepResult,
    applies={
        "output": lambda r: r.status in OUTPUT_STATUSES,
        "error": lambda r: r.status == "failed",
        "ended_at": lambda r: r.ended_at is not None,
        "suspend_payload": lambda r: r.suspended_at is not None,
        "suspended_at": lambda r: r.suspended_at is not None,
        "resume_payload": lambda r: r.resumed_at is not None,
        "resumed_at": lambda r: r.resumed_at is not None,
        "metadata": lambda r: r.metadata is not None,
        "tripwire": lambda r: r.tripwire is not None,
    },
    struct_hooks={"metadata": metadata_from_wire},
)


@attrs.frozen(slots=True)
class WorkflowResult(Generic[Out]):
    """The outcome of a run (or of a run segment, when it suspended).

    By status: ``success`` has ``result``; ``failed`` has ``error`` (the exception object);
    ``suspended`` has ``suspended`` (paths, like ``[["approve"]]``) and ``suspend_payload``
    (``{step_id: payload}``); ``tripwire`` has ``tripwire``; ``canceled`` nothing more.
    ``Out`` is the workflow's output type (its ``output_schema``): ``result`` is an ``Out``
    on success, ``None`` otherwise.
    """

    status: ResultStatus
    run_id: str
    input: Any
    steps: dict[str, StepResult]
    step_execution_path: list[str]
    state: dict[str, Any] | None = None
    trace_id: str | None = None
    span_id: str | None = None
    result: Out | None = None
    error: ErrorValue = None
    suspended: list[list[str]] | None = None
    suspend_payload: dict[str, Any] | None = None
    tripwire: TripwireInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form; like Mastra's, its ``steps`` start with an ``input`` key holding the
        workflow input, then each step id (a step whose id is ``input`` would hide it)."""
        result: dict[str, Any] = to_wire(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowResult:
        """Read the wire form back (the ``input`` key of ``steps`` is dropped)."""
        return structure_wire(data, cls, what="WorkflowResult")


def _steps_with_input(wire: dict[str, Any]) -> dict[str, Any]:
    wire["steps"] = {"input": wire["input"], **wire["steps"]}
    return wire


def _steps_without_input(data: dict[str, Any]) -> dict[str, Any]:
    steps = data.get("steps")
    if isinstance(steps, Mapping) and "input" in steps:
        data["steps"] = {k: v for k, v in steps.items() if k != "input"}
    return data


register_wire_form(
    WorkflowResult,
    applies={
        "result": lambda r: r.status == "success",
        "error": lambda r: r.status == "failed",
        "suspended": lambda r: r.status == "suspended",
        "suspend_payload": lambda r: r.status == "suspended",
        "tripwire": lambda r: r.status == "tripwire",
    },
    after_unstructure=_steps_with_input,
    before_structure=_steps_without_input,
)
