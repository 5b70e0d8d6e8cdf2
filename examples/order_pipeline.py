"""A multi-step order workflow, streamed live: a chain, a parallel block, a map, a nested
workflow and a foreach with progress, each event printed as it arrives.

Run it with ``python examples/order_pipeline.py``.
"""

from __future__ import annotations

import asyncio

import attrs

from rxflow import StepContext, create_step, create_workflow, step


@attrs.frozen
class Order:
    id: str
    items: list[str]
    total: float


@attrs.frozen
class PricedOrder:
    id: str
    items: list[str]
    total: float
    tax: float


@step(id="validate", input_schema=Order, output_schema=Order)
async def validate(ctx: StepContext) -> Order:
    order: Order = ctx.input_data
    await ctx.writer.write({"check": "items present", "ok": bool(order.items)})
    return order


@step(id="price", input_schema=Order, output_schema=PricedOrder)
async def price(ctx: StepContext) -> PricedOrder:
    order: Order = ctx.input_data
    ctx.record_usage(input_tokens=120, output_tokens=30)  # e.g. an LLM priced it
    return PricedOrder(order.id, order.items, order.total, round(order.total * 0.2, 2))


async def check_stock(ctx: StepContext) -> dict[str, bool]:
    await asyncio.sleep(0.02)
    return {item: True for item in ctx.input_data.items}


async def check_fraud(ctx: StepContext) -> dict[str, float]:
    await asyncio.sleep(0.01)
    return {"score": 0.03}


def pack_item(ctx: StepContext) -> str:  # a plain def runs in a worker thread
    return f"box({ctx.input_data})"


async def label(ctx: StepContext) -> str:
    return f"label for {ctx.input_data['box']}"


# A nested workflow: its step events appear in the parent stream as "shipping.<step>".
shipping = (
    create_workflow(id="shipping")
    .then(create_step(id="pack", execute=lambda ctx: {"box": f"{len(ctx.input_data)} items"}))
    .then(create_step(id="label", execute=label))
    .commit()
)

checkout = (
    create_workflow(id="checkout", input_schema=Order)
    .then(validate)
    .then(price)
    .parallel(
        [create_step(id="stock", execute=check_stock), create_step(id="fraud", execute=check_fraud)]
    )
    .map(lambda ctx: ctx.get_step_result("price").items)
    .foreach(create_step(id="pack_item", execute=pack_item), concurrency=2)
    .then(shipping)
    .commit()
)


def describe(chunk: object) -> str:
    """One readable line per event."""
    wire = chunk.to_dict()  # type: ignore[attr-defined]
    payload = wire.get("payload", {})
    name = payload.get("stepName") or payload.get("id") or ""
    detail = ""
    if chunk.type == "workflow-step-result":  # type: ignore[attr-defined]
        detail = f"{payload['status']} -> {payload.get('output', payload.get('error'))}"
    elif chunk.type == "workflow-step-progress":  # type: ignore[attr-defined]
        detail = (
            f"{payload['completedCount']}/{payload['totalCount']} (item {payload['currentIndex']})"
        )
    elif chunk.type == "workflow-step-output":  # type: ignore[attr-defined]
        detail = str(payload["output"])
    elif chunk.type == "workflow-finish":  # type: ignore[attr-defined]
        detail = f"{payload['workflowStatus']}, usage {payload['output']['usage']}"
    return f"{chunk.type:<24} {name:<20} {detail}"  # type: ignore[attr-defined]


async def main() -> None:
    run = await checkout.create_run()
    output = run.stream(
        input_data={"id": "A-17", "items": ["lamp", "desk", "chair"], "total": 250.0}
    )
    async for chunk in output:
        print(describe(chunk))
    result = await output.result
    usage = await output.usage
    print()
    print(f"status: {result.status}")
    print(f"result: {result.result}")
    print(f"steps:  {', '.join(result.step_execution_path)}")
    print(f"usage:  {usage.input_tokens} in / {usage.output_tokens} out")


if __name__ == "__main__":
    asyncio.run(main())
