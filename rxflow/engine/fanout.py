"""``fan_out``: the one bounded fan-out operator, n workers each pulling the next input as they
finish one (foreach items, entries as operators, ``rxflow.operators``)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import attrs
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from ..errors import RxflowError

__all__ = ["FanOut", "Job", "Operator", "Settle", "Worker", "each_of", "fan_out", "running_loop"]

_T = TypeVar("_T")
_R = TypeVar("_R")

Operator = Callable[[reactivex.Observable[_T]], reactivex.Observable[_R]]


@attrs.define(slots=True, eq=False)
class Worker(Generic[_R]):
    """One worker of a fan-out, handed to every job it runs.

    ``emit`` sends an output downstream (dropped once the fan-out has stopped); ``drain()`` lets
    no further queued input start (jobs in flight finish). A job that starts something a task
    cancellation does not stop (a run's own driver, a step's abort signal) sets ``on_cancel``:
    disposal calls it just before canceling the worker's task.
    """

    emit: Callable[[_R], None]
    drain: Callable[[], None]
    task: asyncio.Task[None] | None = None
    on_cancel: Callable[[], None] | None = None


Job = Callable[[_T, Worker[_R]], Awaitable[Any]]
"""``job(value, worker)``: process one input, emitting its outputs with ``worker.emit`` (or
returning the outcome that ``settle`` makes its one output of)."""

Settle = Callable[[Worker[_R], _T, Any], _R]
"""``settle(worker, value, outcome)``: the one output of a job that returned ``outcome``."""


def running_loop(what: str, *, used: str = "subscribed") -> asyncio.AbstractEventLoop:
    """The running asyncio loop, or a ``RuntimeError`` saying that ``what`` needs one (it
    runs on the loop running when it is ``used``: subscribed, or called)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        act = "subscribe" if used == "subscribed" else "call it"
        raise RuntimeError(
            f"{what} runs on the asyncio event loop running when it is {used}, and none is "
            f"running: {act} from async code (inside a coroutine or a notebook cell)"
        ) from None


def _raise(error: Exception) -> None:
    raise error  # an error nobody subscribed to handle, as reactivex's default observer does


class FanOut(abc.ObserverBase[_T], Generic[_T, _R]):
    """One subscription of :func:`fan_out`: the source's observer, the queue and the workers.

    It calls its subscriber's handlers itself and keeps the Rx grammar (nothing after the end).
    Everything runs on the loop thread: notifications from the source (and a disposal) that
    arrive from another thread are moved onto the loop first.
    """

    def __init__(
        self,
        handlers: tuple[abc.OnNext[_R], abc.OnError, abc.OnCompleted],
        job: Job[_T, _R],
        settle: Settle[_R, _T] | None,
        limit: int,
        label: str,
    ) -> None:
        self.send, self.send_error, self.send_completed = handlers
        self.job = job
        self.settle = settle
        self.limit = limit
        self.label = label
        self.loop = running_loop(label)
        self.loop_thread = threading.get_ident()
        self.queue: deque[_T] = deque()
        self.workers: set[Worker[_R]] = set()
        self.upstream = SingleAssignmentDisposable()
        self.source_done = False
        self.draining = False  # no further queued input starts
        self.stopped = False  # disposed, failed or completed: nothing more goes downstream

    # -- from the source (any thread) ------------------------------------------------------------

    def on_next(self, value: _T) -> None:
        if threading.get_ident() != self.loop_thread:
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.on_next, value)
        elif self.stopped or self.draining:
            return
        elif len(self.workers) < self.limit:
            self._start_worker(value)
        else:
            self.queue.append(value)

    def extend(self, values: Iterable[_T]) -> None:
        """``on_next`` for each of ``values``, in one call on the loop thread (see ``each_of``)."""
        if self.stopped or self.draining:
            return
        remaining = iter(values)
        for value in remaining:
            if len(self.workers) < self.limit:
                self._start_worker(value)  # the worker runs later: nothing changes meanwhile
            else:
                self.queue.append(value)
                self.queue.extend(remaining)
                return

    def on_error(self, error: Exception) -> None:
        self._on_loop(lambda: self.fail(error))

    def on_completed(self) -> None:
        self._on_loop(self._source_completed)

    def dispose(self) -> None:
        self._on_loop(self.stop)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self.loop_thread:
            fn()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn)

    # -- on the loop -------------------------------------------------------------------------------

    def _start_worker(self, value: _T) -> None:
        worker: Worker[_R] = Worker(self.emit, self.drain)
        self.workers.add(worker)
        worker.task = self.loop.create_task(self._work(worker, value))

    async def _work(self, worker: Worker[_R], value: _T) -> None:
        """Run ``value``, then the queued inputs one after another until none is left."""
        queue = self.queue
        job = self.job
        settle = self.settle
        try:
            while True:
                outcome = await job(value, worker)
                if settle is not None and not self.stopped:
                    self.send(settle(worker, value, outcome))
                worker.on_cancel = None
                if not queue or self.stopped:
                    break
                value = queue.popleft()
        except asyncio.CancelledError:  # ours when stopped; anyone else's is an error
            self.fail(RxflowError(f"{self.label}: a job was canceled from outside"))
        except Exception as error:
            self.fail(error)
        finally:
            self.workers.discard(worker)
            self._complete_when_idle()

    def emit(self, value: _R) -> None:
        """Send one output downstream, unless the fan-out has stopped."""
        if self.stopped:
            return
        try:
            self.send(value)
        except Exception as error:  # a downstream bug ends the stream, not the job
            self.fail(error)

    def drain(self) -> None:
        """Start no further queued input; the jobs in flight finish."""
        self.draining = True
        self.queue.clear()

    def _source_completed(self) -> None:
        self.source_done = True
        self._complete_when_idle()

    def _complete_when_idle(self) -> None:
        if self.source_done and not self.workers and not self.stopped:
            self.stopped = True
            self.send_completed()

    def fail(self, error: Exception) -> None:
        """End the output with ``error`` (once), canceling the jobs in flight."""
        if self.stopped:
            return
        self.stop()
        self.send_error(error)

    def stop(self) -> None:
        """Stop: drop the queue, leave the source, cancel every job in flight."""
        self.stopped = True
        self.queue.clear()
        self.upstream.dispose()
        for worker in list(self.workers):
            if worker.on_cancel is not None:
                worker.on_cancel()
            if worker.task is not None:
                worker.task.cancel()


class _FanOutObservable(reactivex.Observable[_R], Generic[_T, _R]):
    """See ``fan_out``."""

    def __init__(
        self,
        source: reactivex.Observable[_T],
        job: Job[_T, _R],
        settle: Settle[_R, _T] | None,
        limit: int,
        label: str,
    ) -> None:
        super().__init__()
        self._source = source
        self._job = job
        self._settle = settle
        self._limit = limit
        self._label = label

    def _subscribe_core(
        self, observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self._start((observer.on_next, observer.on_error, observer.on_completed), scheduler)

    def subscribe(
        self,
        on_next: abc.ObserverBase[_R] | abc.OnNext[_R] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        # The fan-out keeps the Rx grammar itself and emits only from its workers (or ends
        # during subscribe), so it needs neither the observer wrapping nor the trampoline of
        # Observable.subscribe: its subscriber's handlers are called directly.
        if isinstance(on_next, abc.ObserverBase):
            return self._subscribe_core(on_next, scheduler)
        handlers = (on_next or _ignore, on_error or _raise, on_completed or _nothing)
        return self._start(handlers, scheduler)

    def _start(
        self,
        handlers: tuple[abc.OnNext[_R], abc.OnError, abc.OnCompleted],
        scheduler: abc.SchedulerBase | None,
    ) -> abc.DisposableBase:
        fan = FanOut(handlers, self._job, self._settle, self._limit, self._label)
        fan.upstream.disposable = self._source.subscribe(fan, scheduler=scheduler)
        return Disposable(fan.dispose)


def _ignore(value: Any) -> None:
    pass


def _nothing() -> None:
    pass


def fan_out(
    job: Job[_T, _R],
    concurrency: int | None,
    label: str,
    settle: Settle[_R, _T] | None = None,
) -> Operator[_T, _R]:
    """Operator: ``job(value, worker)`` for each input, at most ``concurrency`` at once (``None``:
    no bound), queued inputs starting in arrival order as jobs finish (a sliding window, never
    batches; a worker task runs job after job while inputs are queued, so there is no task per
    input).

    Outputs go out in the order jobs emit them. The output completes once the source has
    completed and every job has finished. A job's exception (or the source's error) goes to
    ``on_error`` and cancels the jobs in flight, as disposing does; nothing is emitted after
    that, and what canceled jobs raise while unwinding is dropped.

    A job emits its outputs itself (``worker.emit``), or returns an outcome that ``settle``
    makes the job's one output of (a plain call: no coroutine of its own per input). It runs on
    the asyncio loop running when it is subscribed (subscribing without one raises
    ``RuntimeError``); ``label`` names it in errors.
    """
    limit = sys.maxsize if concurrency is None else concurrency

    def operator(source: reactivex.Observable[_T]) -> reactivex.Observable[_R]:
        return _FanOutObservable(source, job, settle, limit, label)

    return operator


class _Each(reactivex.Observable[_T]):
    """See ``each_of``."""

    def __init__(self, values: Iterable[_T]) -> None:
        super().__init__()
        self._values = values

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        for value in self._values:
            observer.on_next(value)
        observer.on_completed()
        return Disposable()

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        # Subscribed by a fan-out (on the loop, as it always is), the values go into its queue
        # in one call: queue fusion, as Rx libraries fuse a known source into its consumer.
        # Any other observer object gets them straight, without Observable.subscribe's
        # per-value wrapping and trampoline.
        if isinstance(on_next, FanOut):
            on_next.extend(self._values)
            on_next.on_completed()
            return Disposable()
        if isinstance(on_next, abc.ObserverBase):
            return self._subscribe_core(on_next, scheduler)
        return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)


def each_of(values: Iterable[_T]) -> reactivex.Observable[_T]:
    """A source emitting ``values`` then completing, synchronously on subscribe:
    ``reactivex.from_iterable`` without its scheduling."""
    return _Each(values)
