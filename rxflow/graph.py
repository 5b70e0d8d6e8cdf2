"""The committed step graph: one frozen node per workflow entry (then, parallel, branch, loop,
foreach, map, sleep). The builder makes these; the engine compiles them into operators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Union

import attrs

if TYPE_CHECKING:
    from .step import Step
    from .workflow import Workflow

__all__ = [
    "BranchEntry",
    "Entry",
    "ForeachEntry",
    "LoopEntry",
    "MapEntry",
    "ParallelEntry",
    "SleepEntry",
    "SleepUntilEntry",
    "StepEntry",
    "StepLike",
    "entry_steps",
    "serialize_graph",
]

StepLike = Union["Step", "Workflow"]
Condition = Callable[..., Any]


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

    step: Step
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
    from .workflow import Workflow

    info: dict[str, Any] = {"id": step.id, "description": step.description}
    if isinstance(step, Workflow):
        info["component"] = "WORKFLOW"
        info["serializedStepFlow"] = serialize_graph(step.entries)
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
    """The graph as JSON data, the way snapshots store it (``serializedStepGraph``)."""
    return [_serialize_entry(e) for e in entries]
