"""One run as ``InMemoryStorage`` keeps it: its row, its lease and its step result records.

Mutable inside the store only; readers get frozen ``RunRecord``, ``Lease`` and ``ResultRecord``.
The lease and the records hang off the entry only once used, so a run that never claims or
checkpoints (the library's own in-memory runs) costs what it did before they existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..convert import to_wire
from ..errors import NotJSONError, StorageError
from ..status import RunStatus
from .lease import lease_is_free
from .protocol import RunRecord, SnapshotBuilder
from .records import Lease, ResultRecord, fold_results

__all__ = ["Entry", "LeaseSlot", "ResultLog"]


@attrs.define(slots=True, eq=False)
class LeaseSlot:
    """A run's lease as stored: ``owner`` ``None`` means nobody holds it; ``version`` (the
    fencing version) survives releases; ``cancel`` records a cancel request."""

    owner: str | None = None
    version: int = 0
    expires_at: int = 0
    host: str | None = None
    pid: int | None = None
    cancel: bool = False

    def free(self, now: int) -> bool:
        return lease_is_free(self.owner, self.expires_at, self.host, self.pid, now)

    def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` is the current one (the fencing check of every owner write)."""
        return self.owner == lease.owner and self.version == lease.version

    def drop(self) -> None:
        self.owner, self.expires_at, self.host, self.pid = None, 0, None, None


@attrs.define(slots=True, eq=False)
class ResultLog:
    """A run's step result records: all of them, the next attempt per key, and the results
    written since the last persisted snapshot (which reads lay over its context)."""

    records: list[ResultRecord] = attrs.Factory(list)
    attempts: dict[str, int] = attrs.Factory(dict)
    overlay: dict[str, Any] = attrs.Factory(dict)


@attrs.define(slots=True, eq=False)
class Entry:
    """One stored run. ``snapshot`` is its control state: the snapshot as last persisted or
    patched by checkpoints, without the results those checkpoints stored as records."""

    workflow_id: str
    run_id: str
    resource_id: str | None
    status: RunStatus
    snapshot: dict[str, Any]
    created_at: int
    updated_at: int
    # True while the snapshot's context may still hold StepResult objects.
    live: bool = False
    # Set while a run of this process is in progress: builds its current snapshot.
    build: SnapshotBuilder | None = None
    slot: LeaseSlot | None = None
    log: ResultLog | None = None
    # The snapshot with the log's overlay laid over it, built on first read after a change.
    assembled: dict[str, Any] | None = None

    @property
    def lease_slot(self) -> LeaseSlot:
        if self.slot is None:
            self.slot = LeaseSlot()
        return self.slot

    def replace_snapshot(self, snapshot: dict[str, Any], status: RunStatus, now: int) -> None:
        """A persisted snapshot: it is the whole truth again, results overlay included."""
        self.status = status
        self.snapshot = snapshot
        self.updated_at = now
        # The snapshot that ends a followed run's live lane is the run's own: its step results
        # may still be objects (converted when first read).
        self.live = self.build is not None
        self.build = None
        if self.log is not None:
            self.log.overlay = {}
            self.assembled = None

    def patch(self, state: Mapping[str, Any], status: RunStatus | None, now: int) -> None:
        """Replace top-level keys of the control state (a fresh dict: readers may hold the old);
        ``status`` is the one ``state`` sets, if any."""
        if state:
            if self.build is not None:  # the owner's own write ends following a live builder
                self.wire_control()
                self.build = None
            self.snapshot = {**self.snapshot, **state}
        if status is not None:
            self.status = status
        self.updated_at = now
        self.assembled = None

    def set_status(self, status: RunStatus, now: int) -> None:
        self.snapshot = {**self.snapshot, "status": status}
        self.status = status
        self.updated_at = now
        self.assembled = None

    def add_results(self, results: Mapping[str, Any], now: int) -> None:
        """Store each result as a new record: the next attempt of its key."""
        if self.log is None:
            self.log = ResultLog()
        records, attempts, overlay = self.log.records, self.log.attempts, self.log.overlay
        for key, result in results.items():
            attempt = attempts.get(key, 0)
            attempts[key] = attempt + 1
            records.append(ResultRecord(key, attempt, len(records) + 1, result, now))
            overlay.pop(key, None)  # each key's latest, in the order those were written
            overlay[key] = result
        self.assembled = None

    def wire_control(self) -> dict[str, Any]:
        """The control state as wire data: a live run's current one, objects converted (once).

        A live snapshot that cannot be built or converted raises ``StorageError``."""
        try:
            return self._wire_control()
        except Exception as error:
            raise StorageError(
                f"snapshot of run {self.run_id!r} of workflow {self.workflow_id!r}"
                f" cannot be read: {error}"
            ) from error

    def _wire_control(self) -> dict[str, Any]:
        if self.build is not None:
            self.snapshot = {**self.build(), "status": self.status}
            self.live = True
            self.assembled = None
        if self.live:
            self.live = False
            context = {
                step_id: value if isinstance(value, dict) else _wire_or_object(value)
                for step_id, value in self.snapshot.get("context", {}).items()
            }
            self.snapshot = {**self.snapshot, "context": context}
        return self.snapshot

    def wire_snapshot(self) -> dict[str, Any]:
        """The full snapshot: the control state with the stored results in its context."""
        control = self.wire_control()
        if self.log is None or not self.log.overlay:
            return control
        if self.assembled is None:
            assembled = {**control, "context": dict(control.get("context", {}))}
            fold_results(assembled, self.log.overlay.items())
            self.assembled = assembled
        return self.assembled

    def lease(self) -> Lease | None:
        """The lease as it is held now (``None`` when nobody holds it)."""
        slot = self.slot
        if slot is None or slot.owner is None:
            return None
        return Lease(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            owner=slot.owner,
            version=slot.version,
            expires_at=slot.expires_at,
            host=slot.host or "",
            pid=slot.pid or 0,
            cancel_requested=slot.cancel,
        )

    def lease_free(self, now: int) -> bool:
        return self.slot is None or self.slot.free(now)

    def take(self, owner: str, expires_at: int, host: str, pid: int) -> Lease:
        """A claim: the lease is ``owner``'s now, under the next fencing version."""
        slot = self.lease_slot
        slot.version += 1
        slot.owner, slot.expires_at, slot.host, slot.pid = owner, expires_at, host, pid
        return Lease(
            self.workflow_id, self.run_id, owner, slot.version, expires_at, host, pid, slot.cancel
        )

    def record(self) -> RunRecord:
        return RunRecord(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            resource_id=self.resource_id,
            status=self.status,
            snapshot=self.wire_snapshot(),
            created_at=self.created_at,
            updated_at=self.updated_at,
            lease=self.lease(),
        )


def _wire_or_object(result: Any) -> Any:
    """A step result's wire form; the result itself when JSON cannot carry a value in it (this
    store keeps values by reference, and a resume reads the object back as it is)."""
    try:
        return to_wire(result)
    except NotJSONError:
        return result
