"""Writing a run's progress to its storage: in order, group-committed, in the run's checkpoint
mode (``sync``, ``async`` or ``exit``), as checkpoints under the run's lease where it has one.

``mark()`` says "the run changed": it costs a flag and, at most, one task. That task writes the
newest progress whenever the loop gets to it; marks made while a write is in flight coalesce
into one later write (group commit: at most one write in flight per run, each carrying
everything settled since the last). ``flush()`` waits until what was marked is stored (the
``sync`` mode awaits it before each top-level entry). ``write()`` writes the final snapshot
after everything marked before it, and is what the run awaits at a suspension and at the end,
so a result never resolves before its snapshot is stored.

The persister asks the storage what it is (``Storage.durable``, ``Storage.follow_live``): only
durable storages get the mark-driven trail, and not in the ``exit`` mode. A store with a live
lane (the in-memory one) follows the run through a snapshot builder instead (reads mid-run
build the run's current snapshot), so nothing is written per step there, and the run's own
snapshots keep their step results as objects.

In the ``sync`` mode the persister also gates the run's events (``gate``): a step's result, a
suspension and a foreach item's progress are held, with every event after them, until a write
holding what they report is stored. What a consumer has seen survives a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ..errors import LeaseLostError, StorageError
from ..events import STEP_RESULT_RECORD, WorkflowStepProgress, WorkflowStepSuspended
from ..snapshot import WireCache
from ..storage.protocol import SnapshotBuilder, follow_live, is_durable

if TYPE_CHECKING:
    from ..events import EventRecord
    from ..storage.protocol import Storage
    from ..storage.records import Lease
    from .state import RunScope

__all__ = ["Durability", "PartsBuilder", "Persister"]

Durability = Literal["sync", "async", "exit"]

PartsBuilder = Callable[[], tuple[dict[str, Any], dict[str, Any]]]
"""Builds a checkpoint of the run as it is now: its control state, and the step results (wire
form, by key) not stored yet."""

Parts = tuple[dict[str, Any], dict[str, Any]]

# Events that report something stored: held in the sync mode until it is.
_HELD_EVENTS = (WorkflowStepProgress, WorkflowStepSuspended)


def _no_snapshot() -> dict[str, Any]:
    raise RuntimeError("this run's segment has ended; its persister writes nothing more")


def _no_parts() -> Parts:
    raise RuntimeError("this run's segment has ended; its persister writes nothing more")


@attrs.define(slots=True, eq=False)
class Persister:
    """Ordered, coalescing progress writer for one run (made with ``Persister.open``)."""

    storage: Storage
    workflow_id: str
    run_id: str
    resource_id: str | None
    _build: SnapshotBuilder
    # Whether the mark-driven trail is written (a durable store, not the exit mode; off once
    # closed). Durable: step results are converted to JSON data as each step ends (a step
    # whose output JSON cannot carry fails there), and snapshots reuse those wire forms.
    durable: bool
    # The store follows the run live: it reads the run's progress from a builder when asked,
    # and takes the run's own snapshots with step results as objects.
    live: bool
    # The sync mode: entries wait for their predecessors' results to be stored, and events
    # wait for what they report.
    sync: bool = False
    # The exit and async modes on a durable store: a write when the run starts, before its
    # first step (``store_started``), so that a restart always finds the run's input.
    store_at_start: bool = False
    # With a lease, progress is stored by ``storage.checkpoint``: each step result once.
    lease: Lease | None = None
    _build_parts: PartsBuilder = _no_parts
    # Called (on the loop) when a checkpoint or renewal says a cancel was requested.
    on_cancel: Callable[[], None] | None = None
    _cache: WireCache | None = attrs.field(init=False, default=None)
    # Keys of the step results set or changed since the last checkpoint was built (in order).
    _changed: dict[str, None] = attrs.field(init=False, factory=dict)
    # Records to store as they are with the next checkpoint (a foreach item's, by key).
    _records: dict[str, Any] = attrs.field(init=False, factory=dict)
    _dirty: bool = attrs.field(init=False, default=False)
    _task: asyncio.Task[None] | None = attrs.field(init=False, default=None)
    # (is a record, event) held by the sync mode's gate, in emission order.
    _held: list[tuple[bool, Any]] | None = attrs.field(init=False, default=None)
    _sinks: tuple[Callable[[Any], None], Callable[[EventRecord], None]] | None = attrs.field(
        init=False, default=None
    )
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
        mode: Durability = "async",
        build_parts: PartsBuilder = _no_parts,
    ) -> Persister:
        """The persister of one segment of a run: it asks ``storage`` whether it is durable,
        and offers it to follow the run live through ``live_build``."""
        live = follow_live(storage, workflow_id, run_id, live_build)
        durable = is_durable(storage)
        writes = durable and mode != "exit"
        return cls(
            storage,
            workflow_id,
            run_id,
            resource_id,
            build,
            writes,
            live,
            sync=writes and mode == "sync",
            store_at_start=durable and mode != "sync",  # sync writes before each entry
            build_parts=build_parts,
        )

    @property
    def cache(self) -> WireCache:
        """Wire forms of the run's step results, each converted once (made on first use)."""
        if self._cache is None:
            self._cache = WireCache()
        return self._cache

    # -- the trail of writes ---------------------------------------------------------------

    def mark(self, key: str | None = None) -> None:
        """The run changed (``key``: the step result under it was set or changed): write its
        progress soon (durable storages only)."""
        if not self.durable or self.error is not None:
            return
        if key is not None:
            self._changed[key] = None
        self._dirty = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def take_changed(self) -> dict[str, None]:
        """The keys of the step results changed since the last call (and forget them)."""
        changed = self._changed
        if changed:
            self._changed = {}
        return changed

    def mark_record(self, key: str, wire: Any) -> None:
        """Store ``wire`` (JSON data) as the result record ``key`` with the next checkpoint: a
        foreach item's, so that a checkpoint does not rewrite its block's earlier items."""
        if not self.durable or self.error is not None:
            return
        self._records[key] = wire
        self.mark()

    def take_records(self) -> dict[str, Any]:
        """The records marked since the last call (and forget them)."""
        records = self._records
        if records:
            self._records = {}
        return records

    async def flush(self) -> None:
        """Mark, then wait until everything marked so far is stored (or a write failed)."""
        self.mark()
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def store_started(self) -> None:
        """A run started in the ``exit`` or ``async`` mode on a durable store: store it as it
        is now (its input, status ``running``) before its first step. In the exit mode it is
        the one write before a suspension or the end; in the async mode the trail follows off
        the event path, and a crash before its first write still leaves the input stored."""
        if self.store_at_start:
            await self._store_progress()

    async def _drain(self) -> None:
        try:
            while self._dirty and self.error is None:
                self._dirty = False
                held = self._held  # events emitted before this write's contents are covered
                covered = len(held) if held is not None else 0
                await self._store_progress()
                if self.error is None:
                    self._release(covered)
        finally:
            self._task = None

    async def _store_progress(self) -> None:
        try:
            lease = self.lease
            if lease is not None:
                state, results = self._build_parts()
                self.took(await self.storage.checkpoint(lease, state=state, results=results))
            else:
                await self.storage.persist_snapshot(
                    self.workflow_id, self.run_id, self._build(), resource_id=self.resource_id
                )
        except Exception as exc:  # a StorageError from the build: a value JSON cannot carry
            self.failed(exc)

    def took(self, lease: Lease) -> None:
        """A checkpoint or renewal returned the renewed lease; act on a cancel request."""
        self.lease = lease
        if lease.cancel_requested and self.on_cancel is not None:
            self.on_cancel()

    def failed(self, exc: Exception) -> None:
        """A write failed: keep the first failure (the run fails with it)."""
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
        """The segment ended: no more marks; drop the snapshot builders (they hold the run's
        execution state); hand on any event still held."""
        self._dirty = False
        self.durable = self.sync = False
        self._build = _no_snapshot
        self._build_parts = _no_parts
        self._cache = None
        self._release_all()

    async def write(self, snapshot: dict[str, Any] | None, parts: Parts | None = None) -> None:
        """Store the final ``snapshot`` (or, under a lease, the checkpoint ``parts``, which
        also gives the lease up) after every write marked before it; raises if it fails.

        It supersedes any marked write that has not started yet, and is attempted even after
        an earlier write failed, so the stored run does not stay ``running``; the earlier
        failure is still raised (a run that could not store its progress does not succeed).
        A run whose lease was lost is not written over: its new owner keeps it.
        """
        self._dirty = False
        task = self._task
        if task is not None:
            await asyncio.shield(task)
        earlier, self.error = self.error, None
        if not isinstance(earlier, LeaseLostError):
            lease = self.lease
            try:
                if lease is not None and parts is not None:
                    state, results = parts
                    await self.storage.checkpoint(lease, state=state, results=results, release=True)
                else:
                    assert snapshot is not None
                    await self.storage.persist_snapshot(
                        self.workflow_id, self.run_id, snapshot, resource_id=self.resource_id
                    )
            except Exception as exc:
                self.failed(exc)
        self._release_all()
        error = earlier or self.error
        if error is not None:
            self.error = error
            raise error

    # -- the sync mode's event gate ----------------------------------------------------------

    def gate(self, scope: RunScope) -> None:
        """Route the run's events through this persister (the ``sync`` mode only)."""
        if not self.sync:
            return
        self._sinks = (scope.emit, scope.emit_record)
        self._held = []
        scope.emit = self._emit
        scope.emit_record = self._emit_record

    def _emit(self, event: Any) -> None:
        held = self._held
        assert held is not None
        if held or (self.sync and isinstance(event, _HELD_EVENTS)):
            held.append((False, event))
            self.mark()
        else:
            assert self._sinks is not None
            self._sinks[0](event)

    def _emit_record(self, record: EventRecord) -> None:
        held = self._held
        assert held is not None
        if held or (self.sync and record[0] == STEP_RESULT_RECORD):
            held.append((True, record))
            self.mark()
        else:
            assert self._sinks is not None
            self._sinks[1](record)

    def _release_all(self) -> None:
        if self._held is not None:
            self._release(len(self._held))

    def _release(self, count: int) -> None:
        """Hand on the first ``count`` held events (what a stored write covers)."""
        sinks, held = self._sinks, self._held
        if not count or sinks is None or held is None:
            return
        released = held[:count]
        del held[:count]
        emit, emit_record = sinks
        for is_record, event in released:
            if is_record:
                emit_record(event)
            else:
                emit(event)
