"""The records the durable side of the ``Storage`` protocol hands out: leases and step results.

Plain frozen data, no I/O; the rules that decide when a lease is free live in ``lease.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import attrs

__all__ = [
    "FINISHED_STATUSES",
    "RUNNING_STATUSES",
    "ITEM_MARK",
    "PATH_MARK",
    "SNAPSHOT_KEYS",
    "fold_results",
    "item_key",
    "path_key",
    "CancelOutcome",
    "Lease",
    "ResultRecord",
]

FINISHED_STATUSES = frozenset({"success", "failed", "canceled", "tripwire"})
"""Statuses a run ends in. Retention deletes these; a cancel request leaves them alone."""

RUNNING_STATUSES = frozenset({"running", "restarting"})
"""Statuses in which some process should be executing the run (and renewing its lease)."""

SNAPSHOT_KEYS = frozenset({"runId", "serializedStepGraph", "graphFingerprint", "version"})
"""Top-level keys of a snapshot that stay the same while a run executes (its id and graph):
a segment's checkpoints carry them once, in its first."""

CancelOutcome = Literal["requested", "canceled", "finished"]
"""What ``request_cancel`` did: asked the run's live owner to cancel (``requested``), stored
``canceled`` itself because nobody owns the run (``canceled``), or nothing, because the run
had already ended (``finished``)."""


@attrs.frozen(slots=True)
class Lease:
    """A process's ownership of one run, taken by ``claim_run``.

    Hand it, unchanged, to ``checkpoint``, ``renew_lease`` and ``release_lease``; each of
    them that extends the lease returns a new ``Lease`` to use from then on. The store accepts
    a write only while the run's lease is this one: same ``owner`` and same fencing
    ``version``. Each claim bumps ``version``, so once another process has claimed the run,
    every write carrying this lease raises :class:`~rxflow.errors.LeaseLostError`.

    ``expires_at`` (integer milliseconds since the epoch, on the store's clock) is when other
    processes may claim the run unless it is renewed first; ``host`` and ``pid`` name the
    process that claimed it (a claim on the same host treats a lease whose process is gone as
    expired at once). ``cancel_requested`` tells the owner, at each claim, renewal and
    checkpoint, that someone asked for the run to be cancelled.
    """

    workflow_id: str
    run_id: str
    owner: str
    version: int
    expires_at: int
    host: str
    pid: int
    cancel_requested: bool = False


@attrs.frozen(slots=True)
class ResultRecord:
    """One stored step result, written once by a ``checkpoint`` and never changed.

    ``key`` is the step's path within the run (the key its result has in the snapshot's
    ``context``); ``attempt`` counts the results stored under that key, from 0, so a step that
    runs again gets a new record and its earlier ones stay. ``seq`` orders every record of the
    run as written; ``written_at`` is in milliseconds since the epoch.
    """

    key: str
    attempt: int
    seq: int
    result: Any
    written_at: int


ITEM_MARK = "foreachItem"
"""The field that marks a result record as one item of a running foreach block."""

PATH_MARK = "stepExecutionPath"
"""The field that marks a result record as a part of the run's execution path."""


def item_key(step_id: str, index: int) -> str:
    """The result record key of item ``index`` of the foreach block ``step_id`` (the key
    ``nestedRuns`` uses for a nested workflow run by that item, too)."""
    return f"{step_id}#{index}"


def path_key(start: int) -> str:
    """The result record key of the execution path's entries from ``start`` on."""
    return f"{PATH_MARK}#{start}"


def fold_results(snapshot: dict[str, Any], records: Iterable[tuple[str, Any]]) -> None:
    """Lay result records (key, value), in the order written, over ``snapshot`` (whose
    ``context`` the caller has copied already; every other value is copied before a change).

    A record replaces its key's result in the context, except two kinds a durable run writes
    so that a checkpoint does not grow with what was stored before it:

    - a foreach item's (a value with ``foreachItem``): folded into the progress of its
      block's running result (``metadata["foreach"]``: outputs, done, suspended); dropped
      when the block is not running any more (the block's own result holds it);
    - a part of the execution path (a value with ``stepExecutionPath`` and ``from``): the
      path's entries from ``from`` on.
    """
    context: dict[str, Any] = snapshot["context"]
    folded: dict[str, _Progress] = {}
    path: list[Any] | None = None
    for key, value in records:
        if isinstance(value, dict) and ITEM_MARK in value:
            block_key = key.rpartition("#")[0]
            progress = folded.get(block_key) or _Progress.of(context, block_key)
            if progress is not None:
                folded[block_key] = progress
                progress.add(value)
        elif isinstance(value, dict) and PATH_MARK in value and "from" in value:
            if path is None:
                stored = snapshot.get("stepExecutionPath")
                path = list(stored) if isinstance(stored, list) else None
            steps, start = value[PATH_MARK], value["from"]
            if path is not None and isinstance(steps, list) and type(start) is int:
                if 0 <= start <= len(path):
                    path[start : start + len(steps)] = steps
        else:
            context[key] = value
            folded.pop(key, None)
    for progress in folded.values():
        progress.store()
    if path is not None:
        snapshot["stepExecutionPath"] = path


@attrs.define(slots=True)
class _Progress:
    """A running foreach block's progress while item records are folded into it."""

    stored: dict[str, Any]  # the block's copied ``metadata["foreach"]``
    outputs: list[Any]
    done: list[int]
    done_set: set[int]
    suspended: dict[int, Any]

    @classmethod
    def of(cls, context: dict[str, Any], block_key: str) -> _Progress | None:
        """The progress of the running block ``block_key`` (copied into ``context``)."""
        block = context.get(block_key)
        if not isinstance(block, dict) or block.get("status") != "running":
            return None
        metadata = block.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("foreach"), dict):
            return None
        stored: dict[str, Any] = metadata["foreach"]
        outputs, done, suspended = (stored.get(name) for name in ("outputs", "done", "suspended"))
        if not (isinstance(outputs, list) and isinstance(done, list)):
            return None
        copy = dict(stored)
        context[block_key] = {**block, "metadata": {**metadata, "foreach": copy}}
        pairs = [pair for pair in suspended or () if isinstance(pair, list) and len(pair) == 2]
        return cls(copy, list(outputs), list(done), set(done), {i: p for i, p in pairs})

    def add(self, item: dict[str, Any]) -> None:
        index = item[ITEM_MARK]
        if type(index) is not int or not 0 <= index < len(self.outputs):
            return  # not an item of this block: left out
        self.suspended.pop(index, None)
        if item.get("status") == "success":
            self.outputs[index] = item.get("output")
            if index not in self.done_set:
                self.done_set.add(index)
                self.done.append(index)
        elif item.get("status") == "suspended" and index not in self.done_set:
            self.suspended[index] = item.get("suspendPayload")

    def store(self) -> None:
        self.stored["outputs"] = self.outputs
        self.stored["done"] = self.done
        self.stored["suspended"] = [[i, p] for i, p in sorted(self.suspended.items())]
