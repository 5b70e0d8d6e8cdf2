"""The ``Storage`` protocol, its records, and the argument checks its implementations share.

Implementations live in ``memory.py`` and ``sqlite.py``; nothing here does any I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

import attrs

from ..status import RunStatus

__all__ = ["RunList", "RunRecord", "SnapshotBuilder", "Storage", "follow_live", "is_durable"]

SnapshotBuilder = Callable[[], dict[str, Any]]


@attrs.frozen(slots=True)
class RunRecord:
    """One stored run: its keys, its status, its latest snapshot and when it was written.

    ``status`` is always ``snapshot["status"]``. ``created_at`` and ``updated_at`` are integer
    milliseconds since the epoch; ``created_at`` is kept when the snapshot is replaced.
    The ``snapshot`` dict belongs to the storage: read it, copy it before changing it.
    """

    workflow_id: str
    run_id: str
    resource_id: str | None
    status: RunStatus
    snapshot: dict[str, Any]
    created_at: int
    updated_at: int


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

    Two capabilities tell a run how to use the store: :attr:`durable` and the live-snapshot
    lane :meth:`follow_live`. Both are optional for a store written against this protocol: a
    store that declares neither gets the safe defaults (durable, no live lane), so every run
    writes its trail of snapshots to it and hands it nothing but wire data.
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
        keeps the one already stored.
        """

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        """The run's latest snapshot, or ``None`` when the run is unknown."""

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: RunStatus,
        *,
        expected: RunStatus | tuple[RunStatus, ...] | None = None,
    ) -> bool:
        """Set the run's status and ``snapshot["status"]`` together, as one compare-and-set.

        With ``expected`` (one status or a tuple of them), the write happens only when the stored
        status is one of them. Returns ``False`` when the compare-and-set lost or the run is
        unknown, ``True`` when the status was written.
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
    ) -> RunList:
        """Runs matching every given filter, newest first (by ``created_at``, then insertion)."""

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        """Forget the run. Returns whether it was stored."""

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


def snapshot_status(snapshot: dict[str, Any]) -> RunStatus:
    """The status a snapshot carries; a snapshot without a string ``"status"`` is a caller bug."""
    if not isinstance(snapshot, dict):
        raise TypeError(f"a snapshot must be a dict, got {type(snapshot).__name__}")
    status = snapshot.get("status")
    if not isinstance(status, str):
        raise ValueError(f'a snapshot needs a string "status", got {status!r}')
    return cast("RunStatus", status)


def expected_statuses(
    expected: RunStatus | tuple[RunStatus, ...] | None,
) -> tuple[RunStatus, ...] | None:
    """``expected`` of ``update_status`` as a tuple of statuses (``None``: no condition)."""
    if expected is None:
        return None
    if isinstance(expected, str):
        return (expected,)
    if isinstance(expected, tuple) and all(isinstance(s, str) for s in expected):
        return expected
    raise TypeError(f"expected must be a status, a tuple of statuses or None, got {expected!r}")


def check_page(limit: int, offset: int) -> None:
    """Reject a negative ``limit`` or ``offset`` of ``list_runs``."""
    if type(limit) is not int or limit < 0:
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")
    if type(offset) is not int or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}")
