"""The run verbs' calls into a workflow's storage: whatever a store raises reaches the caller as
``StorageError`` naming the run, with the store's own exception chained as its cause."""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from typing import Any, TypeVar

from .errors import StorageError
from .status import RunStatus
from .storage.protocol import RunRecord, Storage

__all__ = ["load_snapshot", "stored_run", "update_status"]

_T = TypeVar("_T")


async def _guarded(call: Awaitable[_T], storage: Storage, doing: str) -> _T:
    try:
        return await call
    except StorageError:
        raise
    except Exception as exc:  # a custom store's own failure
        raise StorageError(f"{type(storage).__name__} failed to {doing}: {exc!r}") from exc


async def stored_run(storage: Storage, workflow_id: str, run_id: str) -> RunRecord | None:
    """The stored record of the run, or ``None``."""
    return await _guarded(
        storage.get_run(workflow_id, run_id),
        storage,
        f"read run '{run_id}' of workflow '{workflow_id}'",
    )


async def load_snapshot(storage: Storage, workflow_id: str, run_id: str) -> Any:
    """The run's stored snapshot as the store returns it (checked by the caller), or ``None``."""
    return await _guarded(
        storage.load_snapshot(workflow_id, run_id),
        storage,
        f"load the snapshot of run '{run_id}' of workflow '{workflow_id}'",
    )


async def update_status(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    status: RunStatus,
    *,
    expected: RunStatus | Collection[RunStatus] | None = None,
) -> bool:
    """Set the run's status (a compare-and-set with ``expected``); whether it was written."""
    return await _guarded(
        storage.update_status(workflow_id, run_id, status, expected=expected),
        storage,
        f"set the status of run '{run_id}' of workflow '{workflow_id}' to {status!r}",
    )
