"""Plain ``def`` bodies (and lambdas) without traps: an awaitable they return is awaited on
the event loop; ``ctx.writer`` works from their worker thread, its chunks in order before the
step's result; ``ctx.suspend`` there raises a clear ``RxflowError`` at once; ``ctx.bail`` and
``ctx.set_state`` work as in async bodies."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import collect, types

from rxflow import RxflowError, StepContext, create_step, create_workflow


def one(step: Any, wid: str = "sync") -> Any:
    return create_workflow(id=wid).then(step).commit()


async def test_a_lambda_returning_a_coroutine_has_it_awaited_on_the_loop() -> None:
    threads: dict[str, int] = {}

    async def double(ctx: StepContext) -> Any:
        threads["awaited"] = threading.get_ident()
        return ctx.input_data * 2

    wf = one(create_step(id="double", execute=lambda ctx: double(ctx)))
    result = await (await wf.create_run()).start(input_data=21)
    assert result.status == "success"
    assert result.result == 42
    assert threads["awaited"] == threading.get_ident()  # the loop's thread (this test's)


async def test_a_def_body_returning_an_awaitable_object_gets_its_value() -> None:
    class Later:
        def __await__(self) -> Any:
            yield from ()
            return "later"

    def body(ctx: StepContext) -> Any:
        return Later()

    result = await (await one(create_step(id="later", execute=body)).create_run()).start(
        input_data=None
    )
    assert (result.status, result.result) == ("success", "later")


async def test_a_lambda_wrapping_an_async_body_can_suspend_and_resume() -> None:
    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"question": "ok?"})
        return ctx.resume_data

    wf = one(create_step(id="ask", execute=lambda ctx: ask(ctx)))
    run = await wf.create_run()
    suspended = await run.start(input_data=None)
    assert suspended.status == "suspended"
    assert suspended.to_dict()["suspendPayload"] == {"ask": {"question": "ok?"}}
    resumed = await run.resume(resume_data="yes")
    assert (resumed.status, resumed.result) == ("success", "yes")


@pytest.mark.parametrize("returned", [False, True])
async def test_suspend_in_a_def_body_fails_the_step_at_once_with_a_clear_error(
    returned: bool,
) -> None:
    after: list[str] = []

    def body(ctx: StepContext) -> Any:
        if returned:
            return ctx.suspend({"question": "ok?"})
        ctx.suspend({"question": "ok?"})
        after.append("went on")
        return "done"

    wf = one(create_step(id="review", execute=body, retries=2))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, RxflowError)
    assert str(result.error) == (
        "step 'review': ctx.suspend() was called in a plain def body, which runs in a worker "
        "thread; only an async def body can suspend: make it 'async def' and "
        "'return await ctx.suspend(...)'"
    )
    assert after == []


async def test_the_writer_of_a_def_body_streams_in_order_before_the_result() -> None:
    def body(ctx: StepContext) -> Any:
        for n in range(3):
            ctx.writer.write({"n": n})
        ctx.writer.custom({"type": "data-progress", "data": 3})
        return "written"

    wf = one(create_step(id="writes", execute=body))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-output",
        "workflow-step-output",
        "data-progress",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert [c.payload.output for c in chunks[2:5]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert chunks[5].data == 3
    assert (await output.result).result == "written"


async def test_a_def_body_may_return_what_the_writer_returns() -> None:
    wf = one(create_step(id="w", execute=lambda ctx: ctx.writer.write("hi")))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    assert [c.payload.output for c in chunks if c.type == "workflow-step-output"] == ["hi"]
    assert (await output.result).result is None


async def test_a_bad_custom_chunk_in_a_def_body_fails_the_step() -> None:
    wf = one(create_step(id="w", execute=lambda ctx: ctx.writer.custom({"type": "progress"})))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert str(result.error) == (
        "custom chunk type must be a string starting with 'data-', got 'progress'"
    )


async def test_bail_and_set_state_from_a_def_body() -> None:
    def body(ctx: StepContext) -> Any:
        ctx.set_state({"seen": True})
        return ctx.bail({"early": ctx.input_data})

    wf = (
        create_workflow(id="bails")
        .then(create_step(id="b", execute=body))
        .then(create_step(id="never", execute=lambda ctx: "not reached"))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert (result.status, result.result) == ("success", {"early": 1})
    assert result.state == {"seen": True}
    assert "never" not in result.steps
