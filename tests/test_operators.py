"""Rx interop: run_workflow, stream_workflow and Step.as_operator inside reactivex pipelines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

from rxflow import (
    Run,
    RxflowError,
    StepContext,
    ValidationError,
    Workflow,
    WorkflowResult,
    create_step,
    create_workflow,
)
from rxflow.operators import run_workflow, step_operator, stream_workflow


class Collector:
    """Subscribes to an Observable; ``await collector.done`` gives the items, or raises."""

    def __init__(self, observable: reactivex.Observable[Any]) -> None:
        self.items: list[Any] = []
        self.done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.subscription = observable.subscribe(self.items.append, self._error, self._complete)

    def _error(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    def _complete(self) -> None:
        if not self.done.done():
            self.done.set_result(self.items)


async def collect(observable: reactivex.Observable[Any]) -> list[Any]:
    return await asyncio.wait_for(Collector(observable).done, 5)


def one_step(workflow_id: str, body: Callable[..., Any], **options: Any) -> Workflow:
    return (
        create_workflow(id=workflow_id, **options).then(create_step(id="s", execute=body)).commit()
    )


async def double(ctx: StepContext) -> int:
    return ctx.input_data * 2  # type: ignore[no-any-return]


async def settle() -> None:
    """Let every ready callback and task run a few turns (a queued input would start here)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def ended(run: Run) -> WorkflowResult:
    """Wait for a started run to end on its own (without canceling it here)."""
    output = run.observe_stream()
    assert output is not None
    return await asyncio.wait_for(output.result, 5)  # type: ignore[no-any-return]


def capture_runs(wf: Workflow) -> list[Run]:
    """Every Run that ``wf.create_run`` hands out from now on."""
    runs: list[Run] = []
    original = wf.create_run

    async def create_run(*args: Any, **kwargs: Any) -> Run:
        run = await original(*args, **kwargs)
        runs.append(run)
        return run

    wf.create_run = create_run  # type: ignore[method-assign]
    return runs


# -- run_workflow ------------------------------------------------------------------------------


async def test_run_workflow_emits_results_in_input_order_one_at_a_time() -> None:
    log: list[str] = []

    async def body(ctx: StepContext) -> int:
        log.append(f"start {ctx.input_data}")
        await asyncio.sleep(0)
        log.append(f"end {ctx.input_data}")
        return ctx.input_data * 2  # type: ignore[no-any-return]

    wf = one_step("seq", body)
    results = await collect(reactivex.from_iterable([1, 2, 3, 4]).pipe(run_workflow(wf)))

    assert all(isinstance(r, WorkflowResult) for r in results)
    assert [r.status for r in results] == ["success"] * 4
    assert [r.result for r in results] == [2, 4, 6, 8]
    assert [r.input for r in results] == [1, 2, 3, 4]
    assert len({r.run_id for r in results}) == 4
    assert log == [f"{edge} {i}" for i in (1, 2, 3, 4) for edge in ("start", "end")]


async def test_run_workflow_composes_with_filter_map_and_buffer() -> None:
    async def body(ctx: StepContext) -> int:
        if ctx.input_data == 3:
            raise ValueError("three is unlucky")
        return ctx.input_data * 2  # type: ignore[no-any-return]

    wf = one_step("compose", body)
    batches = await collect(
        reactivex.from_iterable(range(6)).pipe(
            run_workflow(wf),
            ops.filter(lambda r: r.status == "success"),
            ops.map(lambda r: r.result),
            ops.buffer_with_count(2),
        )
    )
    assert batches == [[0, 2], [4, 8], [10]]


async def test_run_workflow_over_a_merge_of_two_sources() -> None:
    wf = one_step("merged", double)
    subject: Subject[int] = Subject()
    collector = Collector(
        reactivex.merge(reactivex.from_iterable([1, 2]), subject).pipe(
            run_workflow(wf), ops.map(lambda r: r.result)
        )
    )
    subject.on_next(10)
    subject.on_next(20)
    subject.on_completed()
    assert await asyncio.wait_for(collector.done, 5) == [2, 4, 20, 40]


async def test_run_workflow_emits_in_completion_order_with_concurrency_2() -> None:
    release_slow = asyncio.Event()

    async def body(ctx: StepContext) -> str:
        if ctx.input_data == "slow":
            await release_slow.wait()
        return ctx.input_data  # type: ignore[no-any-return]

    wf = one_step("order", body)
    first = asyncio.Event()
    seen: list[str] = []

    def note(result: WorkflowResult) -> None:
        seen.append(result.result)
        first.set()

    collector = Collector(
        reactivex.from_iterable(["slow", "fast"]).pipe(
            run_workflow(wf, concurrency=2), ops.do_action(note)
        )
    )
    await asyncio.wait_for(first.wait(), 5)
    assert seen == ["fast"]
    release_slow.set()
    results = await asyncio.wait_for(collector.done, 5)
    assert [r.result for r in results] == ["fast", "slow"]


async def test_a_failed_step_is_a_failed_result_not_an_error() -> None:
    async def body(ctx: StepContext) -> None:
        raise ValueError(f"bad {ctx.input_data}")

    wf = one_step("fails", body)
    results = await collect(reactivex.from_iterable([7]).pipe(run_workflow(wf)))
    assert [r.status for r in results] == ["failed"]
    assert str(results[0].error) == "bad 7"
    assert results[0].steps["s"].status == "failed"


async def test_an_input_failing_validation_goes_to_on_error() -> None:
    wf = one_step("typed", double, input_schema=int)
    collector = Collector(reactivex.from_iterable([1, "x", 3]).pipe(run_workflow(wf)))
    with pytest.raises(ValidationError, match="expected int, got 'x'"):
        await asyncio.wait_for(collector.done, 5)
    assert [r.result for r in collector.items] == [2]


async def test_a_source_error_is_forwarded() -> None:
    wf = one_step("src-error", double)
    subject: Subject[int] = Subject()
    collector = Collector(subject.pipe(run_workflow(wf)))
    subject.on_error(KeyError("upstream"))
    with pytest.raises(KeyError, match="upstream"):
        await asyncio.wait_for(collector.done, 5)


async def test_an_empty_source_completes_with_no_results() -> None:
    wf = one_step("empty", double)
    assert await collect(reactivex.empty().pipe(run_workflow(wf))) == []


async def test_inputs_pushed_from_another_thread_run_on_the_loop() -> None:
    wf = one_step("threaded", double)
    subject: Subject[int] = Subject()
    collector = Collector(subject.pipe(run_workflow(wf), ops.map(lambda r: r.result)))
    loop_thread = threading.get_ident()

    def push() -> None:
        assert threading.get_ident() != loop_thread
        for value in (1, 2, 3):
            subject.on_next(value)
        subject.on_completed()

    await asyncio.to_thread(push)
    assert await asyncio.wait_for(collector.done, 5) == [2, 4, 6]


async def test_an_exception_in_on_next_goes_to_on_error() -> None:
    wf = one_step("bad-observer", double)
    errors: list[Exception] = []
    ended = asyncio.Event()

    def on_next(result: WorkflowResult) -> None:
        raise RuntimeError("observer bug")

    def on_error(error: Exception) -> None:
        errors.append(error)
        ended.set()

    reactivex.from_iterable([1, 2]).pipe(run_workflow(wf)).subscribe(on_next, on_error)
    await asyncio.wait_for(ended.wait(), 5)
    assert [str(e) for e in errors] == ["observer bug"]


@pytest.mark.parametrize("n", [1, 3])
async def test_concurrency_bounds_the_runs_in_flight(n: int) -> None:
    in_flight = 0
    peak = 0
    started = 0
    all_in = asyncio.Event()
    release = asyncio.Event()

    async def body(ctx: StepContext) -> int:
        nonlocal in_flight, peak, started
        started += 1
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == n:
            all_in.set()
        await release.wait()
        in_flight -= 1
        return ctx.input_data  # type: ignore[no-any-return]

    wf = one_step(f"bound-{n}", body)
    collector = Collector(reactivex.from_iterable(range(8)).pipe(run_workflow(wf, concurrency=n)))
    await asyncio.wait_for(all_in.wait(), 5)
    assert (in_flight, started) == (n, n)  # the other inputs wait in the queue
    release.set()
    results = await asyncio.wait_for(collector.done, 5)
    assert sorted(r.result for r in results) == list(range(8))
    assert peak == n and started == 8


async def test_disposing_cancels_started_runs_and_never_starts_queued_ones() -> None:
    started = 0
    both_in = asyncio.Event()
    saw_cancel: list[int] = []

    async def body(ctx: StepContext) -> int:
        nonlocal started
        started += 1
        if started == 2:
            both_in.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.append(ctx.input_data)
            raise
        return 0

    wf = one_step("dispose", body)
    runs = capture_runs(wf)
    collector = Collector(reactivex.from_iterable(range(5)).pipe(run_workflow(wf, concurrency=2)))
    await asyncio.wait_for(both_in.wait(), 5)

    collector.subscription.dispose()
    for run in runs:
        await ended(run)
    await settle()

    assert [run.status for run in runs] == ["canceled", "canceled"]
    assert sorted(saw_cancel) == [0, 1]
    assert started == 2 and len(runs) == 2
    assert collector.items == [] and not collector.done.done()


def test_subscribing_without_a_running_loop_raises() -> None:
    wf = one_step("no-loop", double)
    operators = [
        run_workflow(wf),
        stream_workflow(wf),
        create_step(id="d", execute=double).as_operator(),
    ]
    for operator in operators:
        errors: list[Exception] = []
        with pytest.raises(RuntimeError, match="event loop"):
            reactivex.from_iterable([1]).pipe(operator).subscribe(print, errors.append)
        assert errors == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_concurrency_must_be_a_positive_int(bad: Any) -> None:
    wf = one_step("conc", double)
    s = create_step(id="d", execute=double)
    for make in (run_workflow, stream_workflow):
        with pytest.raises(ValueError, match="concurrency must be a positive int"):
            make(wf, concurrency=bad)
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        step_operator(s, concurrency=bad)


# -- stream_workflow ---------------------------------------------------------------------------


def shape(chunk: Any) -> tuple[str, str | None]:
    return chunk.type, getattr(getattr(chunk, "payload", None), "id", None)


async def test_stream_workflow_emits_each_runs_events_in_turn() -> None:
    wf = one_step("streamed", double)
    chunks = await collect(reactivex.from_iterable([1, 2]).pipe(stream_workflow(wf)))
    one_run = [
        ("workflow-start", None),
        ("workflow-step-start", "s"),
        ("workflow-step-result", "s"),
        ("workflow-finish", None),
    ]
    assert [shape(c) for c in chunks] == one_run + one_run
    first, second = chunks[0].run_id, chunks[4].run_id
    assert first != second
    assert [c.run_id for c in chunks] == [first] * 4 + [second] * 4
    assert [c.payload.output for c in chunks if c.type == "workflow-step-result"] == [2, 4]


async def test_stream_workflow_with_filter_and_map() -> None:
    wf = one_step("streamed-ops", double)
    outputs = await collect(
        reactivex.from_iterable([5, 6, 7]).pipe(
            stream_workflow(wf),
            ops.filter(lambda c: c.type == "workflow-finish"),
            ops.map(lambda c: c.to_dict()["payload"]["finalWorkflowResult"]),
        )
    )
    assert outputs == [10, 12, 14]


async def test_stream_workflow_interleaves_runs_with_concurrency_2() -> None:
    release = asyncio.Event()

    async def body(ctx: StepContext) -> str:
        if ctx.input_data == "slow":
            await release.wait()
        return ctx.input_data  # type: ignore[no-any-return]

    wf = one_step("interleave", body)
    fast_finished = asyncio.Event()

    def note(chunk: Any) -> None:
        if chunk.type == "workflow-finish":
            fast_finished.set()

    collector = Collector(
        reactivex.from_iterable(["slow", "fast"]).pipe(
            stream_workflow(wf, concurrency=2), ops.do_action(note)
        )
    )
    await asyncio.wait_for(fast_finished.wait(), 5)
    release.set()
    chunks = await asyncio.wait_for(collector.done, 5)

    finishes = [c for c in chunks if c.type == "workflow-finish"]
    assert [f.to_dict()["payload"]["finalWorkflowResult"] for f in finishes] == ["fast", "slow"]
    by_run: dict[str, list[str]] = {}
    for chunk in chunks:
        by_run.setdefault(chunk.run_id, []).append(chunk.type)
    one_run = ["workflow-start", "workflow-step-start", "workflow-step-result", "workflow-finish"]
    assert list(by_run.values()) == [one_run, one_run]


async def test_stream_workflow_forwards_the_events_of_a_bad_input_then_errors() -> None:
    wf = one_step("stream-typed", double, input_schema=int)
    collector = Collector(reactivex.from_iterable([1, "x"]).pipe(stream_workflow(wf)))
    with pytest.raises(ValidationError):
        await asyncio.wait_for(collector.done, 5)
    types = [c.type for c in collector.items]
    assert types == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
        "workflow-start",
        "workflow-finish",
    ]
    last = collector.items[-1].to_dict()["payload"]
    assert last["workflowStatus"] == "failed"
    assert last["metadata"]["error"]["name"] == "ValidationError"


async def test_stream_workflow_failed_run_is_events_not_an_error() -> None:
    async def body(ctx: StepContext) -> None:
        raise ValueError("nope")

    wf = one_step("stream-fails", body)
    chunks = await collect(reactivex.from_iterable([1]).pipe(stream_workflow(wf)))
    assert chunks[-1].to_dict()["payload"]["workflowStatus"] == "failed"


async def test_disposing_a_stream_cancels_its_runs() -> None:
    entered = asyncio.Event()
    started = 0
    saw_cancel: list[bool] = []

    async def body(ctx: StepContext) -> int:
        nonlocal started
        started += 1
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.append(True)
            raise
        return 0

    wf = one_step("stream-dispose", body)
    runs = capture_runs(wf)
    collector = Collector(reactivex.from_iterable([1, 2, 3]).pipe(stream_workflow(wf)))
    await asyncio.wait_for(entered.wait(), 5)
    assert [c.type for c in collector.items] == ["workflow-start", "workflow-step-start"]

    collector.subscription.dispose()
    await ended(runs[0])
    await settle()

    assert runs[0].status == "canceled" and saw_cancel == [True]
    assert started == 1 and len(runs) == 1
    # The run's own canceled/finish events are not forwarded once disposed.
    assert [c.type for c in collector.items] == ["workflow-start", "workflow-step-start"]


# -- Step.as_operator ----------------------------------------------------------------------------


async def test_as_operator_emits_outputs_in_order_one_at_a_time() -> None:
    log: list[str] = []

    async def body(ctx: StepContext) -> int:
        log.append(f"start {ctx.input_data}")
        await asyncio.sleep(0)
        log.append(f"end {ctx.input_data}")
        return ctx.input_data * 10  # type: ignore[no-any-return]

    operator = create_step(id="times10", execute=body).as_operator()
    outputs = await collect(reactivex.from_iterable([1, 2, 3]).pipe(operator, ops.map(str)))
    assert outputs == ["10", "20", "30"]
    assert log == [f"{edge} {i}" for i in (1, 2, 3) for edge in ("start", "end")]


async def test_as_operator_gives_each_input_a_fresh_minimal_context() -> None:
    seen: list[tuple[str, str, Any, Any]] = []

    async def body(ctx: StepContext) -> int:
        seen.append(
            (ctx.run_id, ctx.workflow_id, ctx.get_init_data(), ctx.request_context.get("k"))
        )
        await ctx.writer.write("dropped: nothing carries it")
        ctx.record_usage(1, 2)
        return 0

    await collect(
        reactivex.from_iterable(["a", "b"]).pipe(create_step(id="ctx", execute=body).as_operator())
    )
    assert [s[1:] for s in seen] == [("ctx", "a", None), ("ctx", "b", None)]
    assert seen[0][0] != seen[1][0]


async def test_as_operator_runs_sync_bodies_and_applies_schemas_and_retries() -> None:
    attempts: list[int] = []

    def flaky(ctx: StepContext) -> int:
        attempts.append(ctx.retry_count)
        if ctx.retry_count == 0:
            raise ConnectionError("first try fails")
        return ctx.input_data + 1  # type: ignore[no-any-return]

    operator = create_step(id="flaky", execute=flaky, input_schema=int, retries=1).as_operator()
    assert await collect(reactivex.from_iterable([41]).pipe(operator)) == [42]
    assert attempts == [0, 1]

    collector = Collector(reactivex.from_iterable(["x"]).pipe(operator))
    with pytest.raises(ValidationError, match="expected int"):
        await asyncio.wait_for(collector.done, 5)


async def test_as_operator_sends_a_body_exception_to_on_error() -> None:
    async def body(ctx: StepContext) -> int:
        if ctx.input_data == 2:
            raise ValueError("two is not allowed")
        return ctx.input_data  # type: ignore[no-any-return]

    collector = Collector(
        reactivex.from_iterable([1, 2, 3]).pipe(create_step(id="picky", execute=body).as_operator())
    )
    with pytest.raises(ValueError, match="two is not allowed"):
        await asyncio.wait_for(collector.done, 5)
    assert collector.items == [1]


async def test_as_operator_suspend_is_an_rxflow_error() -> None:
    async def body(ctx: StepContext) -> Any:
        return await ctx.suspend({"why": "approval"})

    collector = Collector(
        reactivex.from_iterable([1]).pipe(create_step(id="waits", execute=body).as_operator())
    )
    with pytest.raises(RxflowError, match="cannot suspend"):
        await asyncio.wait_for(collector.done, 5)


async def test_as_operator_bail_value_is_an_output() -> None:
    async def body(ctx: StepContext) -> Any:
        return ctx.bail({"early": ctx.input_data})

    operator = create_step(id="bails", execute=body).as_operator()
    assert await collect(reactivex.from_iterable([1]).pipe(operator)) == [{"early": 1}]


async def test_as_operator_abort_is_an_rxflow_error() -> None:
    async def body(ctx: StepContext) -> int:
        ctx.abort()
        await asyncio.Event().wait()
        return 0

    collector = Collector(
        reactivex.from_iterable([1]).pipe(create_step(id="aborts", execute=body).as_operator())
    )
    with pytest.raises(RxflowError, match="aborted"):
        await asyncio.wait_for(collector.done, 5)


async def test_step_operator_concurrency_and_completion_order() -> None:
    release = asyncio.Event()
    both_in = asyncio.Event()
    started = 0

    async def body(ctx: StepContext) -> str:
        nonlocal started
        started += 1
        if started == 2:
            both_in.set()
        if ctx.input_data == "slow":
            await release.wait()
        return ctx.input_data  # type: ignore[no-any-return]

    operator = step_operator(create_step(id="pair", execute=body), concurrency=2)
    collector = Collector(reactivex.from_iterable(["slow", "fast"]).pipe(operator))
    await asyncio.wait_for(both_in.wait(), 5)
    release.set()
    assert await asyncio.wait_for(collector.done, 5) == ["fast", "slow"]


async def test_disposing_as_operator_cancels_the_body_in_flight() -> None:
    entered = asyncio.Event()
    saw_cancel = asyncio.Event()
    started: list[int] = []

    async def body(ctx: StepContext) -> int:
        started.append(ctx.input_data)
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            assert ctx.abort_signal.aborted
            saw_cancel.set()
            raise
        return 0

    collector = Collector(
        reactivex.from_iterable([1, 2]).pipe(create_step(id="blocks", execute=body).as_operator())
    )
    await asyncio.wait_for(entered.wait(), 5)
    collector.subscription.dispose()
    await asyncio.wait_for(saw_cancel.wait(), 5)
    await settle()
    assert started == [1]
    assert collector.items == [] and not collector.done.done()


def test_step_operator_rejects_a_workflow() -> None:
    wf = one_step("not-a-step", double)
    with pytest.raises(TypeError, match="run_workflow"):
        step_operator(wf)  # type: ignore[arg-type]
