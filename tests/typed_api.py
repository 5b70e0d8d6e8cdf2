"""Type checks of the public API: mypy --strict and pyright run on this module (see
tests/test_typing.py); each ``assert_type`` states what a checker must infer. It also runs."""

from __future__ import annotations

import asyncio
from typing import Any, assert_type

from rxflow import (
    Bail,
    Run,
    Step,
    StepContext,
    Suspended,
    Usage,
    Workflow,
    WorkflowResult,
    WorkflowRunOutput,
    create_step,
    create_workflow,
)
from rxflow.events import (
    CustomChunk,
    WorkflowFinish,
    WorkflowStepProgress,
    WorkflowStepResult,
)


async def ask(ctx: StepContext) -> Suspended | int:
    if ctx.resume_data is None:
        suspended = await ctx.suspend({"question": "how many?"})
        assert_type(suspended, Suspended)
        return suspended
    return int(ctx.resume_data)


def stop_early(ctx: StepContext) -> Bail:
    bail = ctx.bail(ctx.input_data)
    assert_type(bail, Bail)
    return bail


async def double(ctx: StepContext[int]) -> str:
    assert_type(ctx.input_data, int)
    return str(ctx.input_data * 2)


def untyped(ctx: StepContext) -> None:
    assert_type(ctx.input_data, Any)


assert_type(create_step(id="double", execute=double), Step[int, str])
assert_type(create_step(id="stop", execute=stop_early), Step[Any, Bail])
assert_type(create_step(id="untyped", execute=untyped), Step[Any, None])

# A workflow is typed by its schemas; a schema not given is Any.
assert_type(create_workflow(id="io", input_schema=int, output_schema=str), Workflow[int, str])
assert_type(create_workflow(id="in", input_schema=int), Workflow[int, Any])
assert_type(create_workflow(id="out", output_schema=str), Workflow[Any, str])
assert_type(create_workflow(id="none"), Workflow[Any, Any])


async def typed_run() -> str | None:
    """The output type flows from ``output_schema`` through the builder, the run and its
    outputs to ``result.result``."""
    wf = (
        create_workflow(id="typed-io", input_schema=int, output_schema=str)
        .then(create_step(id="double", execute=double))
        .commit()
    )
    assert_type(wf, Workflow[int, str])
    run = await wf.create_run()
    assert_type(run, Run[int, str])
    started = await run.start(input_data=4)
    assert_type(started, WorkflowResult[str])
    assert_type(started.result, str | None)
    output = (await wf.create_run()).stream(input_data=5)
    assert_type(output, WorkflowRunOutput[str])
    streamed = await output.result
    assert_type(streamed, WorkflowResult[str])
    assert_type(streamed.result, str | None)
    return streamed.result


async def main() -> None:
    wf = (
        create_workflow(id="typed")
        .foreach(create_step(id="each", execute=lambda ctx: ctx.input_data), concurrency=2)
        .then(create_step(id="stop", execute=stop_early))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=[1, 2, 3])
    async for chunk in output:
        if chunk.type == "workflow-step-progress":
            assert_type(chunk, WorkflowStepProgress)
            assert_type(chunk.payload.completed_count, int)
        elif chunk.type == "workflow-step-result":
            assert_type(chunk, WorkflowStepResult)
        elif chunk.type == "workflow-finish":
            assert_type(chunk, WorkflowFinish)
        elif isinstance(chunk, CustomChunk):
            assert_type(chunk.data, Any)
    result = await output.result
    assert_type(result, WorkflowResult[Any])
    assert_type(result.result, Any | None)
    assert_type(await output.usage, Usage)
    print(result.status, result.result, await typed_run())


if __name__ == "__main__":
    asyncio.run(main())
