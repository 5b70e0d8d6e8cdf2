"""``ctx.writer``: a step streaming many chunks lets the rest of the event loop run."""

from __future__ import annotations

import asyncio

from conftest import collect

from rxflow import StepContext, create_step, create_workflow

CHUNKS = 100_000


async def test_a_writing_step_lets_other_coroutines_run() -> None:
    ticks = 0
    stop = False
    ticks_while_writing: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    async def writes(ctx: StepContext) -> int:
        before = ticks
        for index in range(CHUNKS):
            await ctx.writer.write(index)
        ticks_while_writing.append(ticks - before)
        return CHUNKS

    async def customs(ctx: StepContext) -> int:
        before = ticks
        for index in range(CHUNKS):
            await ctx.writer.custom({"type": "data-n", "data": index})
        ticks_while_writing.append(ticks - before)
        return CHUNKS

    wf = (
        create_workflow(id="writes")
        .then(create_step(id="writes", execute=writes))
        .then(create_step(id="customs", execute=customs))
        .commit()
    )
    ticking = asyncio.get_running_loop().create_task(ticker())
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=None))
    stop = True
    await ticking
    # No other coroutine would run once while a step writes without yielding; the writer
    # yields every few hundred chunks at most.
    assert len(ticks_while_writing) == 2
    assert min(ticks_while_writing) >= CHUNKS // 300
    outputs = [c.payload.output for c in chunks if c.type == "workflow-step-output"]
    assert outputs == list(range(CHUNKS))
    custom = [c.data for c in chunks if c.type == "data-n"]
    assert custom == list(range(CHUNKS))
    assert chunks[-1].to_dict()["payload"]["workflowStatus"] == "success"
