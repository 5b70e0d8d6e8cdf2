"""The workflows the run viewer's browser tests serve with `rxflow serve viewer_app:WORKFLOWS`:
one for each thing the viewer shows (a chain, a suspension, a nested one, a failure, a foreach,
a step held until the test releases it, a rich input schema, every graph shape). A held step
waits for the file named by RXFLOW_TEST_GATE + its input's `gate` to exist, so the tests
decide when it ends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

import attrs

from rxflow import create_step, create_workflow


@attrs.frozen
class Value:
    value: int


@attrs.frozen
class Decision:
    approved: bool
    note: str = ""


@attrs.frozen
class Gate:
    gate: str


@attrs.frozen
class Address:
    city: str
    zip_code: str = ""


@attrs.frozen
class Order:
    item: str
    quantity: int
    tags: list[str]
    priority: Literal["low", "high"]
    address: Address
    note: str | None = None


@attrs.frozen
class Batch:
    count: int


async def add_one(ctx: Any) -> dict[str, int]:
    await ctx.writer.write({"note": "adding one"})
    return {"value": ctx.input_data.value + 1}


async def double(ctx: Any) -> dict[str, int]:
    return {"value": ctx.input_data.value * 2}


async def approve(ctx: Any) -> dict[str, int]:
    if ctx.resume_data is None:
        return await ctx.suspend({"reason": "need approval"})
    return {"value": ctx.input_data.value if ctx.resume_data.approved else 0}


async def hold(ctx: Any) -> dict[str, str]:
    """Wait until the test creates the gate file (a cancel ends the wait)."""
    path = Path(os.environ["RXFLOW_TEST_GATE"]) / ctx.input_data.gate
    while not path.exists():
        await asyncio.sleep(0.02)
    return {"gate": ctx.input_data.gate}


async def opened(ctx: Any) -> dict[str, str]:
    return {"gate": ctx.input_data.gate}


async def kaboom(ctx: Any) -> None:
    raise RuntimeError("kaboom")


async def items(ctx: Any) -> list[int]:
    return list(range(ctx.input_data.count))


async def square(ctx: Any) -> int:
    await asyncio.sleep(0.01)
    value: int = ctx.input_data
    return value * value


async def total(ctx: Any) -> dict[str, int]:
    return {"value": sum(ctx.input_data)}


async def same(ctx: Any) -> Any:
    return ctx.input_data


async def merge(ctx: Any) -> dict[str, int]:
    return {"value": 1}


def step(step_id: str, body: Any, schema: Any = Value, **more: Any) -> Any:
    return create_step(id=step_id, execute=body, input_schema=schema, output_schema=schema, **more)


def workflows() -> dict[str, Any]:
    def flow(flow_id: str, schema: Any, description: str) -> Any:
        return create_workflow(id=flow_id, input_schema=schema, description=description)

    inner = (
        create_workflow(id="inner", input_schema=Value, output_schema=Value)
        .then(step("inner-one", add_one))
        .then(step("inner-two", double))
        .commit()
    )
    review = (
        create_workflow(id="review", input_schema=Value, output_schema=Value)
        .then(step("approve", approve, resume_schema=Decision))
        .commit()
    )
    return {
        "chain": flow("chain", Value, "adds one, then doubles")
        .then(step("add-one", add_one))
        .then(step("double", double))
        .commit(),
        "approval": flow("approval", Value, "waits for a person's decision")
        .then(step("add-one", add_one))
        .then(step("approve", approve, resume_schema=Decision, suspend_schema=dict[str, str]))
        .then(step("double", double))
        .commit(),
        "nested-approval": flow("nested-approval", Value, "a nested workflow waits for a person")
        .then(step("add-one", add_one))
        .then(review)
        .then(step("double", double))
        .commit(),
        "order": flow("order", Order, "takes an order with a nested address")
        .then(create_step(id="take", execute=same, input_schema=Order))
        .commit(),
        "broken": flow("broken", Value, "fails in its second step")
        .then(step("add-one", add_one))
        .then(create_step(id="kaboom", execute=kaboom, input_schema=Value))
        .commit(),
        "held": flow("held", Gate, "one step held until its gate opens")
        .then(step("hold", hold, Gate))
        .then(step("after", opened, Gate))
        .commit(),
        "squares": flow("squares", Batch, "squares each number of a list")
        .then(create_step(id="items", execute=items, input_schema=Batch))
        .foreach(create_step(id="square", execute=square), concurrency=4)
        .then(create_step(id="total", execute=total))
        .commit(),
        # Nodes: start, p1, p2, merge, b1, b2, pick, again, inner, inner-one, inner-two, the
        # sleep, items, square, total: 15.
        "shapes": flow("shapes", Value, "every shape a graph can have")
        .then(step("start", same))
        .parallel([step("p1", add_one), step("p2", double)])
        .then(create_step(id="merge", execute=merge, output_schema=Value))
        .branch(
            [
                (lambda ctx: ctx.input_data.value > 0, step("b1", add_one)),
                (lambda ctx: ctx.input_data.value <= 0, step("b2", double)),
            ]
        )
        .then(create_step(id="pick", execute=merge, output_schema=Value))
        .dountil(step("again", add_one), lambda ctx: ctx.input_data.value > 3)
        .then(inner)
        .sleep(5)
        .then(create_step(id="items", execute=lambda ctx: [1, 2, 3]))
        .foreach(create_step(id="square", execute=square))
        .then(create_step(id="total", execute=total))
        .commit(),
    }


# `rxflow serve` stores their runs in the file its --db names.
WORKFLOWS = workflows()
