"""The benchmark workflows of the Mastra server peer, served by rxflow: chain5 (five steps of
value + 1), fanout (foreach double over a list, concurrency 16) and suspend1. Storage from
RXFLOW_BENCH_DB: unset for in memory, a path for SQLite."""

from __future__ import annotations

import os
from typing import Any

import attrs
from rxflow import SQLiteStorage, create_step, create_workflow
from rxflow.server import create_app


@attrs.frozen
class V:
    value: float


@attrs.frozen
class Ok:
    ok: bool


def _inc(index: int) -> Any:
    async def inc(ctx: Any) -> V:
        return V(ctx.input_data.value + 1)

    return create_step(id=f"inc{index}", execute=inc, input_schema=V, output_schema=V)


async def _double(ctx: Any) -> float:
    return float(ctx.input_data * 2)


async def _ask(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": "ok?"})
    return {"value": ctx.input_data.value, "ok": ctx.resume_data.ok}


def workflows() -> dict[str, Any]:
    db = os.environ.get("RXFLOW_BENCH_DB")
    storage = SQLiteStorage(db) if db else None
    chain = create_workflow(id="chain5", input_schema=V, output_schema=V, storage=storage)
    for index in range(1, 6):
        chain = chain.then(_inc(index))
    double = create_step(id="double", execute=_double, input_schema=float, output_schema=float)
    fanout = create_workflow(
        id="fanout", input_schema=list[float], output_schema=list[float], storage=storage
    ).foreach(double, concurrency=16)
    ask = create_step(id="ask", execute=_ask, input_schema=V, resume_schema=Ok)
    suspend1 = create_workflow(id="suspend1", input_schema=V, storage=storage).then(ask)
    return {"chain5": chain.commit(), "fanout": fanout.commit(), "suspend1": suspend1.commit()}


app = create_app(workflows())
