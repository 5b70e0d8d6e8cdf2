"""The ``Storage`` protocol and the records it hands out; the argument checks are in ``checks``.

Implementations live in ``memory.py`` and ``sqlite.py``; nothing here does any I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from ..status import RunStatus
from .records import CancelOutcome, Lease, ResultRecord

__all__ = ["RunList", "RunRecord", "SnapshotBuilder", "Storage", "follow_live", "is_durable"]

SnapshotBuilder = Callable[[], dict[str, Any]]


@attrs.frozen(slots=True)
class RunRecord:
    """One stored run: its keys, its status, its latest snapshot and when it was written.

    ``status`` is always ``snapshot["status"]``. ``created_at`` and ``updated_at`` are integer
    milliseconds since the epoch; ``created_at`` is kept when the snapshot is replaced.
    The ``snapshot`` dict belongs to the storage: read it, copy it before changing it.
    ``lease`` is the run's current lease (``None`` when no process holds it). In a
    :meth:`Storage.list_runs` page, a run whose stored data cannot be read has ``snapshot``
    ``None`` and ``error`` saying why, so one damaged run does not hide the others.
    """

    workflow_id: str
    run_id: str
    resource_id: str | None
    status: RunStatus
    snapshot: dict[str, Any] | None
    created_at: int
    updated_at: int
    lease: Lease | None = attrs.field(default=None, kw_only=True)
    error: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen(slots=True)
class RunList:
    """One page of runs, newest first, and ``total``: how many runs matched before paging."""

    runs: list[RunRecord]
    total: int


@runtime_checkable
class Storage(Protocol):
    """Where runs and their snapshots live. Every method is a coroutine.

    A snapshot is the camelCase wire-form dict of a run; it has a ``"status"`` key, which is the
    run's status. Ownership: a snapshot passed to :meth:`persist_snapshot` is handed over, so the
    caller must not change it (or anything inside it) afterwards, and a snapshot returned by
    :meth:`load_snapshot`, :meth:`get_run` or :meth:`list_runs` must be treated as read-only.
    That lets :class:`~rxflow.storage.InMemoryStorage` keep and return dicts by reference.
    Storage failures and snapshots that cannot be read raise :class:`~rxflow.errors.StorageError`.

    A run being executed is owned by one process at a time through a lease
    (:meth:`claim_run`): the owner writes its progress with :meth:`checkpoint`, which stores
    the run's small control state and each new step result as its own record, so a write
    costs the same at the hundredth step as at the first. :meth:`load_snapshot` assembles the
    full snapshot (results inside ``context``) from both.

    Two capabilities tell a run how to use the store: :attr:`durable` and the live-snapshot
    lane :meth:`follow_live`. Both are optional for a store written against this protocol: a
    store that declares neither gets the safe defaults (durable, no live lane), so every run
    writes its trail of snapshots to it and hands it nothing but wire data. A third, also
    optional, is ``wait_cancel`` (:class:`~rxflow.storage.CancelWaiter`): waking a run's owner
    when a cancel is requested; without it the owner checks :meth:`cancel_requested`
    periodically (:func:`~rxflow.storage.wait_for_cancel`).
    """

    durable: bool
    """Whether runs outlive this process (``True`` when a store does not say).

    A durable store gets the trail of snapshots written while a run goes (before and after
    every top-level entry, and block progress, coalesced). A store that is not durable gets
    only the snapshots that matter within this process: at ``create_run``, when the run starts
    (its status), at a suspension and at the end.
    """

    def follow_live(self, workflow_id: str, run_id: str, build: SnapshotBuilder) -> bool:
        """Offer to follow a run of this process while it goes; ``True`` takes the offer.

        A run calls this when each stretch of its execution starts (start, resume, restart).
        A store that returns ``True`` (the in-memory store does) agrees to this contract:

        - until the run's next :meth:`persist_snapshot`, a read of the run calls ``build()``
          for its snapshot as of that moment (the stored status replaces its ``"status"``);
        - that next snapshot, the run's own, may hold :class:`~rxflow.StepResult` objects as
          the values of its ``"context"`` (the store converts them to wire form when the
          snapshot is first read), and the objects do not change after it is stored.

        A store without a live lane returns ``False``; a store that does not define this
        method is treated the same way. Either way its snapshots are always wire data.
        """

    @property
    def lease_ttl(self) -> float:
        """Seconds a lease lasts unless renewed; an owner renews well before (a third of it)."""

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace the run's snapshot; its status becomes ``snapshot["status"]``.

        Replacing keeps ``created_at`` and bumps ``updated_at``; a ``resource_id`` of ``None``
        keeps the one already stored. The snapshot replaces everything: afterwards
        :meth:`load_snapshot` returns it as given, and step results stored earlier by
        :meth:`checkpoint` stay available from :meth:`load_results` only. It does not look at
        or change the run's lease.
        """

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """The run's latest snapshot, or ``None`` when the run is unknown.

        Its ``context`` holds, for each step key, the latest result stored by
        :meth:`checkpoint` since the last :meth:`persist_snapshot`, over the context that
        snapshot had.
        """

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus] | None = None,
    ) -> bool:
        """Set the run's status and ``snapshot["status"]`` together, as one compare-and-set.

        With ``expected`` (one status, or any collection of them: list, tuple, set), the
        write happens only when the stored status is one of them. Returns ``False`` when the
        compare-and-set lost or the run is unknown, ``True`` when the status was written.
        It does not look at or change the run's lease (owners write with :meth:`checkpoint`).
        """

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record, or ``None`` when the run is unknown."""

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: RunStatus | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        orphaned: bool = False,
    ) -> RunList:
        """Runs matching every given filter, newest first (by ``created_at``, then insertion).

        ``orphaned=True`` keeps only runs that should be executing (``running`` or
        ``restarting``) but whose lease expired, was never taken, or belongs to a process of
        this host that is gone: the runs to restart. A run whose stored data cannot be read
        is listed with ``snapshot`` ``None`` and its ``error``; the others list as usual.
        """

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run and its step results. Returns whether it was stored."""

    async def delete_runs(
        self,
        *,
        workflow_id: str | None = None,
        older_than: timedelta | datetime | None = None,
        status: RunStatus | Collection[RunStatus] | None = None,
    ) -> int:
        """Forget every run matching all the given filters; returns how many were deleted.

        ``status`` is one status or a collection of them; by default every finished status
        (``success``, ``failed``, ``canceled``, ``tripwire``), so runs in progress or waiting
        for a resume are kept unless asked for. ``older_than`` keeps runs written more
        recently: a ``timedelta`` counts back from now, a ``datetime`` is a moment; the age is
        that of the run's last write (``updated_at``).
        """

    async def claim_run(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus],
        owner: str | None = None,
    ) -> Lease | None:
        """Take the run to execute it: a compare-and-set of its status that also takes its lease.

        Succeeds when the stored status is one of ``expected`` and nobody holds the run's
        lease: never claimed, released, expired, or taken by a process of this host that no
        longer exists (a crashed single-machine app restarts its runs at once). Then the
        status becomes ``status`` and the caller owns the run for :attr:`lease_ttl` seconds
        under a new fencing version. ``owner`` names the new owner (by default a fresh unique
        id). Returns the lease, or ``None`` when the run is unknown or the claim lost.
        """

    async def renew_lease(self, lease: Lease) -> Lease:
        """Extend the lease by :attr:`lease_ttl` seconds from now; returns the renewed lease.

        Its ``cancel_requested`` tells whether a cancel was asked for. Raises
        :class:`~rxflow.errors.LeaseLostError` when the lease is no longer the run's (a renewal
        arriving after expiry still succeeds if nobody claimed the run meanwhile).
        """

    async def release_lease(self, lease: Lease) -> bool:
        """Give the run up (the status stays as it is). ``False`` when the lease was no longer
        the run's, so there was nothing to give up."""

    async def checkpoint(
        self,
        lease: Lease,
        *,
        state: Mapping[str, Any] | None = None,
        results: Mapping[str, Any] | None = None,
        release: bool = False,
    ) -> Lease:
        """Store the owner's progress in one atomic write; returns the renewed lease.

        ``state`` replaces top-level keys of the run's snapshot (its control state: a
        ``"status"`` key changes the run's status). ``results`` maps step keys to wire-form
        step results; each is stored as a new :class:`~rxflow.storage.ResultRecord` (a key
        stored before gets its next ``attempt``; the earlier records stay). Nothing stored
        earlier is written again, so the cost of a checkpoint does not grow with the run.
        The write also renews the lease, or gives it up with ``release`` (at a suspension or
        the end). A lease that is no longer the run's raises
        :class:`~rxflow.errors.LeaseLostError` and writes nothing. The dicts handed over must
        not change afterwards.
        """

    async def load_results(self, workflow_id: str, run_id: str) -> list[ResultRecord]:
        """Every step result record of the run, every attempt, in the order they were written
        (empty for an unknown run)."""

    async def request_cancel(self, workflow_id: str, run_id: str) -> CancelOutcome | None:
        """Ask for the run to be cancelled; ``None`` when the run is unknown.

        A run whose lease is held gets a cancel request that its owner sees at its next
        renewal or checkpoint (``"requested"``). A run nobody owns (lease expired, released or
        never taken) is cancelled here and now: its status becomes ``canceled`` and any former
        owner's later write is refused (``"canceled"``). A finished run is left alone
        (``"finished"``).
        """

    async def cancel_requested(self, workflow_id: str, run_id: str) -> bool:
        """Whether a cancel was requested for the run (a cheap check for its owner)."""

    async def close(self) -> None:
        """Release the storage; later calls raise ``StorageError``. Closing twice is harmless."""


def is_durable(storage: Storage) -> bool:
    """Whether ``storage`` keeps runs beyond this process (``True`` when it does not say)."""
    return bool(getattr(storage, "durable", True))


def follow_live(storage: Storage, workflow_id: str, run_id: str, build: SnapshotBuilder) -> bool:
    """Offer ``storage`` to follow a run of this process (see :meth:`Storage.follow_live`);
    ``False`` for a store that does not define the lane."""
    follow = getattr(storage, "follow_live", None)
    return follow is not None and bool(follow(workflow_id, run_id, build))


def now_ms() -> int:
    """The wall-clock time in integer milliseconds since the epoch (the records' timestamps)."""
    return time.time_ns() // 1_000_000
