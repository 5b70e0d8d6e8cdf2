"""Writing a run's snapshots: in order, off the event path, coalesced.

``mark()`` says "the run changed": it costs a flag and, at most, one task. That task writes the
newest snapshot whenever the loop gets to it; marks made while a write is in flight coalesce
into one later write (group commit). ``write()`` writes a given snapshot after everything marked
before it, and is what the run awaits at a suspension and at the end, so a result never resolves
before its snapshot is stored.

The persister asks the storage what it is (``Storage.durable``, ``Storage.follow_live``): only
durable storages get the mark-driven trail (before and after every top-level entry, and block
progress). A store with a live lane (the in-memory one) follows the run through a snapshot
builder instead (reads mid-run build the run's current snapshot), so nothing is written per step
there, and the run's own snapshots keep their step results as objects.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import StorageError
from ..snapshot import WireCache
from ..storage.protocol import SnapshotBuilder, follow_live, is_durable

if TYPE_CHECKING:
    from ..storage.protocol import Storage

__all__ = ["Persister"]


def _no_snapshot() -> dict[str, Any]:
    raise RuntimeError("this run's segment has ended; its persister writes nothing more")


@attrs.define(slots=True, eq=False)
class Persister:
    """Ordered, coalescing snapshot writer for one run (made with ``Persister.open``)."""

    storage: Storage
    workflow_id: str
    run_id: str
    resource_id: str | None
    _build: SnapshotBuilder
    # Whether the mark-driven trail is written (the store is durable; off once closed).
    # Durable: step results are converted to JSON data as each step ends (a step whose output
    # JSON cannot carry fails there), and snapshots reuse those wire forms.
    durable: bool
    # The store follows the run live: it reads the run's progress from a builder when asked,
    # and takes the run's own snapshots with step results as objects.
    live: bool
    _cache: WireCache | None = attrs.field(init=False, default=None)
    _dirty: bool = attrs.field(init=False, default=False)
    _task: asyncio.Task[None] | None = attrs.field(init=False, default=None)
    # The first failed write; the run checks it at entry boundaries and fails with it.
    error: StorageError | None = attrs.field(init=False, default=None)

    @classmethod
    def open(
        cls,
        storage: Storage,
        *,
        workflow_id: str,
        run_id: str,
        resource_id: str | None,
        build: SnapshotBuilder,
        live_build: SnapshotBuilder,
    ) -> Persister:
        """The persister of one segment of a run: it asks ``storage`` whether it is durable,
        and offers it to follow the run live through ``live_build``."""
        live = follow_live(storage, workflow_id, run_id, live_build)
        return cls(storage, workflow_id, run_id, resource_id, build, is_durable(storage), live)

    @property
    def cache(self) -> WireCache:
        """Wire forms of the run's step results, each converted once (made on first use)."""
        if self._cache is None:
            self._cache = WireCache()
        return self._cache

    def mark(self) -> None:
        """The run changed: write a fresh snapshot soon (durable storages only)."""
        if not self.durable or self.error is not None:
            return
        self._dirty = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._dirty and self.error is None:
                self._dirty = False
                try:
                    snapshot = self._build()
                except StorageError as error:  # it holds a value JSON cannot carry
                    self.error = error
                    break
                await self._store(snapshot)
        finally:
            self._task = None

    async def _store(self, snapshot: dict[str, Any]) -> None:
        try:
            await self.storage.persist_snapshot(
                self.workflow_id, self.run_id, snapshot, resource_id=self.resource_id
            )
        except Exception as exc:
            if self.error is None:
                error = (
                    exc
                    if isinstance(exc, StorageError)
                    else StorageError(f"could not store the snapshot of run '{self.run_id}': {exc}")
                )
                if error is not exc:
                    error.__cause__ = exc
                self.error = error

    def close(self) -> None:
        """The segment ended: no more marks; drop the snapshot builder (it holds the run's
        execution state)."""
        self._dirty = False
        self.durable = False
        self._build = _no_snapshot
        self._cache = None

    async def write(self, snapshot: dict[str, Any]) -> None:
        """Store ``snapshot`` after every write marked before it; raises if it fails.

        It supersedes any marked write that has not started yet, and is attempted even after
        an earlier write failed, so the stored run does not stay ``running``; the earlier
        failure is still raised (a run that could not store its progress does not succeed).
        """
        self._dirty = False
        task = self._task
        if task is not None:
            await asyncio.shield(task)
        earlier, self.error = self.error, None
        await self._store(snapshot)
        error = earlier or self.error
        if error is not None:
            self.error = error
            raise error
