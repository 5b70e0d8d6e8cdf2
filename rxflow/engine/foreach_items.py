"""foreach's items: one invocation per item (resuming a suspended one), and the progress kept as
they settle (progress events, the per-item record a resume continues from)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import attrs

from ..convert import to_wire
from ..events import StepProgressPayload, WorkflowStepProgress
from ..results import StepResult
from ..storage.records import item_key
from .fanout import Job, Worker
from .invoke import StepInvoker
from .outcome import BlockTally
from .state import ExecutionState, ResumeTarget

__all__ = ["ItemProgress", "Settled", "item_runner"]

Settled = tuple[int, StepResult]
"""One settled item: its index and its result."""


def item_runner(
    ex: ExecutionState,
    invoker: StepInvoker,
    items: Sequence[Any],
    started_at: int,
    suspended: Mapping[int, Any],
    target: ResumeTarget | None,
) -> Job[int, Settled]:
    """``run_item(index, worker)``: invoke the step on one item (a fan-out job returning the
    item's result), resuming it (with ``target``) where it is one of the ``suspended`` items
    (index -> suspend payload)."""

    def run_item(index: int, worker: Worker[Settled]) -> Awaitable[StepResult]:
        if index in suspended and target is not None:
            stored_item = StepResult(
                status="suspended",
                payload=items[index],
                suspend_payload=suspended[index],
                started_at=started_at,
            )
            return invoker.invoke(
                ex,
                items[index],
                events=False,
                resume_from=stored_item,
                target=target,
                foreach_index=index,
            )
        return invoker.invoke(ex, items[index], events=False, foreach_index=index)

    return run_item


@attrs.define(slots=True, eq=False)
class ItemProgress:
    """Folds settled items into progress events and the block's outcome.

    ``outputs`` (by index), ``done`` (indexes that succeeded) and ``suspended`` (index ->
    suspend payload) are what the block's step result stores (``metadata["foreach"]``). Where
    the storage is durable a running step result (``live``) carries them as items settle, so
    each one reaches the snapshot trail.
    """

    ex: ExecutionState
    step_id: str
    event_id: str
    total: int
    outputs: list[Any]
    done: list[int]
    suspended: dict[int, Any]
    completed: int
    # the first item that failed, the first that bailed
    tally: BlockTally = attrs.field(factory=BlockTally)
    live: StepResult | None = None

    @classmethod
    def begin(
        cls,
        ex: ExecutionState,
        step_id: str,
        items: Sequence[Any],
        started_at: int,
        stored: Mapping[str, Any] | None = None,
    ) -> ItemProgress:
        """The progress of a block starting (or, with ``stored``, continuing) over ``items``."""
        done: list[int] = list(stored["done"]) if stored else []
        progress = cls(
            ex=ex,
            step_id=step_id,
            event_id=ex.prefix + step_id,
            total=len(items),
            outputs=list(stored["outputs"]) if stored else [None] * len(items),
            done=done,
            suspended={int(i): payload for i, payload in stored["suspended"]} if stored else {},
            completed=len(done),
        )
        persister = ex.scope.persister
        if ex.is_root and persister is not None and persister.durable:
            progress.live = StepResult(
                status="running",
                payload=items,
                started_at=started_at,
                metadata=progress.metadata(),
            )
            ex.step_results[step_id] = progress.live
            persister.mark(step_id)
        return progress

    def pending(self, target: ResumeTarget | None) -> list[int]:
        """The items a resume runs: the suspended ones ``target`` names (all of them, or its
        ``for_each_index``), then every item never started; succeeded items never run again."""
        resumed = [
            i
            for i in sorted(self.suspended)
            if target is not None and target.for_each_index in (None, i)
        ]
        settled = set(self.suspended).union(self.done)
        return resumed + [i for i in range(self.total) if i not in settled]

    def metadata(self) -> dict[str, Any]:
        """The per-item progress, as stored in the block's step result."""
        return {
            "foreach": {
                "outputs": self.outputs,
                "done": self.done,
                "suspended": [[i, p] for i, p in sorted(self.suspended.items())],
            }
        }

    def on_settled(self, settled: Settled) -> None:
        index, result = settled
        status = self.tally.add(result)  # a bailed item shows success, with the bail value
        if self.suspended:  # a resumed item settles again
            self.suspended.pop(index, None)
        if status == "success":
            self.completed += 1
            self.outputs[index] = result.output
            self.done.append(index)
        elif status == "failed":
            self.completed += 1
        elif status == "suspended":
            self.suspended[index] = result.suspend_payload
        else:  # canceled items report nothing: the block result says canceled
            return
        scope = self.ex.scope
        scope.emit(
            WorkflowStepProgress(
                run_id=scope.run_id,
                payload=StepProgressPayload(
                    id=self.event_id,
                    step_name=self.event_id,
                    completed_count=self.completed,
                    total_count=self.total,
                    current_index=index,
                    iteration_status=status,
                    iteration_output=result.output if status == "success" else None,
                ),
            )
        )
        if self.live is not None:
            self.live.metadata = self.metadata()
            self._store_item(index, status, result)

    def _store_item(self, index: int, status: str, result: StepResult) -> None:
        """Store the settled item with the run's next write: under a lease as a record of its
        own (folded into the block's progress when read), so a checkpoint carries this item
        only, not every item settled before; else in the block's result of the next snapshot."""
        persister = self.ex.scope.persister
        if persister is None or not persister.durable:
            return
        if persister.lease is None:
            persister.mark(self.step_id)
        elif status == "failed":  # not kept in the progress: the block's result says it
            persister.mark()
        elif status == "success":
            wire = {"foreachItem": index, "status": status, "output": to_wire(result.output)}
            persister.mark_record(item_key(self.step_id, index), wire)
        else:  # suspended
            payload = to_wire(result.suspend_payload)
            wire = {"foreachItem": index, "status": status, "suspendPayload": payload}
            persister.mark_record(item_key(self.step_id, index), wire)
