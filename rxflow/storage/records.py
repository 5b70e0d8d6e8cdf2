"""The records the durable side of the ``Storage`` protocol hands out: leases and step results.

Plain frozen data, no I/O; the rules that decide when a lease is free live in ``lease.py``.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = [
    "FINISHED_STATUSES",
    "RUNNING_STATUSES",
    "SNAPSHOT_KEYS",
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
