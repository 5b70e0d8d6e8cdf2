"""The app the server tests serve (with uvicorn, in a subprocess): a few workflows, stored in
memory, in SQLite when RXFLOW_TEST_DB names a file, or in PostgreSQL when RXFLOW_TEST_PG is a
DSN."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import attrs

from rxflow import SQLiteStorage, create_step, create_workflow
from rxflow.server import create_app


@attrs.frozen
class Value:
    value: int


@attrs.frozen
class Decision:
    approved: bool


async def add_one(ctx: Any) -> dict[str, int]:
    await ctx.writer.write({"note": "adding one", "at": 1})
    return {"value": ctx.input_data.value + 1}


async def double(ctx: Any) -> dict[str, int]:
    return {"value": ctx.input_data.value * 2}


async def approve(ctx: Any) -> dict[str, int]:
    if ctx.resume_data is None:
        return await ctx.suspend({"reason": "need approval"})
    return {"value": ctx.input_data.value if ctx.resume_data.approved else 0}


async def nap(ctx: Any) -> dict[str, int]:
    await asyncio.sleep(ctx.input_data.value / 1000)
    return {"value": ctx.input_data.value}


async def kaboom(ctx: Any) -> None:
    raise RuntimeError("kaboom")


def step(step_id: str, body: Any, **schemas: Any) -> Any:
    return create_step(id=step_id, execute=body, input_schema=Value, output_schema=Value, **schemas)


def workflows() -> dict[str, Any]:
    db = os.environ.get("RXFLOW_TEST_DB")
    dsn = os.environ.get("RXFLOW_TEST_PG")
    storage: Any = SQLiteStorage(db) if db else None
    if dsn:
        from rxflow.storage.postgres import PostgresStorage

        storage = PostgresStorage(dsn)

    def flow(flow_id: str, *steps: Any) -> Any:
        wf = create_workflow(
            id=flow_id,
            input_schema=Value,
            output_schema=Value,
            storage=storage,
            description=f"the {flow_id} workflow",
        )
        for s in steps:
            wf = wf.then(s)
        return wf.commit()

    return {
        "demoWorkflow": flow("demo-workflow", step("add-one", add_one), step("double", double)),
        "approval": flow(
            "approval",
            step("add-one", add_one),
            step("approve", approve, resume_schema=Decision, suspend_schema=dict[str, str]),
            step("double", double),
        ),
        "slow": flow("slow", step("nap", nap), step("double", double)),
        "fails": flow("fails", step("add-one", add_one), create_step(id="kaboom", execute=kaboom)),
    }


app = create_app(workflows(), max_body_bytes=int(os.environ.get("RXFLOW_TEST_MAX_BODY", "65536")))
