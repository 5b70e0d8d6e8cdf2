"""``InMemoryStorage``: the library's default storage, a dict of records living in this process.

Snapshots are kept by reference (no copy, no JSON), so storing one costs next to nothing. A run
of this process may even hand over its step results as the objects they are; they are turned
into their wire form once, when the snapshot is first read (every read returns wire data). While
such a run is in progress the store holds a builder of its snapshot instead of writing one per
step: whoever reads the run mid-way gets its progress as of that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..convert import to_wire
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

    __slots__ = ("_builders", "_live", "_runs")

    def __init__(self) -> None:
        # Runs in progress in this process: a read builds their current snapshot.
        self._builders: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {}
        # Runs whose stored snapshot still holds step results as objects (see _persist_live).
        self._live: set[tuple[str, str]] = set()
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
        self._live.discard((workflow_id, run_id))
        self._builders.pop((workflow_id, run_id), None)
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

    async def _persist_live(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Store a run's own snapshot whose ``context`` may hold ``StepResult`` objects.

        A run of this process uses this so that its step results are converted once, when
        (and if) the snapshot is read, not on every run; the objects must not change after.
        """
        await self.persist_snapshot(workflow_id, run_id, snapshot, resource_id=resource_id)
        self._live.add((workflow_id, run_id))

    def _follow_live(
        self, workflow_id: str, run_id: str, build: Callable[[], dict[str, Any]]
    ) -> None:
        """A run of this process is in progress: reads of it build its snapshot as of then
        (until its next stored snapshot, which ends this)."""
        self._builders[(workflow_id, run_id)] = build

    def _record(self, key: tuple[str, str]) -> RunRecord | None:
        """The stored record, its snapshot in wire form (converting a live one, once)."""
        runs = self._table()
        record = runs.get(key)
        build = self._builders.get(key)
        if record is not None and build is not None:
            record = attrs.evolve(record, snapshot={**build(), "status": record.status})
            runs[key] = record
            self._live.add(key)
        if record is not None and key in self._live:
            self._live.discard(key)
            snapshot = record.snapshot
            context = {
                step_id: value if isinstance(value, dict) else to_wire(value)
                for step_id, value in snapshot.get("context", {}).items()
            }
            record = attrs.evolve(record, snapshot={**snapshot, "context": context})
            runs[key] = record
        return record

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """The stored snapshot dict itself (read-only for the caller), or ``None``."""
        record = self._record((workflow_id, run_id))
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
        return self._record((workflow_id, run_id))

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
        page = [self._record((r.workflow_id, r.run_id)) for r in matches[offset : offset + limit]]
        return RunList(runs=[r for r in page if r is not None], total=len(matches))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run; ``True`` when it was stored."""
        self._live.discard((workflow_id, run_id))
        self._builders.pop((workflow_id, run_id), None)
        return self._table().pop((workflow_id, run_id), None) is not None

    async def close(self) -> None:
        """Drop every run; later calls raise ``StorageError``."""
        self._runs = None
