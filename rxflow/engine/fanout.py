"""``fan_out``: the one bounded fan-out operator, where n workers each pull the next input as
they finish one (a sliding window, never batches).

Used by foreach (items), by the entries' operator form (executions) and by the public
``rxflow.operators`` (runs and step bodies). Its rules: at most ``concurrency`` jobs in flight,
the rest queued in arrival order; outputs in the order jobs emit them; completion once the
source has completed and every job has finished; a job's exception (or the source's error) goes
to ``on_error`` and cancels the jobs in flight, as disposing does; nothing is emitted after that.
There is no task per input: a worker task runs job after job while the queue has inputs.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, TypeVar

import attrs
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from ..errors import RxflowError

__all__ = ["FanOut", "Job", "Operator", "Worker", "each_of", "fan_out", "running_loop"]

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


Job = Callable[[_T, Worker[_R]], Coroutine[Any, Any, None]]
"""``job(value, worker)``: process one input, emitting its outputs with ``worker.emit``."""


def running_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running asyncio loop, or a ``RuntimeError`` saying that ``what`` needs one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} runs on the asyncio event loop running when it is subscribed, and none is "
            "running: subscribe from async code (inside a coroutine or a notebook cell)"
        ) from None


class FanOut(abc.ObserverBase[_T], Generic[_T, _R]):
    """One subscription of :func:`fan_out`: the source's observer, the queue and the workers.

    Everything runs on the loop thread: notifications from the source (and a disposal) that
    arrive from another thread are moved onto the loop first.
    """

    def __init__(
        self, observer: abc.ObserverBase[_R], job: Job[_T, _R], limit: int, label: str
    ) -> None:
        self.observer = observer
        self.job = job
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
        if threading.get_ident() == self.loop_thread:
            self.accept(value)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.accept, value)

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

    def accept(self, value: _T) -> None:
        """Start ``value`` on a new worker while there is room for one more, else queue it."""
        if self.stopped or self.draining:
            return
        if len(self.workers) < self.limit:
            worker: Worker[_R] = Worker(self.emit, self.drain)
            self.workers.add(worker)
            worker.task = self.loop.create_task(self._work(worker, value))
        else:
            self.queue.append(value)

    async def _work(self, worker: Worker[_R], value: _T) -> None:
        """Run ``value``, then the queued inputs one after another until none is left."""
        queue = self.queue
        job = self.job
        try:
            while True:
                await job(value, worker)
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
            self.observer.on_next(value)
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
            self.observer.on_completed()

    def fail(self, error: Exception) -> None:
        """End the output with ``error`` (once), canceling the jobs in flight."""
        if self.stopped:
            return
        self.stop()
        self.observer.on_error(error)

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


class _LoopObservable(reactivex.Observable[_T]):
    """An Observable that must be subscribed with a running asyncio loop.

    Subscribed directly without one, it raises ``RuntimeError`` at once (rather than sending it
    to ``on_error``); behind another operator, reactivex hands that error to ``on_error``.
    """

    def __init__(self, what: str, subscribe: abc.Subscription[_T]) -> None:
        super().__init__(subscribe)
        self._what = what

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | abc.OnNext[_T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        running_loop(self._what)
        return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)


def fan_out(job: Job[_T, _R], concurrency: int | None, label: str) -> Operator[_T, _R]:
    """Operator: ``job(value, worker)`` for each input, at most ``concurrency`` at once (``None``:
    no bound), queued inputs starting in arrival order as jobs finish.

    It runs on the asyncio loop running when it is subscribed; ``label`` names it in errors.
    """
    limit = sys.maxsize if concurrency is None else concurrency

    def operator(source: reactivex.Observable[_T]) -> reactivex.Observable[_R]:
        def subscribe(
            observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            fan = FanOut(observer, job, limit, label)
            fan.upstream.disposable = source.subscribe(fan, scheduler=scheduler)
            return Disposable(fan.dispose)

        return _LoopObservable(label, subscribe)

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
        # An observer object (as fan_out subscribes) gets the values straight, without the
        # per-value wrapping and trampoline of Observable.subscribe: for a fan-out of many
        # items they would cost more than queueing the items does.
        if isinstance(on_next, abc.ObserverBase):
            return self._subscribe_core(on_next, scheduler)
        return super().subscribe(on_next, on_error, on_completed, scheduler=scheduler)


def each_of(values: Iterable[_T]) -> reactivex.Observable[_T]:
    """A source emitting ``values`` then completing, synchronously on subscribe:
    ``reactivex.from_iterable`` without its scheduling."""
    return _Each(values)
