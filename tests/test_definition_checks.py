"""Definition checks: ids with '.' (the step path separator) are refused when a step or a
workflow is made, and the live verbs called with no running event loop say what to do."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rxflow import WorkflowDefinitionError, create_step, create_workflow, step


def body(ctx: Any) -> Any:
    return ctx.input_data


DOT_MESSAGE = (
    "{kind} id 'review.legal' contains '.', which separates the ids of nested steps in a step "
    "path (like resume(step='outer.inner')); use another character, such as '-' or '_'"
)


def test_a_step_id_with_a_dot_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_step(id="review.legal", execute=body)
    assert str(caught.value) == DOT_MESSAGE.format(kind="step")
    with pytest.raises(WorkflowDefinitionError) as caught:
        step(id="review.legal")(body)
    assert str(caught.value) == DOT_MESSAGE.format(kind="step")


def test_a_workflow_id_with_a_dot_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        create_workflow(id="review.legal")
    assert str(caught.value) == DOT_MESSAGE.format(kind="workflow")


def test_ids_with_other_separators_are_fine() -> None:
    inner = create_workflow(id="review-legal").then(create_step(id="a_b-c", execute=body))
    create_workflow(id="outer").then(inner.commit()).commit()


def _run_without_a_loop() -> Any:
    wf = create_workflow(id="no-loop").then(create_step(id="s", execute=body)).commit()

    async def make() -> Any:
        return await wf.create_run()

    return asyncio.run(make())


def test_stream_without_a_running_loop_says_what_to_do() -> None:
    run = _run_without_a_loop()
    with pytest.raises(RuntimeError) as caught:
        run.stream(input_data=1)
    assert str(caught.value) == (
        "run.stream() runs on the asyncio event loop running when it is called, and none is "
        "running: call it from async code (inside a coroutine or a notebook cell)"
    )
    assert run.status == "pending"  # nothing was started: it can still run

    async def later() -> Any:
        return await run.start(input_data=2)

    assert asyncio.run(later()).result == 2


def test_resume_stream_without_a_running_loop_says_what_to_do() -> None:
    run = _run_without_a_loop()
    with pytest.raises(RuntimeError) as caught:
        run.resume_stream(resume_data=1)
    assert str(caught.value) == (
        "run.resume_stream() runs on the asyncio event loop running when it is called, and "
        "none is running: call it from async code (inside a coroutine or a notebook cell)"
    )
