"""Where runs and their snapshots are kept: the ``Storage`` protocol and its implementations.

``InMemoryStorage`` is the library default; ``SQLiteStorage`` keeps runs in a file across restarts;
``PostgresStorage`` (the ``postgres`` extra) keeps them in a database many hosts share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .event_log import EventLog, LoggedEvent, event_log
from .memory import InMemoryStorage
from .protocol import RunList, RunRecord, Storage
from .records import CancelOutcome, Lease, ResultRecord
from .sqlite import SQLiteStorage
from .wakeups import CancelWaiter, wait_for_cancel

if TYPE_CHECKING:
    from .postgres import PostgresStorage

__all__ = [
    "CancelOutcome",
    "CancelWaiter",
    "EventLog",
    "InMemoryStorage",
    "Lease",
    "LoggedEvent",
    "PostgresStorage",
    "ResultRecord",
    "RunList",
    "RunRecord",
    "SQLiteStorage",
    "Storage",
    "event_log",
    "wait_for_cancel",
]


def __getattr__(name: str) -> Any:
    # PostgresStorage needs psycopg (the postgres extra): imported when first asked for.
    if name == "PostgresStorage":
        try:
            from .postgres import PostgresStorage
        except ImportError as error:
            raise ImportError(
                "PostgresStorage needs psycopg 3 and psycopg_pool: pip install 'rxflow[postgres]'"
            ) from error
        return PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
