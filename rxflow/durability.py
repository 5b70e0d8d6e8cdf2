"""What a run does on a store with leases: checkpoint modes, claims, keeping the lease, and
cancelling a run that another process owns.

A run on a durable store that supports leases claims it before anything runs (``start``:
``pending`` to ``running``; ``resume``: ``suspended`` to ``running``; ``restart``: an
unowned ``running`` or ``restarting`` run), writes its progress as checkpoints under that lease
and gives the lease up at a suspension and at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .engine.persist import Durability, Persister
from .errors import CancelTimeoutError, LeaseLostError, StorageError
from .status import RunStatus
from .storage.protocol import Storage, is_durable
from .storage.records import FINISHED_STATUSES, PATH_MARK, SNAPSHOT_KEYS, Lease, path_key
from .stored import stored_run, update_status

__all__ = [
    "DURABILITY_MODES",
    "Durability",
    "CheckpointParts",
    "cancel_owned_elsewhere",
    "cancel_stored",
    "check_durability",
    "check_timeout",
    "claim",
    "give_back",
    "keep_lease",
    "uses_leases",
]

_log = logging.getLogger("rxflow")

DURABILITY_MODES: tuple[Durability, ...] = ("sync", "async", "exit")

CANCEL_CHECK = 1.0
"""Seconds between an owner's checks for a cancel request (on a store that cannot wake it)."""

_CANCEL_POLL = 0.02  # seconds between a canceller's reads of the run's stored status


def check_durability(
    value: Any, where: str | None = None, error: type[Exception] = ValueError
) -> Durability:
    """``value`` if it is a checkpoint mode (``None``: ``"sync"``); else ``error`` (naming
    ``where``, when given)."""
    if value is None:
        return "sync"
    if value in DURABILITY_MODES:
        return value  # type: ignore[no-any-return]
    prefix = f"{where}: " if where else ""
    raise error(f"{prefix}durability must be 'sync', 'async' or 'exit', got {value!r}")


def check_timeout(timeout: Any) -> None:
    """Reject a ``timeout`` that is not a number of seconds above 0 (``TypeError``)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise TypeError(f"timeout must be a number of seconds > 0, got {timeout!r}")


def uses_leases(storage: Storage) -> bool:
    """Whether runs claim ``storage``'s runs with leases: a durable store that has them (a
    custom store written before leases existed keeps status compare-and-sets)."""
    return is_durable(storage) and callable(getattr(storage, "claim_run", None))


async def claim(
    storage: Storage,
    workflow_id: str,
    run_id: str,
    status: RunStatus,
    expected: RunStatus | Collection[RunStatus],
) -> Lease | None:
    """Take the run (status and lease) for this process; ``None`` when another caller holds
    it or its status is not one of ``expected``."""
    try:
        return await storage.claim_run(workflow_id, run_id, status, expected=expected)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"{type(storage).__name__} failed to claim run '{run_id}' of workflow "
            f"'{workflow_id}': {exc!r}"
        ) from exc


async def give_back(storage: Storage, lease: Lease, previous: RunStatus) -> None:
    """Undo a claim after what followed it failed: the run gets ``previous`` again, unowned."""
    try:
        await storage.checkpoint(lease, state={"status": previous}, release=True)
    except Exception as error:
        _log.error("run '%s': could not give back its claim: %s", lease.run_id, error)


class CheckpointParts:
    """Builds a segment's checkpoints: the control state, and only the step results whose
    stored form changed since the last one (each result is written once)."""

    __slots__ = ("_path_stored", "_written")

    def __init__(self) -> None:
        self._written: dict[str, Any] = {}
        # How many entries of the execution path the store holds (None: it holds none of this
        # segment's yet); later entries go out as path records, not as the whole path.
        self._path_stored: int | None = None

    def already_stored(self, wires: Mapping[str, Any]) -> None:
        """These results (key to the very wire object later builds return) are stored."""
        self._written.update(wires)

    def progress(
        self,
        control: dict[str, Any],
        wires: Mapping[str, Any],
        input_wire: Callable[[], Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A checkpoint from the run's ``control`` state (a snapshot without its context) and
        the wire forms of the step results changed since the last one: neither grows with
        the results stored before. ``input_wire`` makes the run input's, written once."""
        written = self._written
        if "runId" in written:
            for key in SNAPSHOT_KEYS:
                del control[key]
        else:
            written["runId"] = True
        results: dict[str, Any] = {}
        if "input" not in written:
            results["input"] = written["input"] = input_wire()
        for key, wire in wires.items():
            if written.get(key) is not wire:
                results[key] = written[key] = wire
        # The path only grows while a segment runs: each checkpoint stores its new entries.
        path: list[str] = control["stepExecutionPath"]
        stored = self._path_stored
        if stored is None or len(path) < stored:
            self._path_stored = len(path)
        else:
            del control["stepExecutionPath"]
            if len(path) > stored:
                results[path_key(stored)] = {PATH_MARK: path[stored:], "from": stored}
                self._path_stored = len(path)
        return control, results

    def split(self, snapshot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``snapshot`` as a checkpoint: its control state, and its new or changed results."""
        written = self._written
        state = {key: value for key, value in snapshot.items() if key != "context"}
        if "runId" in written:
            for key in SNAPSHOT_KEYS:
                del state[key]
        else:
            written["runId"] = True
        results: dict[str, Any] = {}
        for key, wire in snapshot["context"].items():
            if key == "input" and key in written:
                continue  # the run's input never changes
            if written.get(key) is not wire:
                results[key] = written[key] = wire
        return state, results


async def keep_lease(persister: Persister, lease_ttl: float) -> None:
    """While the run goes: renew its lease every third of ``lease_ttl`` and watch for a cancel
    request (at least every second, or woken at once by a store with ``wait_cancel``).

    Ends when a cancel was requested (after calling ``persister.on_cancel``) or the lease was
    lost (recorded as the persister's error, which stops the run at its next entry).
    """
    storage = persister.storage
    loop = asyncio.get_running_loop()
    every = max(lease_ttl / 3, 0.01)
    renew_at = loop.time() + every
    wait_cancel = getattr(storage, "wait_cancel", None)
    waiter: asyncio.Future[Any] | None = None
    if callable(wait_cancel):
        waiter = asyncio.ensure_future(wait_cancel(persister.workflow_id, persister.run_id))
    try:
        while True:
            pause = renew_at - loop.time()
            if waiter is not None:
                await asyncio.wait((waiter,), timeout=max(pause, 0))
                if waiter.done():
                    if waiter.exception() is None:
                        break  # a cancel was requested
                    waiter = None  # the store cannot wake us: check every second instead
                    continue
            else:
                await asyncio.sleep(max(min(pause, CANCEL_CHECK), 0))
            lease = persister.lease
            if lease is None:
                return
            if loop.time() >= renew_at:
                persister.took(await storage.renew_lease(lease))
                renew_at = loop.time() + every
                continue  # took() acted on the renewal's cancel flag
            if await storage.cancel_requested(persister.workflow_id, persister.run_id):
                break
        if persister.on_cancel is not None:
            persister.on_cancel()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        persister.failed(exc)
        if isinstance(exc, LeaseLostError) and persister.on_cancel is not None:
            _log.error("run '%s' stops: %s", persister.run_id, exc)
    finally:
        if waiter is not None and not waiter.done():
            waiter.cancel()


async def cancel_owned_elsewhere(
    storage: Storage, workflow_id: str, run_id: str, timeout: float
) -> RunStatus | None:
    """Ask the run's owner (another process, or another ``Run`` here) to cancel it, and wait
    until ``canceled`` is stored; returns the stored status it ended with (``None``: unknown
    run). A run nobody owns is stored ``canceled`` at once. Raises ``CancelTimeoutError`` when
    the owner did not answer within ``timeout`` seconds."""
    try:
        outcome = await storage.request_cancel(workflow_id, run_id)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"{type(storage).__name__} failed to request the cancel of run '{run_id}' of "
            f"workflow '{workflow_id}': {exc!r}"
        ) from exc
    if outcome is None:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        record = await stored_run(storage, workflow_id, run_id)
        if record is None:
            return None
        if record.status in FINISHED_STATUSES:
            return record.status
        if loop.time() >= deadline:
            raise CancelTimeoutError(
                f"run '{run_id}' of workflow '{workflow_id}': a cancel was requested, but the "
                f"process running it did not answer within {timeout:g} s (status still "
                f"{record.status!r}); it cancels the run when it next checks, or, if it is "
                "gone, its lease expires and the run can be cancelled or restarted then",
                workflow_id=workflow_id,
                run_id=run_id,
                timeout=timeout,
            )
        await asyncio.sleep(_CANCEL_POLL)


async def cancel_stored(
    storage: Storage, workflow_id: str, run_id: str, timeout: float
) -> tuple[bool, RunStatus | None]:
    """Cancel a run this process does not execute: whether it ended ``canceled`` now, and
    the stored status it ended in otherwise (``None``: unknown or unchanged).

    On a store with leases the store decides (an owner elsewhere answers, see
    :func:`cancel_owned_elsewhere`); on one without, a compare-and-set cancels a ``pending``
    or ``suspended`` run.
    """
    if uses_leases(storage):
        status = await cancel_owned_elsewhere(storage, workflow_id, run_id, timeout)
        return status == "canceled", None if status == "canceled" else status
    expected: tuple[RunStatus, ...] = ("pending", "suspended", "paused")
    return await update_status(storage, workflow_id, run_id, "canceled", expected=expected), None
