"""The in-memory event log of ``InMemoryStorage``: each run's chunks in a list, in order."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..errors import StorageError
from .event_log import LoggedEvent

__all__ = ["MemoryEventLog"]


class MemoryEventLog:
    """Runs' event logs kept in memory; the logs of at most ``max_runs`` runs (the oldest
    written are dropped first), or every run with ``None``."""

    __slots__ = ("_logs", "_max_runs")

    def __init__(self, max_runs: int | None) -> None:
        self._logs: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
        self._max_runs = max_runs

    def append(
        self, workflow_id: str, run_id: str, first_seq: int, events: list[dict[str, Any]]
    ) -> None:
        """Append ``events`` as records ``first_seq``...; a gap or overlap raises."""
        key = (workflow_id, run_id)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = []
            if self._max_runs is not None and len(self._logs) > self._max_runs:
                self._logs.popitem(last=False)
        if first_seq != len(log):
            raise StorageError(
                f"append_events of run '{run_id}' of workflow '{workflow_id}': record "
                f"{first_seq} is not the next one ({len(log)})"
            )
        log.extend(events)

    def read(self, workflow_id: str, run_id: str, after_seq: int, limit: int) -> list[LoggedEvent]:
        """Up to ``limit`` records numbered above ``after_seq``."""
        log = self._logs.get((workflow_id, run_id))
        if not log:
            return []
        start = max(after_seq + 1, 0)
        return [LoggedEvent(seq, log[seq]) for seq in range(start, min(start + limit, len(log)))]

    def forget(self, workflow_id: str, run_id: str) -> None:
        """Drop the run's log."""
        self._logs.pop((workflow_id, run_id), None)
