"""Per-run event logs: a run executed here records every chunk in order (in memory for its
live readers, appended to the store's event log for readers anywhere), and readers follow it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from ..storage import EventLog
from .http import encode_record

__all__ = ["LiveRuns", "RunLog"]

_log = logging.getLogger("rxflow.server")

# How many records a reader takes per write to its connection: its bounded window.
WINDOW = 64
# How long the writer lets a running run's chunks gather before storing them, so that a run
# costs its store a few transactions rather than one per chunk. Readers in this process read
# the records in memory at once; a workflow-finish is stored without waiting.
LINGER_SECONDS = 0.01


class RunLog:
    """The records of one run executed by this process, from number ``base`` on.

    ``records`` holds the encoded records; ``finishes`` the numbers of ``workflow-finish``
    records (where a stream of the run ends). Records reach the store in order, in batches,
    by one writer task at a time.
    """

    def __init__(self, workflow_id: str, run_id: str, base: int, store: EventLog | None) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.base = base
        self.records: list[bytes] = []
        self.finishes: set[int] = set()
        self.active = 0  # outputs being recorded
        self._store = store
        self._pending: list[dict[str, Any]] = []
        self._stored = base  # the next number to write
        self._writer: asyncio.Task[None] | None = None
        self._changed: asyncio.Future[None] | None = None
        self._write_failed = False
        self._urgent = False  # a workflow-finish waits to be stored
        self._gathering: asyncio.Future[None] | None = None

    @property
    def end(self) -> int:
        """The number the next record gets."""
        return self.base + len(self.records)

    def push(self, chunk: dict[str, Any]) -> None:
        """Record one chunk (its wire form)."""
        if chunk.get("type") == "workflow-finish":
            self.finishes.add(self.end)
            self._urgent = True
            _settle(self._gathering)
        self.records.append(encode_record(chunk))
        if self._store is not None and not self._write_failed:
            self._pending.append(chunk)
            if self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._write())
        self.wake()

    def wake(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            _settle(changed)

    async def changed(self) -> None:
        """Wait for the next record (or the end of a recording)."""
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._changed)

    async def _write(self) -> None:
        assert self._store is not None
        try:
            while self._pending:
                if not self._urgent:
                    await self._gather()
                self._urgent = False
                batch, self._pending = self._pending, []
                await self._store.append_events(self.workflow_id, self.run_id, self._stored, batch)
                self._stored += len(batch)
        except Exception:
            self._write_failed = True
            self._pending = []
            _log.exception("storing the event log of run '%s' failed", self.run_id)
        finally:
            self._writer = None
            self.wake()

    async def _gather(self) -> None:
        """Let more chunks come: ``LINGER_SECONDS``, or less if a workflow-finish comes."""
        loop = asyncio.get_running_loop()
        gathering = self._gathering = loop.create_future()
        timer = loop.call_later(LINGER_SECONDS, _settle, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            self._gathering = None

    async def stored(self) -> None:
        """Wait until every record pushed so far is in the store (or writing it failed)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def follow(self, start: int, *, until_finish: bool) -> AsyncIterator[bytes]:
        """Records from number ``start`` (at least ``base``) as they come, a window at a time;
        with ``until_finish``, up to the next ``workflow-finish``, else up to what there is
        once no output is being recorded."""
        at = max(start, self.base)
        while True:
            index = at - self.base
            if index < len(self.records):
                stop = min(len(self.records), index + WINDOW)
                for number in range(at, self.base + stop):
                    if until_finish and number in self.finishes:
                        stop = number - self.base + 1
                        break
                yield b"".join(self.records[index:stop])
                at = self.base + stop
                if until_finish and (at - 1) in self.finishes:
                    return
                continue
            if not until_finish and self.active == 0:
                return
            await self.changed()


class LiveRuns:
    """The run logs of runs this process executes, by workflow and run id."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, str], RunLog] = {}

    def get(self, workflow_id: str, run_id: str) -> RunLog | None:
        return self.logs.get((workflow_id, run_id))

    async def open(
        self, workflow_id: str, run_id: str, store: EventLog | None, *, fresh: bool = False
    ) -> RunLog:
        """The run's log here, made with the store's next free number when there is none
        (0 for a ``fresh`` run, one that never ran, without asking the store)."""
        log = self.logs.get((workflow_id, run_id))
        if log is not None:
            return log
        base = 0 if fresh else await _next_number(store, workflow_id, run_id)
        log = self.logs.get((workflow_id, run_id))  # another request may have made it meanwhile
        if log is None:
            log = self.logs[(workflow_id, run_id)] = RunLog(workflow_id, run_id, base, store)
        return log

    def drop_unused(self, log: RunLog) -> None:
        """Forget ``log`` if nothing was ever recorded in it."""
        if log.active == 0 and not log.records and self.logs.get(_key(log)) is log:
            del self.logs[_key(log)]

    async def record(self, log: RunLog, output: AsyncIterable[Any]) -> None:
        """Push every chunk of ``output`` to ``log``; forget the log once nothing more is
        recorded and everything is stored (readers holding it keep reading it)."""
        log.active += 1
        try:
            async for chunk in output:
                log.push(chunk.to_dict())
        except Exception:
            _log.exception("recording run '%s' failed", log.run_id)
        finally:
            log.active -= 1
            log.wake()
        await log.stored()
        if log.active == 0 and self.logs.get((log.workflow_id, log.run_id)) is log:
            del self.logs[(log.workflow_id, log.run_id)]


def _settle(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _key(log: RunLog) -> tuple[str, str]:
    return (log.workflow_id, log.run_id)


async def _next_number(store: EventLog | None, workflow_id: str, run_id: str) -> int:
    if store is None:
        return 0
    after = -1
    while True:
        page = await store.read_events(workflow_id, run_id, after_seq=after, limit=1000)
        if not page:
            return after + 1
        after = page[-1].seq
