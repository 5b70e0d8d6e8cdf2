"""``def`` bodies of a run: ``foreach(def_step, concurrency=n)`` runs n bodies at once, even
past the width of asyncio's default thread pool, in a pool closed with the run."""

from __future__ import annotations

import threading

from rxflow import StepContext, create_step, create_workflow
from rxflow.engine.threads import DEFAULT_WIDTH

WIDE = 16


class InFlight:
    """Counts the bodies running at once; each waits at a barrier for ``parties`` of them."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=20)
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: set[str] = set()

    def body(self, ctx: StepContext) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.current_thread().name)
        try:
            self.barrier.wait()  # broken (the step fails) unless `parties` bodies run at once
        finally:
            with self.lock:
                self.now -= 1
        value: int = ctx.input_data
        return value


async def test_a_foreach_of_def_bodies_runs_concurrency_bodies_at_once() -> None:
    assert WIDE > DEFAULT_WIDTH  # wider than asyncio's default pool here
    flight = InFlight(WIDE)
    wf = (
        create_workflow(id="wide")
        .foreach(create_step(id="meet", execute=flight.body), concurrency=WIDE)
        .commit()
    )
    before = {thread.name for thread in threading.enumerate()}
    result = await (await wf.create_run()).start(input_data=list(range(2 * WIDE)))
    assert result.status == "success", result.error
    assert result.result == list(range(2 * WIDE))
    assert flight.most == WIDE  # n at once, never more
    assert len(flight.threads) == WIDE
    # the run's pool is closed with the run: its threads end once idle
    for thread in threading.enumerate():
        if thread.name in flight.threads and thread.name not in before:
            thread.join(timeout=10)
            assert not thread.is_alive()


async def test_a_narrow_foreach_keeps_asyncio_default_pool() -> None:
    flight = InFlight(2)
    wf = (
        create_workflow(id="narrow")
        .foreach(create_step(id="meet", execute=flight.body), concurrency=2)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=[1, 2, 3, 4])
    assert result.status == "success", result.error
    assert flight.most == 2
    assert not any(name.startswith("rxflow-step") for name in flight.threads)
