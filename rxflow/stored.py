"""The run verbs' calls into a workflow's storage: whatever a store raises reaches the caller as
``StorageError`` naming the run, with the store's own exception chained as its cause."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .errors import StorageError
from .status import RunStatus
from .storage.protocol import RunRecord, Storage

__all__ = ["load_snapshot", "persist_snapshot", "stored_run", "update_status"]


def _failed(storage: Storage, doing: str, exc: Exception) -> StorageError:
    """A custom store's own failure, as the ``StorageError`` its caller gets (raised ``from``
    the store's exception)."""
    return StorageError(f"{type(storage).__name__} failed to {doing}: {exc!r}")


def _of(run_id: str, workflow_id: str) -> str:
    return f"run '{run_id}' of workflow '{workflow_id}'"


async def stored_run(storage: Storage, workflow_id: str, run_id: str) -> RunRecord | None:
    """The stored record of the run, or ``None``."""
    try:
        return await storage.get_run(workflow_id, run_id)
    except StorageError:
        raise
    except Exception as exc:
        raise _failed(storage, f"read {_of(run_id, workflow_id)}", exc) from exc


async def persist_snapshot(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    snapshot: dict[str, Any],
    *,
    resource_id: str | None,
) -> None:
    """Store the run's snapshot (handed over to the store)."""
    try:
        await storage.persist_snapshot(workflow_id, run_id, snapshot, resource_id=resource_id)
    except StorageError:
        raise
    except Exception as exc:
        raise _failed(storage, f"store the snapshot of {_of(run_id, workflow_id)}", exc) from exc


async def load_snapshot(storage: Storage, workflow_id: str, run_id: str) -> Any:
    """The run's stored snapshot as the store returns it (checked by the caller), or ``None``."""
    try:
        return await storage.load_snapshot(workflow_id, run_id)
    except StorageError:
        raise
    except Exception as exc:
        raise _failed(storage, f"load the snapshot of {_of(run_id, workflow_id)}", exc) from exc


async def update_status(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    status: RunStatus,
    *,
    expected: RunStatus | Collection[RunStatus] | None = None,
) -> bool:
    """Set the run's status (a compare-and-set with ``expected``); whether it was written."""
    try:
        return await storage.update_status(workflow_id, run_id, status, expected=expected)
    except StorageError:
        raise
    except Exception as exc:
        doing = f"set the status of {_of(run_id, workflow_id)} to {status!r}"
        raise _failed(storage, doing, exc) from exc
