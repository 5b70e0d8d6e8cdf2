"""The argument checks every store shares, so that all of them accept and refuse the same calls.

Pure functions, no I/O; each raises ``TypeError``/``ValueError`` for a caller's mistake.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from ..errors import WorkflowDefinitionError
from ..status import RunStatus
from .records import FINISHED_STATUSES

__all__ = [
    "check_storage_object",
    "check_checkpoint",
    "check_lease_ttl",
    "check_page",
    "claim_statuses",
    "expected_statuses",
    "retention_cutoff",
    "snapshot_status",
    "status_set",
]


def snapshot_status(snapshot: dict[str, Any]) -> RunStatus:
    """The status a snapshot carries; a snapshot without a string ``"status"`` is a caller bug."""
    if not isinstance(snapshot, dict):
        raise TypeError(f"a snapshot must be a dict, got {type(snapshot).__name__}")
    status = snapshot.get("status")
    if not isinstance(status, str):
        raise ValueError(f'a snapshot needs a string "status", got {status!r}')
    return cast("RunStatus", status)


def expected_statuses(
    expected: RunStatus | Collection[RunStatus] | None,
) -> Collection[str] | None:
    """``expected`` of ``update_status`` as a collection of statuses (``None``: no condition).

    One status, or any collection of them (list, tuple, set, frozenset, dict keys).
    """
    if expected is None:
        return None
    if isinstance(expected, str):
        return (expected,)
    if isinstance(expected, Collection) and all(isinstance(s, str) for s in expected):
        return expected
    raise TypeError(
        f"expected must be a status, a collection of statuses or None, got {expected!r}"
    )


def claim_statuses(expected: RunStatus | Collection[RunStatus]) -> Collection[str]:
    """``expected`` of ``claim_run``: like ``update_status``'s, but required."""
    allowed = expected_statuses(expected)
    if allowed is None:
        raise TypeError("claim_run needs the expected statuses to claim from, got None")
    return allowed


def status_set(status: RunStatus | Collection[RunStatus] | None) -> frozenset[str]:
    """``status`` of ``delete_runs`` as a set (``None``: every finished status)."""
    if status is None:
        return FINISHED_STATUSES
    if isinstance(status, str):
        return frozenset((status,))
    if isinstance(status, Collection) and all(isinstance(s, str) for s in status):
        return frozenset(status)
    raise TypeError(f"status must be a status, a collection of statuses or None, got {status!r}")


def retention_cutoff(older_than: timedelta | datetime | None, now: int) -> int | None:
    """The ``updated_at`` (ms) below which ``delete_runs(older_than=...)`` deletes a run.

    A ``timedelta`` is an age counted back from ``now`` (the store's clock); a ``datetime`` is
    a moment (a naive one is local time).
    """
    if older_than is None:
        return None
    if isinstance(older_than, timedelta):
        return now - older_than // timedelta(milliseconds=1)
    if isinstance(older_than, datetime):
        return int(older_than.timestamp() * 1000)
    raise TypeError(f"older_than must be a timedelta, a datetime or None, got {older_than!r}")


def check_lease_ttl(lease_ttl: float) -> float:
    """``lease_ttl`` of a store, checked: a number of seconds above zero."""
    if isinstance(lease_ttl, bool) or not isinstance(lease_ttl, int | float) or lease_ttl <= 0:
        raise ValueError(f"lease_ttl must be a number of seconds > 0, got {lease_ttl!r}")
    return float(lease_ttl)


def check_page(limit: int, offset: int) -> None:
    """Reject a negative ``limit`` or ``offset`` of ``list_runs``."""
    if type(limit) is not int or limit < 0:
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")
    if type(offset) is not int or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}")


def check_checkpoint(
    state: Mapping[str, Any] | None, results: Mapping[str, Any] | None
) -> RunStatus | None:
    """Check a checkpoint's arguments; returns the status ``state`` sets, if it sets one."""
    if state is not None:
        if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
            raise TypeError(f"state must be a mapping with str keys, got {state!r}")
        if "context" in state and not isinstance(state["context"], dict):
            raise TypeError(f'state["context"] must be a dict, got {state["context"]!r}')
    if results is not None and (
        not isinstance(results, Mapping) or not all(isinstance(k, str) for k in results)
    ):
        raise TypeError(f"results must be a mapping with str keys, got {results!r}")
    if state is None or "status" not in state:
        return None
    status = state["status"]
    if not isinstance(status, str):
        raise ValueError(f'a checkpoint\'s "status" must be a string, got {status!r}')
    return cast("RunStatus", status)


# The methods a storage must have for runs to be created on it (the rest of the protocol is
# used later; these catch a path or a class passed where an instance belongs).
_STORAGE_METHODS = ("persist_snapshot", "load_snapshot", "update_status", "get_run")


def check_storage_object(storage: object, where: str) -> None:
    """Refuse, naming ``where``, a storage that is a path, a class or lacks the Storage methods
    (``None`` is accepted: the default store)."""
    if storage is None:
        return
    if isinstance(storage, type) or not all(
        callable(getattr(storage, name, None)) for name in _STORAGE_METHODS
    ):
        raise WorkflowDefinitionError(
            f"{where}: storage must be a Storage such as InMemoryStorage() "
            f"or SQLiteStorage(path), got {storage!r}"
        )
