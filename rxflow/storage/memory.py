"""``InMemoryStorage``: the library's default storage, a dict of records living in this process.

Snapshots are kept by reference (no copy, no JSON), so storing one costs next to nothing. A run
of this process may even hand over its step results as the objects they are; they are turned
into their wire form once, when the snapshot is first read (every read returns wire data). While
such a run is in progress the store follows it through a builder of its snapshot (the live lane
of ``Storage.follow_live``) instead of a write per step: whoever reads the run mid-way gets its
progress as of that moment.
"""

from __future__ import annotations

from typing import Any

from ..convert import to_wire
from ..errors import StorageError
from ..status import RunStatus
from .protocol import (
    RunList,
    RunRecord,
    SnapshotBuilder,
    check_page,
    expected_statuses,
    now_ms,
    snapshot_status,
)

__all__ = ["InMemoryStorage"]


class _Entry:
    """One stored run (mutable inside the store; readers get a frozen ``RunRecord``)."""

    __slots__ = (
        "build",
        "created_at",
        "live",
        "resource_id",
        "run_id",
        "snapshot",
        "status",
        "updated_at",
        "workflow_id",
    )

    def __init__(
        self,
        workflow_id: str,
        run_id: str,
        resource_id: str | None,
        status: RunStatus,
        snapshot: dict[str, Any],
        now: int,
    ) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.resource_id = resource_id
        self.status = status
        self.snapshot = snapshot
        self.created_at = now
        self.updated_at = now
        # True while the snapshot's context may still hold StepResult objects.
        self.live = False
        # Set while a run of this process is in progress: builds its current snapshot.
        self.build: SnapshotBuilder | None = None

    def wire_snapshot(self) -> dict[str, Any]:
        """The snapshot as wire data: a live run's current one, objects converted (once)."""
        if self.build is not None:
            self.snapshot = {**self.build(), "status": self.status}
            self.live = True
        if self.live:
            self.live = False
            context = {
                step_id: value if isinstance(value, dict) else to_wire(value)
                for step_id, value in self.snapshot.get("context", {}).items()
            }
            self.snapshot = {**self.snapshot, "context": context}
        return self.snapshot

    def record(self) -> RunRecord:
        snapshot = self.wire_snapshot()
        return RunRecord(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            resource_id=self.resource_id,
            status=self.status,
            snapshot=snapshot,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class InMemoryStorage:
    """Runs kept in a dict for the life of the process; lost when it exits.

    Snapshots are stored and returned **by reference**: the caller hands over a fresh dict per
    write and never changes it afterwards, and treats returned snapshots as read-only (see
    :class:`~rxflow.storage.Storage`). :meth:`update_status` therefore never mutates a stored
    dict: it stores a shallow copy carrying the new status.

    It is not durable, and it follows runs of this process live (:meth:`follow_live`);
    subclasses too, so a subclass that overrides :meth:`persist_snapshot` receives a followed
    run's final snapshot with its step results as objects (override :meth:`follow_live` to
    return ``False`` for wire data only).

    Each method finishes without yielding to the event loop, so each is atomic with respect to
    other tasks on the loop. Use one instance from one event loop (it is not thread-safe).
    """

    __slots__ = ("_runs",)

    durable = False

    def __init__(self) -> None:
        # Insertion order of this dict is the "then insertion" order of list_runs; replacing a
        # value keeps its place, deleting and re-creating a run moves it to the end.
        self._runs: dict[tuple[str, str], _Entry] | None = {}

    def __repr__(self) -> str:
        state = "closed" if self._runs is None else f"{len(self._runs)} runs"
        return f"<InMemoryStorage {state}>"

    def _table(self) -> dict[tuple[str, str], _Entry]:
        if self._runs is None:
            raise StorageError("this InMemoryStorage is closed")
        return self._runs

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
    ) -> _Entry:
        runs = self._table()
        status = snapshot_status(snapshot)
        now = now_ms()
        entry = runs.get((workflow_id, run_id))
        if entry is None:
            entry = _Entry(workflow_id, run_id, resource_id, status, snapshot, now)
            runs[(workflow_id, run_id)] = entry
            return entry
        if resource_id is not None:
            entry.resource_id = resource_id
        entry.status = status
        entry.snapshot = snapshot
        entry.updated_at = now
        # The snapshot that ends a followed run's live lane is the run's own: its step results
        # may still be objects (converted when first read).
        entry.live = entry.build is not None
        entry.build = None
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
        expected: RunStatus | tuple[RunStatus, ...] | None = None,
    ) -> bool:
        """Compare-and-set the run's status; the new snapshot is a shallow copy of the old one."""
        allowed = expected_statuses(expected)
        entry = self._table().get((workflow_id, run_id))
        if entry is None or (allowed is not None and entry.status not in allowed):
            return False
        entry.status = status
        entry.snapshot = {**entry.snapshot, "status": status}
        entry.updated_at = now_ms()
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
    ) -> RunList:
        """Matching runs, newest first (by ``created_at``, then insertion), one page of them."""
        check_page(limit, offset)
        matches = [
            entry
            for entry in self._table().values()
            if (workflow_id is None or entry.workflow_id == workflow_id)
            and (status is None or entry.status == status)
            and (resource_id is None or entry.resource_id == resource_id)
        ]
        matches.reverse()  # newest insertion first; the stable sort below keeps it among ties
        matches.sort(key=lambda entry: entry.created_at, reverse=True)
        page = [entry.record() for entry in matches[offset : offset + limit]]
        return RunList(runs=page, total=len(matches))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run; ``True`` when it was stored."""
        return self._table().pop((workflow_id, run_id), None) is not None

    async def close(self) -> None:
        """Drop every run; later calls raise ``StorageError``."""
        self._runs = None
