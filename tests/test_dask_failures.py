"""DaskExecutor failures on a real cluster: cancel, bodies or inputs that cannot be sent, a
worker that dies mid-task, a scheduler that cannot be reached."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import _dask_steps as steps
import pytest
from conftest import within

from rxflow import (
    ExecutorError,
    StepContext,
    StepNotSerializableError,
    create_step,
    create_workflow,
)
from rxflow.executors import DaskExecutor


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One cluster for the module: starting one takes seconds."""
    with steps.local_cluster() as local:
        yield local


@pytest.fixture
async def dask(cluster: Any) -> AsyncIterator[DaskExecutor]:
    executor = DaskExecutor(address=cluster.scheduler_address)
    yield executor
    await executor.close()


async def _files(folder: Path, prefix: str, count: int, limit: float = 10) -> list[Path]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = sorted(folder.glob(f"{prefix}-*"))
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    return sorted(folder.glob(f"{prefix}-*"))


async def test_cancel_drops_queued_items_and_sets_the_abort_signal_on_workers(
    dask: DaskExecutor, tmp_path: Path
) -> None:
    wf = (
        create_workflow(id="long", executor=dask)
        .foreach(create_step(id="wait", execute=steps.wait_for_abort), concurrency=4)
        .commit()
    )
    run = await wf.create_run()
    items = [(str(tmp_path), index) for index in range(12)]
    started = asyncio.ensure_future(run.start(input_data=items))
    assert len(await _files(tmp_path, "started", 2)) == 2  # both workers busy, 2 items queued
    await run.cancel()
    result = await within(started, 10)
    assert result.status == "canceled"
    aborted = await _files(tmp_path, "aborted", 2)
    assert len(aborted) == 2  # the running bodies saw ctx.abort_signal
    await asyncio.sleep(1.0)  # time for a queued item to start, were it not canceled
    assert len(list(tmp_path.glob("started-*"))) == 2


def _with_lock() -> Any:
    lock = threading.Lock()

    def guarded(ctx: StepContext) -> int:
        with lock:
            return 1

    return guarded


async def test_a_body_that_cannot_be_pickled_fails_at_submit_naming_the_object(
    dask: DaskExecutor,
) -> None:
    wf = (
        create_workflow(id="locked", executor=dask)
        .then(create_step(id="guarded", execute=_with_lock(), retries=3))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    error = result.error
    assert isinstance(error, StepNotSerializableError)
    assert (error.step_id, error.culprit) == ("guarded", "closure variable 'lock' (_thread.lock)")
    assert str(error).startswith(
        "step 'guarded': its body cannot be sent to the Dask workers: closure variable 'lock' "
        "(_thread.lock) cannot be pickled (TypeError: cannot pickle '_thread.lock' object)"
    )


async def test_values_that_cannot_be_pickled_fail_the_step_naming_them(
    dask: DaskExecutor,
) -> None:
    def make_lock(ctx: StepContext) -> Any:
        return threading.Lock()

    wf = (
        create_workflow(id="bad-input")
        .then(create_step(id="make", execute=make_lock))
        .then(create_step(id="double", execute=steps.double, executor=dask))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert result.status == "failed"
    assert isinstance(result.error, StepNotSerializableError)
    assert str(result.error).startswith(
        "step 'double': the values its context reads cannot be sent to the Dask workers: "
        "the output of step 'make' (_thread.lock) cannot be pickled"
    )

    state = create_workflow(id="bad-state", executor=dask).then(
        create_step(id="double", execute=steps.double)
    )
    run = await state.commit().create_run()
    result = await run.start(input_data=1, initial_state={"lock": threading.Lock()})
    assert isinstance(result.error, StepNotSerializableError)
    assert str(result.error).startswith(
        "step 'double': the values it runs on cannot be sent to the Dask workers: "
        "the run state (dict) cannot be pickled"
    )


async def test_an_unreachable_scheduler_is_an_executor_error_within_seconds() -> None:
    nowhere = DaskExecutor(address="tcp://127.0.0.1:9", connect_timeout=1)
    wf = create_workflow(id="nowhere", executor=nowhere).then(
        create_step(id="double", execute=steps.double)
    )
    began = time.monotonic()
    result = await within((await wf.commit().create_run()).start(input_data=1), 10)
    assert time.monotonic() - began < 5
    assert result.status == "failed"
    assert isinstance(result.error, ExecutorError)
    assert str(result.error).startswith(
        "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s"
    )


async def test_a_worker_killed_mid_task_runs_the_step_again(
    dask: DaskExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "died-once"
    wf = (
        create_workflow(id="killed", executor=dask)
        .then(create_step(id="die", execute=steps.die_once, retries=1))
        .commit()
    )
    result = await within((await wf.create_run()).start(input_data=str(marker)), 40)
    assert result.status == "success", result.error
    assert result.result.startswith("ran again in ")
    assert marker.read_text() != result.result.removeprefix("ran again in ")


def _scheduler_tasks(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


async def _tasks_left(client: Any, limit: float = 10) -> int:
    """The scheduler's task count, once it is 0 (or after ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    while True:
        count: int = await client.run_on_scheduler(_scheduler_tasks)
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


async def test_nothing_of_a_run_is_left_on_the_scheduler_after_it_ends(
    cluster: Any, tmp_path: Path
) -> None:
    import distributed

    async with distributed.Client(
        cluster.scheduler_address, asynchronous=True, set_as_default=False
    ) as client:
        await within(client.wait_for_workers(2), 30)  # a test before may have killed one
        dask = DaskExecutor(client=client)
        # a workflow input big enough to be scattered once, not sent with every task
        items = list(range(2000))
        done = await (
            await create_workflow(id="big", executor=dask)
            .foreach(create_step(id="double", execute=steps.double), concurrency=8)
            .commit()
            .create_run()
        ).start(input_data=items)
        assert done.status == "success"
        assert done.result == [item * 2 for item in items]
        long = (
            create_workflow(id="long", executor=dask)
            .foreach(create_step(id="wait", execute=steps.wait_for_abort), concurrency=4)
            .commit()
        )
        run = await long.create_run()
        started = asyncio.ensure_future(
            run.start(input_data=[(str(tmp_path), index) for index in range(12)])
        )
        assert len(await _files(tmp_path, "started", 2)) == 2
        await run.cancel()
        assert (await within(started, 10)).status == "canceled"
        assert await _tasks_left(client) == 0
        await dask.close()
