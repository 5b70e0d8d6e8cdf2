"""Where runs and their snapshots are kept: the ``Storage`` protocol and its implementations.

``InMemoryStorage`` is the library default; ``SQLiteStorage`` keeps runs in a file across restarts.
"""

from __future__ import annotations

from .memory import InMemoryStorage
from .protocol import RunList, RunRecord, Storage
from .records import CancelOutcome, Lease, ResultRecord
from .sqlite import SQLiteStorage

__all__ = [
    "CancelOutcome",
    "InMemoryStorage",
    "Lease",
    "ResultRecord",
    "RunList",
    "RunRecord",
    "SQLiteStorage",
    "Storage",
]
