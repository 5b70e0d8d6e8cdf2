"""An app for the server's load tests: ``gated`` waits (polling) until the file its input
names exists, then writes ``count`` chunks with its writer and ends."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import attrs

from rxflow import create_step, create_workflow
from rxflow.server import create_app

GATE_GUARD_SECONDS = 120


@attrs.frozen
class Gate:
    path: str
    count: int


async def wait_then_write(ctx: Any) -> dict[str, int]:
    gate: Gate = ctx.input_data
    for _ in range(GATE_GUARD_SECONDS * 100):
        if os.path.exists(gate.path):
            break
        await asyncio.sleep(0.01)  # the workload: a step waiting for something outside
    for index in range(gate.count):
        await ctx.writer.write({"index": index})
    return {"written": gate.count}


def workflows() -> dict[str, Any]:
    step = create_step(id="wait-then-write", execute=wait_then_write, input_schema=Gate)
    gated = create_workflow(id="gated", input_schema=Gate).then(step).commit()
    return {"gated": gated}


app = create_app(workflows())
