"""A workflow entry's two forms (the fast path the driver awaits, an equivalent Rx operator),
the one gate both pass before the entry, and the run's coroutine observable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import attrs
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.observer import Observer

from .fanout import Operator, Worker, fan_out
from .state import ExecutionState, ResumeTarget

__all__ = [
    "EntryOperator",
    "Resumer",
    "Runner",
    "coroutine_observable",
    "coroutine_operator",
    "enter_entry",
    "leave_last_entry",
]

_T = TypeVar("_T")
Runner = Callable[[ExecutionState], Coroutine[Any, Any, None]]
# Continue an entry from its stored results: with a target, resume its suspended step(s);
# with None (a restart after a crash), re-run only what has no stored result.
Resumer = Callable[[ExecutionState, ResumeTarget | None], Awaitable[None]]


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


def coroutine_operator(run: Runner, label: str) -> Operator[ExecutionState, ExecutionState]:
    """Operator awaiting ``run(state)`` for each state and emitting the state when done.

    The engine's fan-out with no bound: every state runs at once, states come out in completion
    order, the output completes once the source has and every run has finished, an exception
    goes to ``on_error``, and disposing cancels the runs in flight. ``label`` names it in errors.
    """

    def the_state(worker: Worker[ExecutionState], ex: ExecutionState, _: None) -> ExecutionState:
        return ex

    return fan_out(lambda ex, worker: run(ex), None, label, the_state)


def enter_entry(ex: ExecutionState, index: int) -> bool:
    """The gate before entry ``index`` of a program: whether it runs on ``ex`` now.

    The program's driver and every entry's operator form pass through this one gate. A state
    that is not ``running`` is left untouched; a canceled run's state becomes ``canceled``; a
    run whose last snapshot could not be stored fails with that storage error. Otherwise the
    state notes the entry's index (the snapshot's active path), a snapshot is marked due, and
    the entry runs.
    """
    if ex.status != "running":
        return False
    scope = ex.scope
    if scope.aborted:
        ex.status = "canceled"
        return False
    ex.entry_index = index
    persister = scope.persister
    if persister is not None and not ex.prefix:  # only the run's own execution is stored
        if persister.error is not None:
            ex.fail(persister.error)
            return False
        if persister.durable:
            persister.mark()
    return True


def leave_last_entry(ex: ExecutionState) -> None:
    """After a program's last entry: a state still running ends ``success`` (``canceled`` when
    the run was canceled meanwhile)."""
    if ex.status == "running":
        ex.status = "canceled" if ex.scope.aborted else "success"


def _rerun(operator: EntryOperator) -> Resumer:
    run = operator.run
    return lambda ex, target: run(ex)


@attrs.define(slots=True, eq=False)
class EntryOperator:
    """One compiled workflow entry: its fast path (``run``) and the same entry as an operator.

    ``kind`` names the entry kind (``step``, ``parallel``, ``foreach``...), ``label`` the entry
    for error messages and tracing; ``resume`` continues the entry from stored results (by
    default it runs the entry again). ``index`` and ``last`` place the entry in its program.

    Called on an ``Observable[ExecutionState]``, it is an operator meaning exactly what the
    program's driver does at this entry: the same gate (``enter_entry``), then ``run``, and
    after the last entry the same end (``leave_last_entry``). A state that is not running passes
    through untouched, so ``source.pipe(*program.entries)`` runs the program as ``drive`` does.
    """

    kind: str
    label: str
    run: Runner
    resume: Resumer = attrs.field(default=attrs.Factory(_rerun, takes_self=True))
    index: int = 0
    last: bool = True

    async def run_gated(self, ex: ExecutionState) -> None:
        """The entry as the driver runs it: through the gate, then (if last) to the end."""
        if enter_entry(ex, self.index):
            await self.run(ex)
            if self.last:
                leave_last_entry(ex)

    def __call__(
        self, source: reactivex.Observable[ExecutionState]
    ) -> reactivex.Observable[ExecutionState]:
        return coroutine_operator(self.run_gated, repr(self))(source)

    def __repr__(self) -> str:
        return f"<EntryOperator {self.kind} {self.label!r}>"
