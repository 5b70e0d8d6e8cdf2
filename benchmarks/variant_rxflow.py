"""rxflow under benchmark, through its public API only (SPEC §2–§5).

Chains are `create_workflow(...).then(step)...commit()`; fan-out is
`.foreach(step, concurrency=conc)`. Every run is `await wf.create_run()`, then
`run.stream(input_data=...)` drained with `async for`, then `await output.result`.
Also holds the depth checks (a long chain and deeply nested workflows), which
must pass at the interpreter's default recursion limit.
"""

from __future__ import annotations

import asyncio

from rxflow import create_step, create_workflow

from common import Probe

ORDERED_FANOUT = True  # foreach returns outputs in input order (SPEC §3)


def is_progress(chunk) -> bool:
    return chunk.type == "workflow-step-progress"


async def _inc(ctx):
    return ctx.input_data + 1


async def _yield_inc(ctx):
    await asyncio.sleep(0)
    return ctx.input_data + 1


async def _stream(wf, input_data, probe):
    """One streamed run; returns the successful result's value, raises otherwise."""
    run = await wf.create_run()
    probe.start()
    output = run.stream(input_data=input_data)
    async for chunk in output:
        probe(chunk)
    result = await output.result
    if result.status != "success":
        raise RuntimeError(f"run ended {result.status!r}: {getattr(result, 'error', None)!r}")
    return result.result


# ---- chain (W1, W1s, W3, W4) -----------------------------------------------
def build_chain(n: int, variant: str, yielding: bool = False):
    body = _yield_inc if yielding else _inc
    wf = create_workflow(id=f"chain{n}")
    for i in range(n):
        wf = wf.then(create_step(id=f"s{i}", execute=body))
    return wf.commit()


async def run_chain(wf, x, probe, variant):
    return await _stream(wf, x, probe)


# ---- fan-out (W2) -----------------------------------------------------------
async def _item(ctx):
    await asyncio.sleep(0)
    return ctx.input_data + 1


def build_fanout(conc: int, variant: str):
    work = create_step(id="work", execute=_item)
    return create_workflow(id="fan").foreach(work, concurrency=conc).commit()


async def run_fanout(wf, n, conc, probe, variant):
    return await _stream(wf, list(range(n)), probe)


# ---- depth checks -------------------------------------------------------------
def build_nested(depth: int):
    """A workflow whose single step is a workflow ... `depth` levels; the
    innermost one increments its input, so a run returns input + 1."""
    wf = create_workflow(id="nested0").then(create_step(id="inc", execute=_inc)).commit()
    for level in range(1, depth):
        wf = create_workflow(id=f"nested{level}").then(wf).commit()
    return wf


async def check_depth(kind: str, size: int):
    """Run one depth check; returns the value of the successful run."""
    wf = build_chain(size, "rxflow") if kind == "chain" else build_nested(size)
    return await _stream(wf, 0, Probe())
