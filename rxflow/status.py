"""The status words of steps and runs, as ``Literal`` types: a type checker sees a misspelt or
impossible status; at run time they are plain strings. Nothing here imports from rxflow."""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "OUTPUT_STATUSES",
    "ExecutionStatus",
    "IterationStatus",
    "ResultStatus",
    "RunStatus",
    "StepStatus",
]

StepStatus = Literal[
    "running", "waiting", "success", "failed", "suspended", "bailed", "canceled", "paused"
]
"""A step's status, in its ``StepResult`` and its events (Mastra's words).

``running`` (started), ``waiting`` (a sleep), ``success``, ``failed``, ``suspended``,
``canceled``; ``bailed`` is what a step event says when the body returned ``ctx.bail(v)`` (its
``StepResult`` in ``WorkflowResult.steps`` says ``success``). ``paused`` is Mastra's; rxflow
reads it but does not write it (a step-by-step run pauses between entries, not inside a step).
"""

IterationStatus = Literal["success", "failed", "suspended"]
"""How one ``foreach`` item settled (``workflow-step-progress``'s ``iteration_status``)."""

ResultStatus = Literal["success", "failed", "suspended", "canceled", "tripwire", "paused"]
"""How a run (or a run segment, when it suspended or paused) ended: ``WorkflowResult.status``
(``paused``: a step-by-step segment, ``per_step=True``, ran its one entry)."""

RunStatus = Literal[
    "pending",
    "running",
    "restarting",
    "waiting",
    "suspended",
    "success",
    "failed",
    "canceled",
    "tripwire",
    "bailed",
    "paused",
]
"""A run's status: ``Run.status``, ``WorkflowRunOutput.status``, stored runs and snapshots,
``workflow-finish``.

rxflow writes ``pending`` (created, not started), ``running``, ``restarting`` (claimed by
``restart()``, kept until it ends), ``suspended``, ``paused`` (between the entries of a
step-by-step run) and the ends of ``ResultStatus``. ``waiting`` and ``bailed`` are Mastra's;
rxflow reads them but does not write them.
"""

ExecutionStatus = Literal[
    "running", "success", "failed", "suspended", "canceled", "tripwire", "bailed", "paused"
]
"""Where one workflow execution stands inside the engine (``bailed``: ended by a bail, shown
as ``success``)."""

OUTPUT_STATUSES: Final[frozenset[str]] = frozenset({"success", "bailed"})
"""Step statuses whose result carries an ``output`` (a bail's output is the bail value)."""
