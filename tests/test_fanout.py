"""The engine's one bounded fan-out: worker-pull concurrency, completion, errors and disposal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from reactivex.subject import Subject

from rxflow import RxflowError
from rxflow.engine.fanout import Worker, each_of, fan_out


class Sink:
    """Subscribes to an Observable and records everything it is told."""

    def __init__(self, observable: reactivex.Observable[Any]) -> None:
        self.items: list[Any] = []
        self.errors: list[Exception] = []
        self.completed = 0
        self.ended = asyncio.Event()
        self.subscription = observable.subscribe(self.items.append, self._error, self._complete)

    def _error(self, error: Exception) -> None:
        self.errors.append(error)
        self.ended.set()

    def _complete(self) -> None:
        self.completed += 1
        self.ended.set()

    async def end(self) -> None:
        await asyncio.wait_for(self.ended.wait(), 5)


async def turns(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_n_workers_pull_inputs_in_arrival_order_a_freed_slot_takes_the_next() -> None:
    gates = {i: asyncio.Event() for i in range(6)}
    started: list[int] = []
    tasks: set[asyncio.Task[Any]] = set()

    async def job(value: int, worker: Worker[int]) -> None:
        started.append(value)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        await gates[value].wait()
        worker.emit(value * 10)

    sink = Sink(each_of(range(6)).pipe(fan_out(job, 2, "test")))
    await turns()
    assert started == [0, 1]
    gates[1].set()
    await turns()
    assert started == [0, 1, 2] and sink.items == [10]
    for i in (2, 0, 3, 4, 5):
        gates[i].set()
        await turns()
    await sink.end()
    assert started == [0, 1, 2, 3, 4, 5]
    assert sink.items == [10, 20, 0, 30, 40, 50]
    assert (sink.completed, sink.errors) == (1, [])
    assert len(tasks) == 2  # two workers ran the six inputs: no task per input


async def test_completes_only_once_the_jobs_in_flight_have_finished() -> None:
    release = asyncio.Event()

    async def job(value: int, worker: Worker[int]) -> None:
        await release.wait()
        worker.emit(value)

    source: Subject[int] = Subject()
    sink = Sink(source.pipe(fan_out(job, None, "test")))
    source.on_next(1)
    source.on_next(2)
    source.on_completed()
    await turns()
    assert (sink.items, sink.completed) == ([], 0)
    release.set()
    await sink.end()
    assert (sorted(sink.items), sink.completed) == ([1, 2], 1)


async def test_settle_makes_each_outcome_the_one_output_and_drain_stops_the_queue() -> None:
    async def job(value: int, worker: Worker[str]) -> int:
        await asyncio.sleep(0)
        return value

    def settle(worker: Worker[str], value: int, outcome: int) -> str:
        if outcome == 1:
            worker.drain()  # inputs still queued never start; the one in flight finishes
        return f"{value}:{outcome}"

    sink = Sink(each_of(range(10)).pipe(fan_out(job, 2, "test", settle)))
    await sink.end()
    # 0 and 1 start; 0 settles first and its worker pulls 2; 1 drains the queue; 2 finishes.
    assert (sink.items, sink.completed, sink.errors) == (["0:0", "1:1", "2:2"], 1, [])


async def test_a_failing_job_ends_the_output_and_cancels_the_others() -> None:
    canceled: list[int] = []

    async def job(value: int, worker: Worker[int]) -> None:
        if value == 1:
            await asyncio.sleep(0)
            raise KeyError("job 1")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            canceled.append(value)
            raise

    sink = Sink(each_of(range(5)).pipe(fan_out(job, 2, "test")))
    await sink.end()
    await turns()
    assert [str(e) for e in sink.errors] == ["'job 1'"]
    assert (canceled, sink.items, sink.completed) == ([0], [], 0)


async def test_disposing_cancels_jobs_in_flight_and_drops_what_they_do_after() -> None:
    seen: list[str] = []
    entered = asyncio.Event()

    async def job(value: int, worker: Worker[int]) -> None:
        worker.on_cancel = lambda: seen.append(f"on_cancel {value}")
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(f"canceled {value}")
            worker.emit(value)  # dropped: the subscription is gone
            raise RuntimeError("raised while unwinding") from None  # dropped too

    sink = Sink(each_of(range(3)).pipe(fan_out(job, 1, "test")))
    await entered.wait()
    sink.subscription.dispose()
    await turns()
    assert seen == ["on_cancel 0", "canceled 0"]  # queued inputs 1 and 2 never started
    assert (sink.items, sink.errors, sink.completed) == ([], [], 0)


async def test_a_source_error_ends_the_output_and_cancels_the_jobs() -> None:
    canceled = asyncio.Event()

    async def job(value: int, worker: Worker[int]) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            canceled.set()
            raise

    source: Subject[int] = Subject()
    sink = Sink(source.pipe(fan_out(job, 1, "test")))
    source.on_next(1)
    await turns()
    source.on_error(ValueError("upstream"))
    await asyncio.wait_for(canceled.wait(), 5)
    assert [str(e) for e in sink.errors] == ["upstream"]


async def test_an_exception_in_the_subscriber_goes_to_on_error() -> None:
    async def job(value: int, worker: Worker[int]) -> None:
        worker.emit(value)

    errors: list[Exception] = []
    ended = asyncio.Event()

    def on_next(value: int) -> None:
        raise RuntimeError("subscriber bug")

    def on_error(error: Exception) -> None:
        errors.append(error)
        ended.set()

    each_of([1, 2]).pipe(fan_out(job, 1, "test")).subscribe(on_next, on_error)
    await asyncio.wait_for(ended.wait(), 5)
    assert [str(e) for e in errors] == ["subscriber bug"]


async def test_a_job_canceled_from_outside_is_an_error_naming_the_fan_out() -> None:
    entered = asyncio.Event()
    worker_task: list[asyncio.Task[Any]] = []

    async def job(value: int, worker: Worker[int]) -> None:
        task = asyncio.current_task()
        assert task is not None
        worker_task.append(task)
        entered.set()
        await asyncio.Event().wait()

    sink = Sink(each_of([1]).pipe(fan_out(job, 1, "my fan-out")))
    await entered.wait()
    worker_task[0].cancel()
    await sink.end()
    assert len(sink.errors) == 1 and isinstance(sink.errors[0], RxflowError)
    assert str(sink.errors[0]) == "my fan-out: a job was canceled from outside"


async def test_each_of_emits_its_values_then_completes_to_any_subscriber() -> None:
    items: list[int] = []
    done: list[bool] = []
    each_of([3, 1, 2]).subscribe(items.append, on_completed=lambda: done.append(True))
    assert (items, done) == ([3, 1, 2], [True])


def test_subscribing_without_a_running_loop_raises() -> None:
    async def job(value: int, worker: Worker[int]) -> None:
        worker.emit(value)

    with pytest.raises(RuntimeError, match="runs on the asyncio event loop"):
        each_of([1]).pipe(fan_out(job, 1, "test")).subscribe()
