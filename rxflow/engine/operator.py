"""``EntryOperator``: a workflow entry as a reactivex operator with a fast path.

Every entry kind (step, parallel, branch, loop, foreach, sleep, and the whole sequence) is an
``EntryOperator``: called on an ``Observable[ExecutionState]`` it is an ordinary operator; its
``run`` coroutine is the fast path that a run's single driver coroutine awaits directly, so a
step costs neither a task nor a scheduler hop of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.observer import Observer

from .state import ExecutionState, ResumeTarget

__all__ = [
    "EntryOperator",
    "Resumer",
    "Runner",
    "coroutine_observable",
    "coroutine_operator",
    "emit_once",
]

_T = TypeVar("_T")
Runner = Callable[[ExecutionState], Coroutine[Any, Any, None]]
# Continue an entry from its stored results: with a target, resume its suspended step(s);
# with None (a restart after a crash), re-run only what has no stored result.
Resumer = Callable[[ExecutionState, ResumeTarget | None], Awaitable[None]]


def emit_once(value: Any) -> reactivex.Observable[Any]:
    """A one-value source that emits on subscribe: ``reactivex.just`` without its trampoline
    scheduling, which costs more than the rest of a short run's subscription."""

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        observer.on_next(value)
        observer.on_completed()
        return Disposable()

    return reactivex.create(subscribe)


class _CoroutineObservable(reactivex.Observable[_T]):
    """See ``coroutine_observable``."""

    def __init__(self, run: Callable[..., Coroutine[Any, Any, _T]], args: tuple[Any, ...]) -> None:
        super().__init__()
        self._run = run
        self._args = args

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        task = asyncio.get_running_loop().create_task(self._deliver(observer))
        return Disposable(task.cancel)  # type: ignore[arg-type]  # its bool result is unused

    async def _deliver(self, observer: abc.ObserverBase[_T]) -> None:
        # The task itself reports to the observer: no done callback (nor the context copy
        # and closure one costs per run). Disposing before the task starts cancels it
        # unreported, as a disposed subscription should be.
        try:
            value = await self._run(*self._args)
        except (Exception, asyncio.CancelledError) as error:
            # reactivex types on_error's argument as Exception; a cancellation is not one.
            observer.on_error(error)  # type: ignore[arg-type]
            return
        observer.on_next(value)
        observer.on_completed()

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | Callable[[_T], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_completed: Callable[[], None] | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        # Nothing is ever emitted during subscribe (the coroutine runs later, on the loop), so
        # the trampoline scheduling that Observable.subscribe sets up for synchronous sources
        # is not needed here; it costs more than the rest of a short run's setup. The source
        # itself keeps the Rx grammar (one value then completion, or one error), so a plain
        # Observer (which ignores anything after the end) is all the wrapping it needs.
        if isinstance(on_next, abc.ObserverBase):
            observer: Observer[_T] = Observer(
                on_next.on_next, on_next.on_error, on_next.on_completed
            )
        else:
            observer = Observer(on_next, on_error, on_completed)
        return self._subscribe_core(observer, scheduler)


def coroutine_observable(
    run: Callable[..., Coroutine[Any, Any, _T]], *args: Any
) -> reactivex.Observable[_T]:
    """A cold Observable: each subscription runs ``await run(*args)`` in a task on the running
    loop and emits its value, then completes; an exception goes to ``on_error``; disposing
    cancels the task. A run is one subscription to this (one task: the run's driver)."""
    return _CoroutineObservable(run, args)


def coroutine_operator(
    run: Runner,
) -> Callable[[reactivex.Observable[ExecutionState]], reactivex.Observable[ExecutionState]]:
    """Operator running ``await run(state)`` for each state, emitting the state when done.

    Like ``flat_map(from_future(task))`` but one small observable: results come in completion
    order, the output completes once the source has and every run has finished, an exception
    goes to ``on_error``, and disposing cancels the runs still in flight.
    """

    def operator(
        source: reactivex.Observable[ExecutionState],
    ) -> reactivex.Observable[ExecutionState]:
        def subscribe(
            observer: abc.ObserverBase[ExecutionState],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            loop = asyncio.get_running_loop()
            tasks: set[asyncio.Task[None]] = set()
            state = {"source_done": False, "stopped": False}

            def finished(task: asyncio.Task[None], item: ExecutionState) -> None:
                tasks.discard(task)
                if state["stopped"]:
                    return
                # reactivex types on_error's argument as Exception; a task's is a BaseException.
                if task.cancelled():
                    state["stopped"] = True
                    observer.on_error(asyncio.CancelledError())  # type: ignore[arg-type]
                    return
                error = task.exception()
                if error is not None:
                    state["stopped"] = True
                    observer.on_error(error)  # type: ignore[arg-type]
                    return
                observer.on_next(item)
                if state["source_done"] and not tasks:
                    state["stopped"] = True
                    observer.on_completed()

            def on_next(item: ExecutionState) -> None:
                task = loop.create_task(run(item))
                tasks.add(task)
                task.add_done_callback(lambda t: finished(t, item))

            def on_completed() -> None:
                state["source_done"] = True
                if not tasks and not state["stopped"]:
                    state["stopped"] = True
                    observer.on_completed()

            def on_error(error: Exception) -> None:
                state["stopped"] = True
                observer.on_error(error)

            subscription = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

            def dispose() -> None:
                state["stopped"] = True
                subscription.dispose()
                for task in list(tasks):
                    task.cancel()

            return Disposable(dispose)

        return reactivex.create(subscribe)

    return operator


class EntryOperator:
    """One compiled workflow entry: an Rx operator (``__call__``) and its fast path (``run``).

    ``kind`` names the entry kind (``step``, ``parallel``, ``foreach``...), ``label`` the entry
    for error messages and tracing; ``resume`` continues the entry from stored results.
    """

    __slots__ = ("kind", "label", "resume", "run")

    def __init__(self, kind: str, label: str, run: Runner, resume: Resumer | None = None) -> None:
        self.kind = kind
        self.label = label
        self.run = run
        self.resume: Resumer = resume or (lambda ex, target: run(ex))

    def __call__(
        self, source: reactivex.Observable[ExecutionState]
    ) -> reactivex.Observable[ExecutionState]:
        return coroutine_operator(self.run)(source)

    def __repr__(self) -> str:
        return f"<EntryOperator {self.kind} {self.label!r}>"

