"""DaskExecutor on a real cluster of two worker processes: the same events and results as a
local run, bodies in worker processes, the step context on a worker, suspend and resume."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import _dask_steps as steps
import pytest
from conftest import collect, types, within

from rxflow import (
    LocalExecutor,
    SQLiteStorage,
    Usage,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)
from rxflow.executors import DaskExecutor

ROOT = Path(__file__).resolve().parent.parent


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


def _pipeline(executor: Any) -> Any:
    return (
        create_workflow(id="pipeline", executor=executor)
        .then(create_step(id="listing", execute=steps.listing))
        .foreach(create_step(id="double", execute=steps.double), concurrency=3)
        .then(create_step(id="sum", execute=lambda ctx: sum(ctx.input_data)))
        .commit()
    )


async def _foreach(
    dask: DaskExecutor, step: Any, items: list[Any], *, concurrency: int
) -> tuple[list[Any], Any]:
    """A successful run's chunks and result: a ``foreach`` of ``step`` over ``items`` on Dask."""
    wf = create_workflow(id=f"each-{step.id}", executor=dask)
    run = await wf.foreach(step, concurrency=concurrency).commit().create_run()
    output = run.stream(input_data=items)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success", result.error
    return chunks, result


def _progress(chunks: list[Any]) -> list[tuple[int, int]]:
    found = []
    for chunk in chunks:
        if chunk.type == "workflow-step-progress":
            payload = chunk.to_dict()["payload"]
            found.append((payload["completedCount"], payload["totalCount"]))
    return found


async def test_chain_and_foreach_on_dask_give_the_events_and_results_of_a_local_run(
    dask: DaskExecutor,
) -> None:
    outcomes = []
    for executor in (None, dask):
        run = await _pipeline(executor).create_run()
        output = run.stream(input_data=7)
        chunks = await collect(output)
        result = await output.result
        outcomes.append((types(chunks), _progress(chunks), result.status, result.result))
        outcomes.append({k: v.output for k, v in result.steps.items()})
    local, local_outputs, remote, remote_outputs = outcomes
    assert remote == local
    assert remote_outputs == local_outputs
    assert remote[2:] == ("success", 42)
    assert sorted(remote[1]) == [(n, 7) for n in range(1, 8)]


async def test_bodies_run_in_worker_processes_and_a_local_step_stays_here(
    dask: DaskExecutor,
) -> None:
    wf = (
        create_workflow(id="where", executor=dask)
        .then(create_step(id="remote", execute=steps.where))
        .then(create_step(id="here", execute=steps.where, executor=LocalExecutor()))
        .commit()
    )
    result = await within((await wf.create_run()).start(input_data=1), 30)
    assert result.status == "success"
    assert result.steps["remote"].output["pid"] != os.getpid()
    assert result.steps["here"].output["pid"] == os.getpid()

    only_heavy = (
        create_workflow(id="one-heavy")
        .then(create_step(id="heavy", execute=steps.where, executor=dask))
        .commit()
    )
    result = await (await only_heavy.create_run()).start(input_data=2)
    assert result.steps["heavy"].output["pid"] != os.getpid()


async def test_writer_chunks_arrive_live_and_in_order_before_the_step_result(
    dask: DaskExecutor,
) -> None:
    wf = (
        create_workflow(id="chatty", executor=dask)
        .then(create_step(id="chatty", execute=steps.chatty))
        .then(create_step(id="sync", execute=steps.chatty_sync))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    seen = []
    for chunk in chunks:
        wire = chunk.to_dict()
        payload = wire.get("payload") or {}
        seen.append((wire["type"], payload.get("id", payload.get("output", wire.get("data")))))
    assert seen[:10] == [
        ("workflow-start", None),
        ("workflow-step-start", "chatty"),
        ("workflow-step-output", {"n": 0}),
        ("workflow-step-output", {"n": 1}),
        ("workflow-step-output", {"n": 2}),
        ("data-note", "done"),
        ("workflow-step-result", "chatty"),
        ("workflow-step-start", "sync"),
        ("workflow-step-output", "no await needed"),
        ("workflow-step-result", "sync"),
    ]
    assert len(seen) == 11 and seen[10][0] == "workflow-finish"
    assert (await output.result).result == "ok"


async def test_state_usage_context_and_bail_from_a_dask_body(dask: DaskExecutor) -> None:
    wf = (
        create_workflow(id="effects", executor=dask)
        .then(create_step(id="first", execute=steps.add_one))
        .then(create_step(id="effects", execute=steps.effects))
        .then(create_step(id="bail", execute=steps.bail_out))
        .then(create_step(id="never", execute=steps.where))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(
        input_data=1, initial_state={"before": True}, request_context={"user": "ann"}
    )
    await collect(output)
    result = await output.result
    assert result.status == "success"
    assert result.result == {
        "bailed": {
            "init": 1,
            "first": 2,
            "user": "ann",
            "state": {"before": True},
            "ids": (run.run_id, "effects"),
        }
    }
    assert result.state == {"before": True, "seen": 2, "retry": 0}
    assert "never" not in result.steps
    assert await output.usage == Usage(input_tokens=10, output_tokens=5, total_tokens=15)


async def test_retries_on_dask_follow_the_steps_policy(dask: DaskExecutor) -> None:
    wf = (
        create_workflow(id="flaky", executor=dask)
        .then(create_step(id="flaky", execute=steps.flaky, retries=1))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", 1)

    once = create_workflow(id="once", executor=dask).then(
        create_step(id="flaky", execute=steps.flaky)
    )
    result = await (await once.commit().create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, ValueError)
    assert str(result.error) == "first attempt fails"
    assert "raised on a Dask worker" in result.error.__notes__[0]


async def test_suspend_on_dask_resumes_in_this_process(dask: DaskExecutor, tmp_path: Path) -> None:
    wf = (
        create_workflow(id="approval", storage=SQLiteStorage(tmp_path / "runs.db"), executor=dask)
        .then(steps.approval_step(None))
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data="deploy")
    assert first.status == "suspended"
    assert first.suspend_payload == {
        "approve": {"ask": "deploy", "pid": first.suspend_payload["approve"]["pid"]}
    }
    done = await run.resume(label="ok", resume_data="yes")
    assert done.status == "success"
    assert done.result["approved"] == "yes"
    assert done.result["asked"]["ask"] == "deploy"
    assert done.result["pid"] != os.getpid()


async def test_suspend_on_dask_resumes_in_a_fresh_process(
    dask: DaskExecutor,
    cluster: Any,
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    wf = (
        create_workflow(id="approval", storage=SQLiteStorage(db), executor=dask)
        .then(steps.approval_step(None))
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data="ship")).status == "suspended"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "dask_resume_app.py"),
            str(db),
            cluster.scheduler_address,
            run.run_id,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "success"
    assert report["result"]["approved"] == "later"
    assert report["result"]["asked"]["ask"] == "ship"


def test_executor_must_be_an_executor() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"step 's': executor must be an Executor"):
        create_step(id="s", execute=steps.double, executor="dask")  # type: ignore[arg-type]
    with pytest.raises(
        WorkflowDefinitionError, match=r"workflow 'w': executor must be an Executor"
    ):
        create_workflow(id="w", executor=object())  # type: ignore[arg-type]


def test_the_example_runs_a_foreach_on_its_own_local_cluster() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "dask_foreach.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "status: success" in lines
    assert lines[-1].startswith("summary: 40 items scored in ")
    assert "scored 40/40" in done.stdout


async def test_two_executors_never_share_a_task_key_for_one_run(cluster: Any) -> None:
    # A key the scheduler still holds would hand back that task's result (a resume in another
    # process saw the suspended result of the first run's task).
    keys = []
    for _ in range(2):
        async with DaskExecutor(address=cluster.scheduler_address) as dask:
            wf = (
                create_workflow(id="keys", executor=dask)
                .then(create_step(id="key", execute=steps.task_key))
                .commit()
            )
            run = await wf.create_run(run_id="one-run")
            keys.append((await run.start(input_data=None)).result)
    assert keys[0] != keys[1]
    assert all(key.startswith("rxflow-key-one-run-") for key in keys)


async def test_waiting_items_share_tasks_unless_told_one_per_task(cluster: Any) -> None:
    # 16 items at once on 2 worker threads: about one task per thread, 8 items each (the
    # first item may leave alone, while the body is pickled for the others)
    sizes_by_option = {}
    for per_task in (None, 3, 1):
        async with DaskExecutor(address=cluster.scheduler_address, items_per_task=per_task) as dask:
            step = create_step(id="key", execute=steps.task_key)
            chunks, result = await _foreach(dask, step, list(range(16)), concurrency=16)
            assert _progress(chunks) == [(n, 16) for n in range(1, 17)]  # still one per item
            sizes_by_option[per_task] = sorted(Counter(result.result).values())
    assert len(sizes_by_option[None]) <= 3 and max(sizes_by_option[None]) == 8
    assert max(sizes_by_option[3]) == 3 and len(sizes_by_option[3]) <= 7
    assert sizes_by_option[1] == [1] * 16


async def test_items_are_spread_over_the_worker_threads_the_cluster_has_now() -> None:
    # A cluster that grows after the executor connected: tasks follow its new thread count
    # (8 items on 1 thread: one task of up to 8; on 2 threads: tasks of 4).
    import distributed

    async with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            asynchronous=True,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster, asynchronous=True, set_as_default=False) as client,
        DaskExecutor(client=client) as dask,
    ):
        step = create_step(id="key", execute=steps.task_key)
        _, one_thread = await _foreach(dask, step, list(range(8)), concurrency=8)
        cluster.scale(2)
        await within(_threads_seen(client, 2), 30)
        _, two_threads = await _foreach(dask, step, list(range(8)), concurrency=8)
    assert max(Counter(one_thread.result).values()) >= 7  # the first item may leave alone
    assert max(Counter(two_threads.result).values()) == 4


async def _threads_seen(client: Any, count: int) -> None:
    """Once the client's view of the cluster (refreshed every 2 s) has ``count`` threads."""
    while client.scheduler_info().get("total_threads") != count:
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_items_per_task_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match="items_per_task must be a positive int or None"):
        DaskExecutor(items_per_task=bad)


async def test_big_and_small_item_outputs_both_come_back_with_progress_per_item(
    dask: DaskExecutor,
) -> None:
    step = create_step(id="big", execute=steps.big_output)
    chunks, result = await _foreach(dask, step, list(range(12)), concurrency=4)
    assert result.result == [("x" * 10_000 if i % 3 == 0 else "small") + str(i) for i in range(12)]
    assert _progress(chunks) == [(n, 12) for n in range(1, 13)]


async def test_a_window_refilling_item_by_item_still_sends_items_in_shared_tasks(
    cluster: Any,
) -> None:
    # 48 items, 8 in flight on 2 worker threads: tasks of 4, the refills queued while tasks
    # run leave together (a few smaller tasks leave when the cluster runs low); one task per
    # item would be 48 tasks
    async with DaskExecutor(address=cluster.scheduler_address) as dask:
        wf = (
            create_workflow(id="refill", executor=dask)
            .foreach(create_step(id="key", execute=steps.task_key), concurrency=8)
            .commit()
        )
        result = await (await wf.create_run()).start(input_data=list(range(48)))
    assert result.status == "success", result.error
    assert len(result.result) == 48
    sizes = Counter(result.result).values()
    assert len(sizes) <= 20 and max(sizes) == 4, sorted(sizes)


async def test_two_executors_on_one_client_each_get_their_chunks_and_outputs(
    cluster: Any,
) -> None:
    import distributed

    def talk(executor: DaskExecutor, n: int) -> Any:
        return (
            create_workflow(id=f"talk-{n}", executor=executor)
            .then(create_step(id="chatty", execute=steps.chatty))
            .then(create_step(id="three", execute=lambda ctx: 3))
            .then(create_step(id="listing", execute=steps.listing))
            .foreach(create_step(id="double", execute=steps.double), concurrency=2)
            .commit()
        )

    async with distributed.Client(
        cluster.scheduler_address, asynchronous=True, set_as_default=False
    ) as client:
        executors = [DaskExecutor(client=client), DaskExecutor(client=client)]
        flows = [talk(executor, n) for n, executor in enumerate(executors)]
        for wf in [*flows, *flows]:  # the second executor connects between two runs of the first
            output = (await wf.create_run()).stream(input_data=None)
            chunks = await within(collect(output), 30)
            assert types(chunks).count("workflow-step-output") == 3
            assert "data-note" in types(chunks)
            assert (await output.result).result == [0, 2, 4]
        for executor in executors:
            await executor.close()


async def test_a_tasks_end_is_awaited_with_dasks_own_one_future_wait(cluster: Any) -> None:
    # The executor awaits each task with the wait distributed.wait uses (an as_completed per
    # task costs the client several times more); it falls back to as_completed without it.
    import distributed

    from rxflow.executors.dask_connection import _finished

    async with distributed.Client(
        cluster.scheduler_address, asynchronous=True, set_as_default=False
    ) as client:
        future = client.submit(steps.double_plain, 21, pure=False)
        assert callable(getattr(future._state, "wait", None))
        await within(_finished(future), 30)
        assert future.status == "finished" and await future == 42
