"""``InMemoryStorage``: the library's default storage, a dict of records living in this process.

Snapshots are kept by reference (no copy, no JSON), so storing one costs next to nothing. A run
of this process may even hand over its step results as the objects they are; they are turned
into their wire form once, when the snapshot is first read (every read returns wire data). While
such a run is in progress the store follows it through a builder of its snapshot (the live lane
of ``Storage.follow_live``) instead of a write per step: whoever reads the run mid-way gets its
progress as of that moment.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from ..errors import StorageError
from ..status import RunStatus
from . import protocol
from .checks import (
    check_checkpoint,
    check_lease_ttl,
    check_page,
    claim_statuses,
    expected_statuses,
    retention_cutoff,
    snapshot_status,
    status_set,
)
from .event_log import LoggedEvent
from .lease import DEFAULT_LEASE_TTL, Clock, lease_lost, new_owner_id, this_host
from .memory_entry import Entry, LeaseSlot
from .memory_events import MemoryEventLog
from .protocol import RunList, RunRecord, SnapshotBuilder
from .records import FINISHED_STATUSES, RUNNING_STATUSES, CancelOutcome, Lease, ResultRecord

__all__ = ["InMemoryStorage"]

DEFAULT_MAX_RUNS = 10_000


class InMemoryStorage:
    """Runs kept in a dict for the life of the process; lost when it exits.

    Snapshots are stored and returned **by reference**: the caller hands over a fresh dict per
    write and never changes it afterwards, and treats returned snapshots as read-only (see
    :class:`~rxflow.storage.Storage`). :meth:`update_status` therefore never mutates a stored
    dict: it stores a shallow copy carrying the new status.

    ``max_runs`` (10,000 by default) bounds how many runs are kept: once there are more,
    finished runs (``success``, ``failed``, ``canceled``, ``tripwire``) are dropped, those
    that finished earliest first; runs that are pending, running or suspended are never
    dropped. ``None`` keeps every run. ``lease_ttl`` is how many seconds a lease lasts unless
    renewed, and ``clock`` (integer milliseconds since the epoch) replaces the wall clock for
    timestamps and lease expiry, e.g. in tests.

    It is not durable, and it follows runs of this process live (:meth:`follow_live`);
    subclasses too, so a subclass that overrides :meth:`persist_snapshot` receives a followed
    run's final snapshot with its step results as objects (override :meth:`follow_live` to
    return ``False`` for wire data only).

    Each method finishes without yielding to the event loop, so each is atomic with respect to
    other tasks on the loop. Use one instance from one event loop (it is not thread-safe).
    """

    __slots__ = ("_clock", "_events", "_finished", "_lease_ttl", "_max_runs", "_runs")

    durable = False

    def __init__(
        self,
        *,
        max_runs: int | None = DEFAULT_MAX_RUNS,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        clock: Clock | None = None,
    ) -> None:
        if max_runs is not None and (type(max_runs) is not int or max_runs < 0):
            raise ValueError(f"max_runs must be an int >= 0 or None, got {max_runs!r}")
        self._max_runs = max_runs
        self._lease_ttl = check_lease_ttl(lease_ttl)
        self._clock = clock
        # Insertion order of this dict is the "then insertion" order of list_runs; replacing a
        # value keeps its place, deleting and re-creating a run moves it to the end.
        self._runs: dict[tuple[str, str], Entry] | None = {}
        # Finished runs in the order they finished: the retention queue (dict as ordered set).
        self._finished: dict[tuple[str, str], None] = {}
        self._events = MemoryEventLog(max_runs)

    def __repr__(self) -> str:
        state = "closed" if self._runs is None else f"{len(self._runs)} runs"
        return f"<InMemoryStorage {state}>"

    @property
    def lease_ttl(self) -> float:
        """Seconds a lease lasts unless renewed."""
        return self._lease_ttl

    @property
    def max_runs(self) -> int | None:
        """How many runs are kept before finished ones are dropped (``None``: no bound)."""
        return self._max_runs

    def _now(self) -> int:
        # The module-level clock is looked up on each call, so it can be swapped in tests.
        return self._clock() if self._clock is not None else protocol.now_ms()

    def _table(self) -> dict[tuple[str, str], Entry]:
        if self._runs is None:
            raise StorageError("this InMemoryStorage is closed")
        return self._runs

    def _status_changed(self, entry: Entry, key: tuple[str, str] | None = None) -> None:
        """Keep the retention queue in step with the run's status, and apply ``max_runs``."""
        if self._max_runs is None:
            return
        if key is None:
            key = (entry.workflow_id, entry.run_id)
        finished = self._finished
        if entry.status in FINISHED_STATUSES:
            finished.pop(key, None)
            finished[key] = None
        elif finished:
            finished.pop(key, None)
        runs = self._table()
        while len(runs) > self._max_runs and finished:
            oldest = next(iter(finished))
            del finished[oldest]
            runs.pop(oldest, None)

    # -- snapshots -------------------------------------------------------------------------------

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace the run's record, keeping ``snapshot`` itself (no copy)."""
        self._store(workflow_id, run_id, snapshot, resource_id)

    def _store(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        resource_id: str | None,
    ) -> Entry:
        runs = self._table()
        status = snapshot_status(snapshot)
        now = self._now()
        key = (workflow_id, run_id)
        entry = runs.get(key)
        if entry is None:
            entry = runs[key] = Entry(workflow_id, run_id, resource_id, status, snapshot, now, now)
        else:
            if resource_id is not None:
                entry.resource_id = resource_id
            entry.replace_snapshot(snapshot, status, now)
        if self._max_runs is not None:
            self._status_changed(entry, key)
        return entry

    def follow_live(self, workflow_id: str, run_id: str, build: SnapshotBuilder) -> bool:
        """Follow a run of this process: reads of it build its snapshot as of then, until its
        next stored snapshot (which may hold ``StepResult`` objects; see ``Storage``)."""
        entry = self._table().get((workflow_id, run_id))
        if entry is None:
            return False
        entry.build = build
        return True

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """The stored snapshot dict itself (read-only for the caller), or ``None``."""
        entry = self._table().get((workflow_id, run_id))
        return None if entry is None else entry.wire_snapshot()

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus] | None = None,
    ) -> bool:
        """Compare-and-set the run's status; the new snapshot is a shallow copy of the old one."""
        allowed = expected_statuses(expected)
        entry = self._table().get((workflow_id, run_id))
        if entry is None or (allowed is not None and entry.status not in allowed):
            return False
        entry.set_status(status, self._now())
        self._status_changed(entry)
        return True

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record (its snapshot is the stored dict), or ``None``."""
        entry = self._table().get((workflow_id, run_id))
        return None if entry is None else entry.record()

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
        """Matching runs, newest first (by ``created_at``, then insertion), one page of them."""
        check_page(limit, offset)
        now = self._now()
        matches = [
            entry
            for entry in self._table().values()
            if (workflow_id is None or entry.workflow_id == workflow_id)
            and (status is None or entry.status == status)
            and (resource_id is None or entry.resource_id == resource_id)
            and (not orphaned or (entry.status in RUNNING_STATUSES and entry.lease_free(now)))
        ]
        matches.reverse()  # newest insertion first; the stable sort below keeps it among ties
        matches.sort(key=lambda entry: entry.created_at, reverse=True)
        page = [_listed(entry) for entry in matches[offset : offset + limit]]
        return RunList(runs=page, total=len(matches))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run; ``True`` when it was stored."""
        self._finished.pop((workflow_id, run_id), None)
        self._events.forget(workflow_id, run_id)
        return self._table().pop((workflow_id, run_id), None) is not None

    async def append_events(
        self, workflow_id: str, run_id: str, first_seq: int, events: list[dict[str, Any]]
    ) -> None:
        """Append records to the run's event log (see :class:`~rxflow.storage.EventLog`)."""
        self._table()
        self._events.append(workflow_id, run_id, first_seq, events)

    async def read_events(
        self, workflow_id: str, run_id: str, after_seq: int = -1, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Records of the run's event log numbered above ``after_seq``, at most ``limit``."""
        self._table()
        return self._events.read(workflow_id, run_id, after_seq, limit)

    async def delete_runs(
        self,
        *,
        workflow_id: str | None = None,
        older_than: timedelta | datetime | None = None,
        status: RunStatus | Collection[RunStatus] | None = None,
    ) -> int:
        """Forget the matching runs (by default finished ones only); returns how many."""
        statuses = status_set(status)
        cutoff = retention_cutoff(older_than, self._now())
        runs = self._table()
        doomed = [
            key
            for key, entry in runs.items()
            if (workflow_id is None or entry.workflow_id == workflow_id)
            and entry.status in statuses
            and (cutoff is None or entry.updated_at < cutoff)
        ]
        for key in doomed:
            del runs[key]
            self._finished.pop(key, None)
        return len(doomed)

    # -- leases, checkpoints, cancel requests ------------------------------------------------------

    async def claim_run(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | Collection[RunStatus],
        owner: str | None = None,
    ) -> Lease | None:
        """Compare-and-set the status and take the lease, when the lease is free."""
        allowed = claim_statuses(expected)
        entry = self._table().get((workflow_id, run_id))
        now = self._now()
        if entry is None or entry.status not in allowed:
            return None
        if not entry.lease_free(now):
            return None
        entry.set_status(status, now)
        self._status_changed(entry)
        expires_at = now + int(self._lease_ttl * 1000)
        return entry.take(owner or new_owner_id(), expires_at, this_host(), os.getpid())

    def _owned(self, lease: Lease) -> tuple[Entry, LeaseSlot]:
        entry = self._table().get((lease.workflow_id, lease.run_id))
        if entry is None:
            raise lease_lost(lease, None, None)
        slot = entry.lease_slot
        if not slot.holds(lease):
            raise lease_lost(lease, slot.owner, slot.version)
        return entry, slot

    async def renew_lease(self, lease: Lease) -> Lease:
        """Extend the lease from now; raises ``LeaseLostError`` when it is no longer the run's."""
        _, slot = self._owned(lease)
        slot.expires_at = self._now() + int(self._lease_ttl * 1000)
        return attrs.evolve(lease, expires_at=slot.expires_at, cancel_requested=slot.cancel)

    async def release_lease(self, lease: Lease) -> bool:
        """Give the run up; ``False`` when the lease was no longer the run's."""
        entry = self._table().get((lease.workflow_id, lease.run_id))
        if entry is None or entry.slot is None or not entry.slot.holds(lease):
            return False
        entry.slot.drop()
        return True

    async def checkpoint(
        self,
        lease: Lease,
        *,
        state: Mapping[str, Any] | None = None,
        results: Mapping[str, Any] | None = None,
        release: bool = False,
    ) -> Lease:
        """Patch the control state and add result records (kept by reference), atomically."""
        new_status = check_checkpoint(state, results)
        entry, slot = self._owned(lease)
        now = self._now()
        if results:
            entry.add_results(results, now)
        entry.patch(state or {}, new_status, now)
        if new_status is not None:
            self._status_changed(entry)
        if release:
            slot.drop()
        else:
            slot.expires_at = now + int(self._lease_ttl * 1000)
        return attrs.evolve(lease, expires_at=slot.expires_at, cancel_requested=slot.cancel)

    async def load_results(self, workflow_id: str, run_id: str) -> list[ResultRecord]:
        """Every result record of the run, in the order written."""
        entry = self._table().get((workflow_id, run_id))
        return [] if entry is None or entry.log is None else list(entry.log.records)

    async def request_cancel(self, workflow_id: str, run_id: str) -> CancelOutcome | None:
        """Flag the run for its live owner, or cancel it here when nobody owns it."""
        entry = self._table().get((workflow_id, run_id))
        if entry is None:
            return None
        if entry.status in FINISHED_STATUSES:
            return "finished"
        now = self._now()
        slot = entry.lease_slot
        slot.cancel = True
        if not slot.free(now):
            return "requested"
        slot.version += 1  # fences out a former owner that comes back
        slot.drop()
        entry.set_status("canceled", now)
        self._status_changed(entry)
        return "canceled"

    async def cancel_requested(self, workflow_id: str, run_id: str) -> bool:
        """Whether a cancel was requested for the run."""
        entry = self._table().get((workflow_id, run_id))
        return entry is not None and entry.slot is not None and entry.slot.cancel

    async def close(self) -> None:
        """Drop every run; later calls raise ``StorageError``."""
        self._runs = None
        self._finished = {}


def _listed(entry: Entry) -> RunRecord:
    """The entry's record for ``list_runs``: a snapshot that cannot be built is reported."""
    try:
        return entry.record()
    except StorageError as error:  # one bad run must not hide the others
        return RunRecord(
            workflow_id=entry.workflow_id,
            run_id=entry.run_id,
            resource_id=entry.resource_id,
            status=entry.status,
            snapshot=None,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            lease=entry.lease(),
            error=str(error),
        )
