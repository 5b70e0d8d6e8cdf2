"""Replay for run outputs: one value that arrives later (``ReplayValue``), and the events of a
stream segment kept for readers who come late (``EventLog``, its readers and subscribers)."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Generator
from typing import Any, Generic, TypeVar

import attrs
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.subject import ReplaySubject

from .events import Event, EventRecord, build_event

__all__ = [
    "EventLog",
    "FullStream",
    "IsolatedObserver",
    "LogReader",
    "ReplayValue",
    "subscriber_failed",
]

_log = logging.getLogger("rxflow")


def subscriber_failed(observer: abc.ObserverBase[Any], error: Exception) -> None:
    """An Rx subscriber raised from ``on_next``: log it, then hand the error to that
    subscriber's ``on_error`` (it gets nothing more). The run and other subscribers go on."""
    _log.error("an Rx subscriber of a run's output raised; the run goes on", exc_info=error)
    try:
        observer.on_error(error)
    except Exception:  # no on_error of its own (Rx re-raises), or one that raises too
        _log.debug("the failing subscriber's on_error raised", exc_info=True)


class IsolatedObserver(abc.ObserverBase[Any]):
    """An observer whose ``on_next`` errors go to its own ``on_error``, not to the sender."""

    __slots__ = ("_observer", "_stopped")

    def __init__(self, observer: abc.ObserverBase[Any]) -> None:
        self._observer = observer
        self._stopped = False

    def on_next(self, value: Any) -> None:
        if self._stopped:
            return
        try:
            self._observer.on_next(value)
        except Exception as error:
            self._stopped = True
            subscriber_failed(self._observer, error)

    def on_error(self, error: Exception) -> None:
        if not self._stopped:
            self._stopped = True
            self._observer.on_error(error)

    def on_completed(self) -> None:
        if not self._stopped:
            self._stopped = True
            try:
                self._observer.on_completed()
            except Exception:
                _log.exception("an Rx subscriber's on_completed raised; the run goes on")


_T = TypeVar("_T")


class ReplayValue(reactivex.Observable[_T], Generic[_T]):
    """One value (or error) that arrives later: ``await`` it, or subscribe to it.

    Awaiting costs no subscription (a run's ``result`` and ``usage`` are awaited on every
    run); an Rx subscriber gets a ReplaySubject that replays the value and completes, even
    when it subscribes long after the value arrived.
    """

    # Observable.__init__ costs about 2 us (an RLock and an initialiser chain through a dozen
    # mixins) and one of these is made per run, so it is not called: the instance gets the one
    # attribute Rx operators read from a source (``lock``, shared by all) and implements the
    # ``_subscribe_core`` hook. Both hold for reactivex 4 to 6; setup.cfg pins that range.
    _shared_lock = threading.RLock()

    def __init__(self) -> None:
        self.lock = self._shared_lock
        self._subscribe = None
        self._settled = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._waiters: list[asyncio.Future[_T]] | None = None
        self._subject: ReplaySubject[Any] | None = None

    def _subscribe_core(
        self, observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if self._subject is None:
            self._subject = ReplaySubject(1)
            if self._settled:
                self._feed(self._subject)
        return self._subject.subscribe(IsolatedObserver(observer), scheduler=scheduler)

    def _feed(self, subject: ReplaySubject[Any]) -> None:
        if self._error is not None:
            subject.on_error(self._error)  # type: ignore[arg-type]
        else:
            subject.on_next(self._value)
            subject.on_completed()

    def settle(self, value: Any = None, error: BaseException | None = None) -> None:
        """Package-internal (the output calls it): the value, or the error, has arrived.

        Awaiters and subscribers get it; later calls change nothing.
        """
        if self._settled:
            return
        self._settled, self._value, self._error = True, value, error
        waiters, self._waiters = self._waiters or (), None
        for waiter in waiters:
            if not waiter.done():
                if error is not None:
                    waiter.set_exception(error)
                else:
                    waiter.set_result(value)
        if self._subject is not None:
            self._feed(self._subject)

    def __await__(self) -> Generator[Any, None, _T]:
        if not self._settled:
            waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            return (yield from waiter)
        if self._error is not None:
            raise self._error
        value: _T = self._value
        return value


@attrs.define(slots=True, eq=False)
class EventLog:
    """The events of one stream segment as kept for replay, and who waits for more.

    ``events`` holds events, and compact step records not read yet (built into their event
    once, on first read: ``rxflow.events.build_event``). With a ``limit``, old events are
    trimmed (``trimmed`` counts them), but never ones a live reader has yet to read.
    """

    limit: int | None
    events: list[Event | EventRecord] = attrs.Factory(list)
    trimmed: int = 0
    closed: bool = False
    # Resolved when the next event arrives (made only while an async reader waits).
    wake: asyncio.Future[None] | None = None
    # Rx subscribers of the replaying Observable (made on first subscribe).
    observers: list[abc.ObserverBase[Event]] | None = None
    # Live async readers, kept only when there is a limit (made with the first): history they
    # have not read yet is never trimmed. Weak, so a reader dropped half-way pins nothing.
    readers: weakref.WeakSet[LogReader] | None = None

    def event_at(self, index: int) -> Event:
        """The kept event at ``index``; a compact step record there is built (once)."""
        event = self.events[index]
        if isinstance(event, tuple):
            built = self.events[index] = build_event(event)
            return built
        return event

    def reader(self) -> LogReader:
        """A new async reader, starting at the oldest kept event."""
        reader = LogReader(self, self.first_kept())
        if self.limit is not None:
            if self.readers is None:
                self.readers = weakref.WeakSet()
            self.readers.add(reader)
        return reader

    def first_kept(self) -> int:
        """The position (counted from the segment's first event) a late reader starts at."""
        if self.limit is None:
            return self.trimmed
        return max(self.trimmed, self.trimmed + len(self.events) - self.limit)

    def push(self, event: Event | EventRecord) -> None:
        """Keep ``event``, wake the reader that waits, and hand it to Rx subscribers."""
        events = self.events
        events.append(event)
        limit = self.limit
        if limit is not None and len(events) > 2 * limit:
            self.trim(limit)
        self.wake_readers()
        if self.observers:
            built = self.event_at(len(events) - 1)  # the same object for every reader
            for observer in list(self.observers):
                try:
                    observer.on_next(built)
                except Exception as error:  # that subscriber's bug: it alone stops
                    self.observers.remove(observer)
                    subscriber_failed(observer, error)

    def trim(self, limit: int) -> None:
        """Drop old events beyond ``limit``, but none that a live reader has yet to read.

        Trimming happens once the log holds twice the limit, so appends stay O(1) amortized;
        late readers start at ``first_kept()``, which honours the limit exactly.
        """
        drop = len(self.events) - limit
        for reader in self.readers or ():
            drop = min(drop, reader.position - self.trimmed)
        if drop > 0:
            del self.events[:drop]
            self.trimmed += drop

    def wake_readers(self) -> None:
        wake = self.wake
        if wake is not None:
            self.wake = None
            if not wake.done():
                wake.set_result(None)

    def next_event(self) -> asyncio.Future[None]:
        """A future resolved when the next event arrives (or the log closes)."""
        wake = self.wake
        if wake is None or wake.done():  # done: cancelled with a reader that was waiting
            wake = self.wake = asyncio.get_running_loop().create_future()
        return wake

    def close(self, last: Event) -> None:
        """Keep the last event, then end every reader and subscriber."""
        self.push(last)
        self.closed = True
        self.wake_readers()
        observers, self.observers = self.observers or [], None
        for observer in observers:
            try:
                observer.on_completed()
            except Exception:
                _log.exception("an Rx subscriber's on_completed raised; the run goes on")

    def subscribe(
        self, observer: abc.ObserverBase[Event], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        """The replaying Observable's subscribe: kept events, then live ones, then completion.

        Disposing the subscription only stops the events going to ``observer``.
        """
        try:
            for index in range(self.first_kept() - self.trimmed, len(self.events)):
                observer.on_next(self.event_at(index))
        except Exception as error:
            subscriber_failed(observer, error)
            return Disposable()
        if self.closed:
            try:
                observer.on_completed()
            except Exception:
                _log.exception("an Rx subscriber's on_completed raised; the run goes on")
            return Disposable()
        if self.observers is None:
            self.observers = []
        self.observers.append(observer)

        def dispose() -> None:
            if self.observers is not None and observer in self.observers:
                self.observers.remove(observer)

        return Disposable(dispose)


@attrs.define(slots=True, eq=False, weakref_slot=True)
class LogReader:
    """One async reader of a log (``EventLog.reader()``): replays from the oldest kept event,
    then follows live ones."""

    log: EventLog
    position: int  # counted from the segment's first event, trimmed ones included

    def __aiter__(self) -> LogReader:
        return self

    async def __anext__(self) -> Event:
        log = self.log
        while True:
            index = self.position - log.trimmed
            if index < 0:  # trimmed by the limit while we lagged: skip to the oldest kept
                self.position = log.trimmed
                index = 0
            if index < len(log.events):
                self.position += 1
                return log.event_at(index)
            if log.closed:
                if log.readers is not None:
                    log.readers.discard(self)
                raise StopAsyncIteration
            try:
                await log.next_event()
            except asyncio.CancelledError:
                # The wake future is shared: another reader's cancellation cancels it for
                # every reader. Only a cancellation of this reader's own task ends it.
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise


@attrs.frozen(slots=True)
class FullStream:
    """``output.full_stream``: each iteration is a fresh replay of the whole segment."""

    log: EventLog

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.log.reader()
