"""``EntryOperator``: a workflow entry as a reactivex operator with a fast path.

Every entry kind (step, parallel, branch, loop, foreach, sleep, and the whole sequence) is an
``EntryOperator``: called on an ``Observable[ExecutionState]`` it is an ordinary operator; its
``run`` coroutine is the fast path that a run's single driver coroutine awaits directly, so a
step costs neither a task nor a scheduler hop of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from .state import ExecutionState

__all__ = ["EntryOperator", "Runner", "coroutine_operator"]

Runner = Callable[[ExecutionState], Awaitable[None]]


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
                if task.cancelled():
                    state["stopped"] = True
                    observer.on_error(asyncio.CancelledError())
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
    for error messages and tracing.
    """

    __slots__ = ("kind", "label", "run")

    def __init__(self, kind: str, label: str, run: Runner) -> None:
        self.kind = kind
        self.label = label
        self.run = run

    def __call__(
        self, source: reactivex.Observable[ExecutionState]
    ) -> reactivex.Observable[ExecutionState]:
        return coroutine_operator(self.run)(source)

    def __repr__(self) -> str:
        return f"<EntryOperator {self.kind} {self.label!r}>"

