"""The engine's entries are reactivex operators: each works inside an ordinary Rx pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

import reactivex
from reactivex import operators as ops

from rxflow import RequestContext, StepContext, create_step, create_workflow
from rxflow.engine.state import ExecutionState, RunScope


def execution(workflow: Any, value: Any, events: list[Any]) -> ExecutionState:
    scope = RunScope(
        run_id=f"run-{value}",
        workflow_id=workflow.id,
        resource_id=None,
        emit=events.append,
        request_context=RequestContext(),
        loop=asyncio.get_running_loop(),
        on_abort_request=lambda: None,
    )
    return ExecutionState(scope=scope, program=workflow.program, run_id=scope.run_id, input=value)


async def collect(source: reactivex.Observable[Any]) -> list[Any]:
    done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
    items: list[Any] = []
    source.subscribe(
        on_next=items.append,
        on_error=done.set_exception,
        on_completed=lambda: done.set_result(items),
    )
    return await asyncio.wait_for(done, 5)


async def _double(ctx: StepContext) -> int:
    await asyncio.sleep(0)
    return int(ctx.input_data) * 2


async def _inc(ctx: StepContext) -> int:
    return int(ctx.input_data) + 1


async def test_each_entry_is_an_operator_in_a_pipeline() -> None:
    wf = (
        create_workflow(id="ops")
        .then(create_step(id="double", execute=_double))
        .parallel([create_step(id="a", execute=_inc), create_step(id="b", execute=_double)])
        .commit()
    )
    then_op, parallel_op = wf.program.entries
    assert (then_op.kind, parallel_op.kind) == ("step", "parallel")
    events: list[Any] = []
    states = [execution(wf, n, events) for n in (1, 2, 3)]
    out = await collect(
        reactivex.from_iterable(states).pipe(
            then_op,
            ops.filter(lambda ex: ex.value > 2),  # ordinary Rx operators in between
            parallel_op,
            ops.map(lambda ex: ex.value),
        )
    )
    assert sorted(out, key=lambda v: v["a"]) == [{"a": 5, "b": 8}, {"a": 7, "b": 12}]
    assert [e.type for e in events].count("workflow-step-start") == 3 + 2 * 2


async def test_the_program_is_an_operator_over_executions() -> None:
    wf = (
        create_workflow(id="prog")
        .then(create_step(id="inc", execute=_inc))
        .map(lambda ctx: [ctx.input_data] * 3)
        .foreach(create_step(id="double", execute=_double), concurrency=2)
        .commit()
    )
    events: list[Any] = []
    ex = execution(wf, 1, events)
    finished = await collect(reactivex.of(ex).pipe(wf.program))
    assert finished == [ex]
    assert ex.status == "success" and ex.value == [4, 4, 4]
    progress = [e for e in events if e.type == "workflow-step-progress"]
    assert [p.payload.completed_count for p in progress] == [1, 2, 3]


async def test_disposing_an_entry_operator_subscription_cancels_its_work() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def blocks(ctx: StepContext) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 0

    wf = create_workflow(id="dispose").then(create_step(id="blocks", execute=blocks)).commit()
    events: list[Any] = []
    subscription = reactivex.of(execution(wf, 0, events)).pipe(wf.program.entries[0]).subscribe()
    await started.wait()
    subscription.dispose()
    for _ in range(5):
        await asyncio.sleep(0)
    assert cancelled == [True]


async def _boom(ctx: StepContext) -> int:
    raise ValueError("boom")


def _summary(ex: ExecutionState, events: list[Any]) -> tuple[Any, ...]:
    return (
        ex.status,
        ex.value,
        {step_id: result.status for step_id, result in ex.step_results.items()},
        [(e.type, e.payload.id) for e in events],
    )


async def test_piped_entries_stop_after_a_failed_step_as_the_driver_does() -> None:
    wf = (
        create_workflow(id="stops")
        .then(create_step(id="a", execute=_inc))
        .then(create_step(id="b", execute=_boom))
        .then(create_step(id="c", execute=_inc))
        .commit()
    )
    expected = (
        "failed",
        2,
        {"a": "success", "b": "failed"},
        [
            ("workflow-step-start", "a"),
            ("workflow-step-result", "a"),
            ("workflow-step-start", "b"),
            ("workflow-step-result", "b"),
        ],
    )
    driven_events: list[Any] = []
    driven = execution(wf, 1, driven_events)
    await wf.program.drive(driven)
    assert _summary(driven, driven_events) == expected

    piped_events: list[Any] = []
    piped = execution(wf, 1, piped_events)
    assert await collect(reactivex.of(piped).pipe(*wf.program.entries)) == [piped]
    assert _summary(piped, piped_events) == expected
    assert str(piped.error) == "boom"


async def test_a_state_that_is_not_running_passes_an_entry_untouched() -> None:
    wf = create_workflow(id="passes").then(create_step(id="a", execute=_inc)).commit()
    events: list[Any] = []
    ex = execution(wf, 1, events)
    ex.status = "suspended"
    ex.entry_index = 7
    assert await collect(reactivex.of(ex).pipe(wf.program.entries[0])) == [ex]
    assert (ex.status, ex.value, ex.step_results, ex.entry_index, events) == (
        "suspended",
        1,
        {},
        7,
        [],
    )


async def test_an_entry_on_a_canceled_run_cancels_without_running() -> None:
    wf = create_workflow(id="aborted").then(create_step(id="a", execute=_inc)).commit()
    events: list[Any] = []
    ex = execution(wf, 1, events)
    ex.scope.fire_abort()
    assert await collect(reactivex.of(ex).pipe(wf.program.entries[0])) == [ex]
    assert (ex.status, ex.value, ex.step_results, events) == ("canceled", 1, {}, [])


async def test_the_last_piped_entry_ends_the_execution_as_the_driver_does() -> None:
    wf = (
        create_workflow(id="ends")
        .then(create_step(id="a", execute=_inc))
        .then(create_step(id="b", execute=_inc))
        .commit()
    )
    first, last = wf.program.entries
    assert (first.index, first.last, last.index, last.last) == (0, False, 1, True)
    ex = execution(wf, 1, [])
    await collect(reactivex.of(ex).pipe(first))
    assert (ex.status, ex.value, ex.entry_index) == ("running", 2, 0)
    await collect(reactivex.of(ex).pipe(last))
    assert (ex.status, ex.value, ex.entry_index) == ("success", 3, 1)
