"""An order workflow served over HTTP on Mastra's routes: price the items, wait for a person's
approval (a suspension), then confirm.

Serve it with ``rxflow serve examples/http_app.py:workflows`` (runs in ./rxflow.db, on
http://127.0.0.1:4111/api), then drive it from JavaScript with the Mastra client::

    const client = new MastraClient({ baseUrl: "http://127.0.0.1:4111" });
    const run = await client.getWorkflow("orders").createRun();
    const items = [{ sku: "A", quantity: 2, price: 3.5 }];
    const result = await run.startAsync({ inputData: { items } });
    // result.status === "suspended": a person approves
    await run.resumeAsync({ step: "approve", resumeData: { approved: true } });

or with ``curl``::

    curl -X POST 'http://127.0.0.1:4111/api/workflows/orders/stream?runId=o1' \\
         -H 'content-type: application/json' \\
         -d '{"inputData": {"items": [{"sku": "A", "quantity": 2, "price": 3.5}]}}'
"""

from __future__ import annotations

import attrs

from rxflow import StepContext, Suspended, create_workflow, step


@attrs.frozen
class Item:
    sku: str
    quantity: int
    price: float


@attrs.frozen
class Order:
    items: list[Item]


@attrs.frozen
class Priced:
    total: float


@attrs.frozen
class Decision:
    approved: bool


@attrs.frozen
class Confirmation:
    total: float
    approved: bool


@step(id="price", input_schema=Order, output_schema=Priced)
async def price(ctx: StepContext) -> Priced:
    order: Order = ctx.input_data
    await ctx.writer.write(f"pricing {len(order.items)} items")
    return Priced(sum(item.quantity * item.price for item in order.items))


@step(id="approve", input_schema=Priced, output_schema=Confirmation, resume_schema=Decision)
async def approve(ctx: StepContext) -> Confirmation | Suspended:
    if ctx.resume_data is None:
        return await ctx.suspend({"total": ctx.input_data.total, "ask": "approve this order?"})
    return Confirmation(ctx.input_data.total, ctx.resume_data.approved)


orders = (
    create_workflow(id="orders", input_schema=Order, output_schema=Confirmation)
    .then(price)
    .then(approve)
    .commit()
)

# What `rxflow serve examples/http_app.py:workflows` serves: registry keys to workflows.
workflows = {"orders": orders}
