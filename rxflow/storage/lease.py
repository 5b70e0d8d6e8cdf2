"""When a run's lease is free to claim, who this process is, and the error for a lost lease.

Shared by every store, so that all of them answer "may I take this run?" the same way.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from ..errors import LeaseLostError
from .records import Lease

__all__ = [
    "DEFAULT_LEASE_TTL",
    "Clock",
    "holder_is_gone",
    "lease_is_free",
    "lease_lost",
    "new_owner_id",
    "this_host",
]

DEFAULT_LEASE_TTL = 30.0
"""Seconds a lease lasts unless renewed (the stores' ``lease_ttl`` default)."""

Clock = Callable[[], int]
"""A store's clock: integer milliseconds since the epoch."""

_HOST: str | None = None


def this_host() -> str:
    """This machine's host name, as leases record it (read once per process)."""
    global _HOST
    if _HOST is None:
        _HOST = socket.gethostname()
    return _HOST


def new_owner_id() -> str:
    """A fresh owner id for a claim that names none: unique across processes and machines."""
    return uuid.uuid4().hex


def holder_is_gone(host: str | None, pid: int | None) -> bool:
    """Whether the process that took a lease is known to be gone.

    Only a lease taken on this host can be checked: it is gone when no process has its pid
    (or that process is a zombie, dead but not yet reaped). A lease from another host, or one
    naming no process, is never known to be gone; it has to expire.
    """
    if host is None or pid is None or host != this_host() or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, owned by another user
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # "pid (command) state ...": the command may hold spaces and parentheses.
            return stat.read().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return False


def lease_is_free(
    owner: str | None, expires_at: int, host: str | None, pid: int | None, now: int
) -> bool:
    """Whether a claim may take a run whose lease is as given.

    Free when nobody holds it (never claimed, or released), when it expired (``expires_at``
    at or before ``now``), or when its process is gone (see :func:`holder_is_gone`).
    """
    return owner is None or expires_at <= now or holder_is_gone(host, pid)


def lease_lost(lease: Lease, owner: str | None, version: int | None) -> LeaseLostError:
    """The error for a write carrying ``lease`` when the run's lease is ``owner``/``version``
    (``version`` ``None``: the run is no longer stored)."""
    where = f"run {lease.run_id!r} of workflow {lease.workflow_id!r}"
    if version is None:
        reason = f"{where} is no longer stored"
    elif owner is None:
        reason = f"{where} is owned by nobody now (released, taken over or cancelled)"
    else:
        reason = f"{where} is now owned by {owner!r} (fencing version {version})"
    return LeaseLostError(
        f"{reason}; the lease of {lease.owner!r} (fencing version {lease.version}) is lost"
        " and nothing was written"
    )
