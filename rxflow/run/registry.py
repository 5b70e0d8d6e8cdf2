"""The live runs of one workflow, by id: ``create_run`` attaches to or creates a run,
``get_run`` only looks one up (live in this process, else stored)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ..stored import stored_run
from .options import check_run_keys
from .verbs import Run

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["RunRegistry"]


class RunRegistry:
    """The ``Run`` objects of one workflow that are alive in this process, by run id.

    Runs are held weakly: a run nobody holds any more is looked up in storage again.
    """

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()

    def __bool__(self) -> bool:
        return bool(self._runs)

    async def create(self, workflow: Workflow, run_id: str | None, resource_id: str | None) -> Run:
        """The live run ``run_id``, a run attached to the stored one, or a new run."""
        check_run_keys(run_id, resource_id)
        if run_id is not None:
            live = self._runs.get(run_id)
            if live is not None:
                return live
        run = await Run.create(workflow, run_id=run_id, resource_id=resource_id)
        self._runs[run.run_id] = run
        return run

    async def get(self, workflow: Workflow, run_id: str) -> Run | None:
        """The live run ``run_id``, a run attached to the stored one, or ``None``."""
        if not isinstance(run_id, str):
            raise TypeError(f"run_id must be a string, got {run_id!r}")
        live = self._runs.get(run_id)
        if live is not None:
            return live
        record = await stored_run(workflow.storage, workflow.id, run_id)
        if record is None:
            return None
        run = Run(workflow, run_id, record.resource_id, status=record.status)
        # Two lookups racing may each attach a Run; the first one kept is the one handed out.
        return self._runs.setdefault(run_id, run)
