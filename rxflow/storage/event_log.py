"""The optional event-log capability of a store: every chunk a run emits, in order, numbered.

A store that has it lets readers replay a run's stream from any record, from any process.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["EventLog", "LoggedEvent", "event_log"]


@attrs.frozen(slots=True)
class LoggedEvent:
    """One record of a run's event log: its sequence number (0, 1, 2...) and the chunk's wire
    form (``{"type", "runId", "from", "payload"}``)."""

    seq: int
    event: dict[str, Any]


@runtime_checkable
class EventLog(Protocol):
    """A store that keeps each run's chunks in order (a capability beside ``Storage``)."""

    async def append_events(
        self, workflow_id: str, run_id: str, first_seq: int, events: list[dict[str, Any]]
    ) -> None:
        """Store ``events`` as records ``first_seq``, ``first_seq + 1``...

        ``first_seq`` must be the run's next free number (0 for a run with no records):
        otherwise :class:`~rxflow.errors.StorageError` is raised and nothing is written, so two
        writers can never interleave or overwrite records. The dicts must not change afterwards.
        """

    async def read_events(
        self, workflow_id: str, run_id: str, after_seq: int = -1, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Up to ``limit`` records with a number above ``after_seq``, in order (empty for an
        unknown run)."""


def event_log(storage: object) -> EventLog | None:
    """``storage`` as an event log, or ``None`` when it does not keep one."""
    if callable(getattr(storage, "append_events", None)) and callable(
        getattr(storage, "read_events", None)
    ):
        return storage  # type: ignore[return-value]
    return None
