"""Where runs and their snapshots are kept: the ``Storage`` protocol and its implementations.

``InMemoryStorage`` is the library default; ``SQLiteStorage`` keeps runs in a file across restarts.
"""

from __future__ import annotations

from .memory import InMemoryStorage
from .protocol import RunList, RunRecord, Storage
from .sqlite import SQLiteStorage

__all__ = ["InMemoryStorage", "RunList", "RunRecord", "SQLiteStorage", "Storage"]
