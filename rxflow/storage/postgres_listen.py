"""LISTEN/NOTIFY for ``PostgresStorage``: one listening connection per store wakes whoever waits.

A notification names a topic, ``(kind, workflow_id, run_id)``: ``"cancel"`` when a cancel is
requested; other kinds (an event log's new entries) can use the same channel and listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from ..errors import StorageError

__all__ = ["Listener", "Topic", "payload"]

Topic = tuple[str, str, str]
"""What a notification is about: ``(kind, workflow_id, run_id)``."""

# PostgreSQL refuses payloads of 8000 bytes or more; a topic too long for one is sent as its
# kind alone, which wakes every watcher of that kind (each checks the stored state anyway).
_MAX_PAYLOAD = 7900
_RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def payload(topic: Topic) -> str:
    """The NOTIFY payload for ``topic``."""
    text = json.dumps(list(topic), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > _MAX_PAYLOAD:
        return json.dumps([topic[0]])
    return text


class Listener:
    """Listens on ``channel`` over a connection of its own and wakes the watchers of each topic.

    A watcher gets an ``asyncio.Event`` set whenever its topic is notified, and also after the
    listening connection was lost and made again (a notification may have been missed
    meanwhile): a woken watcher checks the stored state, it never trusts the wake-up alone.
    """

    def __init__(
        self,
        channel: str,
        connect: Callable[[], Awaitable[AsyncConnection[Any]]],
        failure: Callable[[str, BaseException], StorageError],
    ) -> None:
        self.channel = channel
        self._connect = connect
        self._failure = failure
        self._watchers: dict[Topic, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._up: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def watch(self, topic: Topic) -> AsyncIterator[asyncio.Event]:
        """Watch ``topic`` while in the block: the event is set at each notification of it.

        Returns once the channel is listened to, so a notification sent after this point is
        not missed; ``StorageError`` when the listening connection cannot be made.
        """
        woken = asyncio.Event()
        self._watchers.setdefault(topic, set()).add(woken)
        try:
            await self._started()
            yield woken
        finally:
            watchers = self._watchers.get(topic)
            if watchers is not None:
                watchers.discard(woken)
                if not watchers:
                    del self._watchers[topic]

    async def _started(self) -> None:
        if self._task is None or self._task.done():
            self._up = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._listen(self._up))
        assert self._up is not None
        await asyncio.shield(self._up)

    async def _listen(self, up: asyncio.Future[None]) -> None:
        attempt = 0
        while True:
            try:
                conn = await self._connect()
            except psycopg.Error as error:
                if not up.done():  # the first connection failed: tell the first watcher
                    up.set_exception(self._failure("listening for notifications", error))
                    return
                await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                attempt += 1
                continue
            try:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                attempt = 0
                if not up.done():
                    up.set_result(None)
                self._wake_all()  # anything notified while nobody listened is checked again
                async for notify in conn.notifies():
                    self._dispatch(notify.payload)
            except psycopg.Error:
                pass  # the connection was lost: make it again
            finally:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()

    def _dispatch(self, text: str) -> None:
        try:
            topic = json.loads(text)
        except ValueError:
            return
        if not isinstance(topic, list) or not topic:
            return
        if len(topic) == 1:
            for (kind, _, _), watchers in self._watchers.items():
                if kind == topic[0]:
                    _set(watchers)
            return
        if len(topic) == 3:
            found = self._watchers.get((str(topic[0]), str(topic[1]), str(topic[2])))
            if found is not None:
                _set(found)

    def _wake_all(self) -> None:
        for watchers in self._watchers.values():
            _set(watchers)

    async def close(self) -> None:
        """Stop listening and close the connection; watchers are woken to find out."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error, StorageError):
                await task
        self._wake_all()


def _set(watchers: set[asyncio.Event]) -> None:
    for woken in watchers:
        woken.set()
