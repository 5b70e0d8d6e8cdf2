"""The committed workflow as frozen data: a ``WorkflowGraph`` of entries (then, parallel, branch,
loop, foreach, map, sleep). The builder makes graphs; the engine compiles and runs them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import attrs

from .errors import WorkflowDefinitionError

if TYPE_CHECKING:
    from .executors.protocol import Executor

__all__ = [
    "BranchEntry",
    "Entry",
    "ForeachEntry",
    "LoopEntry",
    "MapEntry",
    "ParallelEntry",
    "RetryConfig",
    "SleepEntry",
    "SleepUntilEntry",
    "StepEntry",
    "StepLike",
    "StepNode",
    "WorkflowGraph",
    "EntryShape",
    "entry_steps",
    "graph_fingerprint",
    "graph_shape",
    "serialize_graph",
]

Condition = Callable[..., Any]


class StepNode(Protocol):
    """What the engine reads from a step (``rxflow.Step`` is the one implementation)."""

    @property
    def id(self) -> str: ...
    @property
    def execute(self) -> Callable[..., Any]: ...
    @property
    def description(self) -> str | None: ...
    @property
    def input_schema(self) -> Any: ...
    @property
    def output_schema(self) -> Any: ...
    @property
    def resume_schema(self) -> Any: ...
    @property
    def suspend_schema(self) -> Any: ...
    @property
    def state_schema(self) -> Any: ...
    @property
    def request_context_schema(self) -> Any: ...
    @property
    def retries(self) -> int | None: ...
    @property
    def is_async(self) -> bool:
        """Whether ``execute`` is an ``async def`` (run on the loop; else in a thread)."""

    @property
    def executor(self) -> Executor | None:
        """Where the body runs (None: the workflow's executor, else here)."""


@attrs.frozen(slots=True)
class RetryConfig:
    """Retries of a workflow's steps: ``attempts`` extra tries, ``delay`` ms apart (fixed)."""

    attempts: int = 0
    delay: float = 0

    def __attrs_post_init__(self) -> None:
        if type(self.attempts) is not int or self.attempts < 0:
            raise WorkflowDefinitionError(
                f"RetryConfig.attempts must be an int >= 0, got {self.attempts!r}"
            )
        if (
            isinstance(self.delay, bool)
            or not isinstance(self.delay, (int, float))
            or self.delay < 0
        ):
            raise WorkflowDefinitionError(f"RetryConfig.delay must be ms >= 0, got {self.delay!r}")


@attrs.frozen(slots=True)
class StepEntry:
    """``then(step)``: run one step (or nested workflow) on the previous output."""

    step: StepLike
    kind: Literal["step"] = "step"


@attrs.frozen(slots=True)
class ParallelEntry:
    """``parallel([...])``: every step on the same input, concurrently."""

    steps: tuple[StepLike, ...]
    allow_failure: bool = False
    kind: Literal["parallel"] = "parallel"


@attrs.frozen(slots=True)
class BranchEntry:
    """``branch([(cond, step), ...])``: every step whose condition is true runs, concurrently."""

    branches: tuple[tuple[Condition, StepLike], ...]
    kind: Literal["conditional"] = "conditional"


@attrs.frozen(slots=True)
class LoopEntry:
    """``dowhile`` / ``dountil``: run the step, then test the condition on its output."""

    step: StepLike
    condition: Condition
    loop_type: Literal["dowhile", "dountil"]
    kind: Literal["loop"] = "loop"


@attrs.frozen(slots=True)
class ForeachEntry:
    """``foreach(step, concurrency=n)``: the step over every item of a list, n in flight."""

    step: StepLike
    concurrency: int
    kind: Literal["foreach"] = "foreach"


@attrs.frozen(slots=True)
class MapEntry:
    """``map(fn)`` or ``map({...})``: a synthetic step computing its output from the context."""

    step: StepNode
    kind: Literal["mapping"] = "mapping"


@attrs.frozen(slots=True)
class SleepEntry:
    """``sleep(ms | fn)``: wait, passing the input through."""

    id: str
    duration: int | float | Callable[..., Any]
    kind: Literal["sleep"] = "sleep"


@attrs.frozen(slots=True)
class SleepUntilEntry:
    """``sleep_until(datetime | fn)``: wait until a moment, passing the input through."""

    id: str
    until: datetime | Callable[..., Any]
    kind: Literal["sleepUntil"] = "sleepUntil"


Entry = (
    StepEntry
    | ParallelEntry
    | BranchEntry
    | LoopEntry
    | ForeachEntry
    | MapEntry
    | SleepEntry
    | SleepUntilEntry
)


@attrs.frozen(slots=True, eq=False)
class WorkflowGraph:
    """A committed workflow: its id, schemas, retry config and entries, frozen.

    Used as a step of another workflow, the graph is that step's node (a nested workflow).
    ``serialized`` is the graph as JSON data, the way snapshots store it
    (``serializedStepGraph``), computed once, and ``shape`` its structure (see ``graph_shape``),
    whose ``fingerprint`` every snapshot of a run carries (``graphFingerprint``).
    """

    id: str
    entries: tuple[Entry, ...] = ()
    description: str | None = None
    input_schema: Any = None
    output_schema: Any = None
    state_schema: Any = None
    request_context_schema: Any = None
    resume_schema: Any = None
    suspend_schema: Any = None
    retry_config: RetryConfig = attrs.field(factory=RetryConfig)
    metadata: Mapping[str, Any] | None = None
    #: Where this workflow's steps run unless a step names its own (None: here).
    executor: Executor | None = attrs.field(default=None, repr=False)
    serialized: list[dict[str, Any]] = attrs.field(init=False)
    shape: tuple[EntryShape, ...] = attrs.field(init=False, repr=False)
    fingerprint: str = attrs.field(init=False, repr=False)
    # Every step of the top-level entries, by id.
    steps: Mapping[str, StepLike] = attrs.field(init=False, repr=False)

    # As a step: the inner steps retry by the child's own config; it runs on the loop.
    retries: ClassVar[int | None] = None
    is_async: ClassVar[bool] = True

    @serialized.default
    def _serialize(self) -> list[dict[str, Any]]:
        return serialize_graph(self.entries)

    @shape.default
    def _shape(self) -> tuple[EntryShape, ...]:
        return graph_shape(self.serialized)

    @fingerprint.default
    def _fingerprint(self) -> str:
        return graph_fingerprint(self.shape)

    @steps.default
    def _steps(self) -> Mapping[str, StepLike]:
        found: dict[str, StepLike] = {}
        for entry in self.entries:
            for step in entry_steps(entry):
                found.setdefault(step.id, step)
        return found


StepLike = StepNode | WorkflowGraph


def entry_steps(entry: Entry) -> tuple[StepLike, ...]:
    """The steps (or nested workflows) an entry runs; none for a sleep."""
    if isinstance(entry, (StepEntry, LoopEntry, ForeachEntry, MapEntry)):
        return (entry.step,)
    if isinstance(entry, ParallelEntry):
        return entry.steps
    if isinstance(entry, BranchEntry):
        return tuple(s for _, s in entry.branches)
    return ()


def _step_info(step: StepLike) -> dict[str, Any]:
    info: dict[str, Any] = {"id": step.id, "description": step.description}
    if isinstance(step, WorkflowGraph):
        info["component"] = "WORKFLOW"
        info["serializedStepFlow"] = step.serialized
    return info


def _serialize_entry(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, (StepEntry, MapEntry)):
        return {"type": entry.kind, "step": _step_info(entry.step)}
    if isinstance(entry, ParallelEntry):
        return {
            "type": "parallel",
            "steps": [{"type": "step", "step": _step_info(s)} for s in entry.steps],
            "allowFailure": entry.allow_failure,
        }
    if isinstance(entry, BranchEntry):
        return {
            "type": "conditional",
            "steps": [{"type": "step", "step": _step_info(s)} for _, s in entry.branches],
            "serializedConditions": [
                {"id": f"{s.id}-condition", "fn": getattr(c, "__qualname__", repr(c))}
                for c, s in entry.branches
            ],
        }
    if isinstance(entry, LoopEntry):
        return {"type": "loop", "step": _step_info(entry.step), "loopType": entry.loop_type}
    if isinstance(entry, ForeachEntry):
        return {
            "type": "foreach",
            "step": _step_info(entry.step),
            "opts": {"concurrency": entry.concurrency},
        }
    if isinstance(entry, SleepEntry):
        duration = entry.duration if not callable(entry.duration) else None
        return {"type": "sleep", "id": entry.id, "duration": duration}
    until = entry.until.isoformat() if isinstance(entry.until, datetime) else None
    return {"type": "sleepUntil", "id": entry.id, "date": until}


def serialize_graph(entries: tuple[Entry, ...] | list[Entry]) -> list[dict[str, Any]]:
    """Entries as JSON data, the way snapshots store them (``serializedStepGraph``)."""
    return [_serialize_entry(e) for e in entries]


# What a graph's fingerprint covers: per entry, in order, its kind and the ids of its steps, in
# order, a nested workflow with its own entries. These decide what a stored run's positions and
# step results mean. Conditions, loop types, foreach concurrency, durations, schemas, retries
# and step bodies do not: they can change between deploys without moving any step.
EntryShape = tuple[str, tuple[tuple[str, "tuple[EntryShape, ...] | None"], ...]]


def graph_shape(serialized: Sequence[Mapping[str, Any]]) -> tuple[EntryShape, ...]:
    """The structure of a serialised graph (its own, or one read from a snapshot): per entry
    ``(kind, ((step_id, nested entries or None), ...))``. Raises ``KeyError``, ``TypeError`` or
    ``AttributeError`` for data that is not a serialised graph."""
    return tuple(_entry_shape(entry) for entry in serialized)


def _entry_shape(entry: Mapping[str, Any]) -> EntryShape:
    kind = entry["type"]
    if not isinstance(kind, str):
        raise TypeError(f"an entry's type must be a string, got {kind!r}")
    if "steps" in entry:
        steps = tuple(_step_shape(item["step"]) for item in entry["steps"])
    elif "step" in entry:
        steps = (_step_shape(entry["step"]),)
    else:  # a sleep: its own id
        steps = ((_an_id(entry["id"]), None),)
    return (kind, steps)


def _step_shape(info: Mapping[str, Any]) -> tuple[str, tuple[EntryShape, ...] | None]:
    nested = info.get("serializedStepFlow")
    return (_an_id(info["id"]), graph_shape(nested) if nested is not None else None)


def _an_id(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a step id must be a string, got {value!r}")
    return value


def graph_fingerprint(shape: Sequence[EntryShape]) -> str:
    """A SHA-256 (hex) of a graph's structure: equal for graphs whose entries have the same
    kinds and step ids in the same order and nesting."""
    text = json.dumps(shape, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
