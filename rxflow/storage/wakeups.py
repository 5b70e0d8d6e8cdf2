"""The optional capability of a store to wake a run's owner when a cancel is requested, and the
periodic check every other store falls back to.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from .protocol import Storage

__all__ = ["CancelWaiter", "wait_for_cancel"]


@runtime_checkable
class CancelWaiter(Protocol):
    """A store that can tell a run's owner of a cancel request as soon as it is made.

    :class:`~rxflow.storage.postgres.PostgresStorage` has it (PostgreSQL ``LISTEN``/``NOTIFY``:
    a :meth:`~rxflow.storage.Storage.request_cancel` in any process wakes the waiter). Stores
    without it are checked periodically by :func:`wait_for_cancel`.
    """

    async def wait_cancel(self, workflow_id: str, run_id: str) -> None:
        """Return once a cancel was requested for the run (at once if one already was)."""


async def wait_for_cancel(
    storage: Storage, workflow_id: str, run_id: str, *, interval: float = 1.0
) -> None:
    """Return once a cancel was requested for the run; cancel the awaiting task to stop.

    Uses the store's :meth:`CancelWaiter.wait_cancel` when it has one (no polling), else
    asks :meth:`~rxflow.storage.Storage.cancel_requested` every ``interval`` seconds.
    """
    if isinstance(storage, CancelWaiter):
        await storage.wait_cancel(workflow_id, run_id)
        return
    while not await storage.cancel_requested(workflow_id, run_id):
        await asyncio.sleep(interval)
