"""``ctx.writer``: the StepWriter a step body streams chunks through, and the check of a
custom chunk's type (shared with bodies that run on an executor's workers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .events import CustomChunk, StepOutputPayload, WorkflowStepOutput

__all__ = ["WRITES_PER_YIELD", "StepWriter", "check_custom_chunk"]


# A step writing in a tight loop gives the event loop a turn every this many chunks, so
# other runs' streams keep moving (one bare yield: no task, no timer).
WRITES_PER_YIELD = 100


def check_custom_chunk(chunk: Mapping[str, Any]) -> None:
    """Refuse a custom chunk whose type is not a ``data-*`` string (``ValueError``)."""
    chunk_type = chunk.get("type")
    if not isinstance(chunk_type, str) or not chunk_type.startswith("data-"):
        raise ValueError(
            f"custom chunk type must be a string starting with 'data-', got {chunk_type!r}"
        )


@attrs.define(slots=True, eq=False)
class StepWriter:
    """``ctx.writer``: streams values out of a running step as ``workflow-step-output``.

    Every ``WRITES_PER_YIELD``-th chunk the writer lets the event loop run other work before
    it returns, so a step writing many chunks without awaiting anything else cannot stall it.
    """

    _emit: Callable[[Any], None]
    _run_id: str
    _step_name: str
    _unyielded: int = attrs.field(init=False, default=0)  # chunks since the writer last yielded

    def _yield_due(self) -> bool:
        """Count one chunk; True every ``WRITES_PER_YIELD`` chunks (then the writer yields)."""
        count = self._unyielded + 1
        if count < WRITES_PER_YIELD:
            self._unyielded = count
            return False
        self._unyielded = 0
        return True

    async def write(self, value: Any) -> None:
        """Emit ``value`` as a ``workflow-step-output`` chunk (``from_="USER"``).

        A forwarded LLM ``{"type": "finish", "payload": {"usage": {...}}}`` chunk also counts
        toward the run's usage.
        """
        self._emit(
            WorkflowStepOutput(
                run_id=self._run_id,
                payload=StepOutputPayload(
                    step_name=self._step_name, run_id=self._run_id, output=value
                ),
                from_="USER",
            )
        )
        if self._yield_due():
            await asyncio.sleep(0)

    def emit_output(self, value: Any) -> None:
        """Engine-facing: emit ``value`` as ``write`` does, now, without yielding (loop thread;
        an executor relays chunks a body wrote elsewhere)."""
        self._emit(
            WorkflowStepOutput(
                run_id=self._run_id,
                payload=StepOutputPayload(
                    step_name=self._step_name, run_id=self._run_id, output=value
                ),
                from_="USER",
            )
        )

    def emit_custom(self, chunk: Mapping[str, Any]) -> None:
        """Engine-facing: emit ``chunk`` as ``custom`` does, now, without yielding."""
        check_custom_chunk(chunk)
        chunk_type = chunk["type"]
        extra = {k: v for k, v in chunk.items() if k not in ("type", "data", "runId", "from")}
        self._emit(
            CustomChunk(
                type=chunk_type,
                run_id=self._run_id,
                data=chunk.get("data"),
                from_=str(chunk.get("from", "USER")),
                extra=extra,
            )
        )

    async def custom(self, chunk: Mapping[str, Any]) -> None:
        """Emit a custom ``data-*`` chunk, passed through to the stream unchanged."""
        check_custom_chunk(chunk)
        chunk_type = chunk["type"]
        extra = {k: v for k, v in chunk.items() if k not in ("type", "data", "runId", "from")}
        self._emit(
            CustomChunk(
                type=chunk_type,
                run_id=self._run_id,
                data=chunk.get("data"),
                from_=str(chunk.get("from", "USER")),
                extra=extra,
            )
        )
        if self._yield_due():
            await asyncio.sleep(0)
