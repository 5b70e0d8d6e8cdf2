"""``InMemoryStorage``: the library's default storage, a dict of records living in this process.

Snapshots are kept by reference (no copy, no JSON), so storing one costs next to nothing.
"""

from __future__ import annotations

from typing import Any

from ..errors import StorageError
from .protocol import (
    RunList,
    RunRecord,
    check_page,
    expected_statuses,
    now_ms,
    snapshot_status,
)

__all__ = ["InMemoryStorage"]


class InMemoryStorage:
    """Runs kept in a dict for the life of the process; lost when it exits.

    Snapshots are stored and returned **by reference**: the caller hands over a fresh dict per
    write and never changes it afterwards, and treats returned snapshots as read-only (see
    :class:`~rxflow.storage.Storage`). :meth:`update_status` therefore never mutates a stored
    dict: it stores a shallow copy carrying the new status.

    Each method finishes without yielding to the event loop, so each is atomic with respect to
    other tasks on the loop. Use one instance from one event loop (it is not thread-safe).
    """

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        # Insertion order of this dict is the "then insertion" order of list_runs; replacing a
        # value keeps its place, deleting and re-creating a run moves it to the end.
        self._runs: dict[tuple[str, str], RunRecord] | None = {}

    def __repr__(self) -> str:
        state = "closed" if self._runs is None else f"{len(self._runs)} runs"
        return f"<InMemoryStorage {state}>"

    def _table(self) -> dict[tuple[str, str], RunRecord]:
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
        runs = self._table()
        status = snapshot_status(snapshot)
        now = now_ms()
        old = runs.get((workflow_id, run_id))
        runs[(workflow_id, run_id)] = RunRecord(
            workflow_id=workflow_id,
            run_id=run_id,
            resource_id=resource_id if resource_id is not None or old is None else old.resource_id,
            status=status,
            snapshot=snapshot,
            created_at=now if old is None else old.created_at,
            updated_at=now,
        )

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """The stored snapshot dict itself (read-only for the caller), or ``None``."""
        record = self._table().get((workflow_id, run_id))
        return None if record is None else record.snapshot

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        *,
        expected: str | tuple[str, ...] | None = None,
    ) -> bool:
        """Compare-and-set the run's status; the new snapshot is a shallow copy of the old one."""
        runs = self._table()
        allowed = expected_statuses(expected)
        record = runs.get((workflow_id, run_id))
        if record is None or (allowed is not None and record.status not in allowed):
            return False
        runs[(workflow_id, run_id)] = RunRecord(
            workflow_id=workflow_id,
            run_id=run_id,
            resource_id=record.resource_id,
            status=status,
            snapshot={**record.snapshot, "status": status},
            created_at=record.created_at,
            updated_at=now_ms(),
        )
        return True

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        """The run's record (its snapshot is the stored dict), or ``None``."""
        return self._table().get((workflow_id, run_id))

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: str | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> RunList:
        """Matching runs, newest first (by ``created_at``, then insertion), one page of them."""
        check_page(limit, offset)
        matches = [
            record
            for record in self._table().values()
            if (workflow_id is None or record.workflow_id == workflow_id)
            and (status is None or record.status == status)
            and (resource_id is None or record.resource_id == resource_id)
        ]
        matches.reverse()  # newest insertion first; the stable sort below keeps it among ties
        matches.sort(key=lambda record: record.created_at, reverse=True)
        return RunList(runs=matches[offset : offset + limit], total=len(matches))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run; ``True`` when it was stored."""
        return self._table().pop((workflow_id, run_id), None) is not None

    async def close(self) -> None:
        """Drop every run; later calls raise ``StorageError``."""
        self._runs = None
