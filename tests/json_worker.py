"""A worker process for the JSON safety tests: ``json_worker.py MODE DB RUN_ID``.

``start`` runs the quote workflow on SQLite to its suspension; ``resume`` resumes it (in a
fresh process) and prints, as JSON, the type of every value the last step received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs

from rxflow import SQLiteStorage, StepContext, create_step, create_workflow


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@attrs.define
class Line:
    sku: str
    price: Decimal


@dataclasses.dataclass
class Shipping:
    carrier: str
    on: date


@attrs.define
class Quote:
    total: Decimal
    at: datetime
    id: uuid.UUID
    tier: Tier
    line: Line
    shipping: Shipping


@attrs.define
class Totals:
    running: Decimal = Decimal(0)


QUOTE = Quote(
    total=Decimal("19.99"),
    at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    tier=Tier.GOLD,
    line=Line("pen", Decimal("0.10")),
    shipping=Shipping("post", date(2025, 3, 9)),
)


async def price(ctx: StepContext) -> Quote:
    ctx.set_state({"running": Decimal("19.99")})
    return QUOTE


async def approve(ctx: StepContext) -> Quote:
    if ctx.resume_data is None:
        return await ctx.suspend({"total": ctx.input_data.total})
    return ctx.input_data  # type: ignore[no-any-return]


def _types(quote: Any, state: Any) -> dict[str, str]:
    return {
        "quote": type(quote).__name__,
        "total": type(quote.total).__name__,
        "at": type(quote.at).__name__,
        "id": type(quote.id).__name__,
        "tier": type(quote.tier).__name__,
        "line": type(quote.line).__name__,
        "line.price": type(quote.line.price).__name__,
        "shipping": type(quote.shipping).__name__,
        "shipping.on": type(quote.shipping.on).__name__,
        "state.running": type(state["running"]).__name__,
        "equal": str(quote == QUOTE),
    }


async def ship(ctx: StepContext) -> dict[str, str]:
    return _types(ctx.input_data, ctx.state)


def quotes(db: str) -> Any:
    """price (a Quote) -> approve (suspends) -> ship (reports the types it received)"""
    return (
        create_workflow(id="quotes", storage=SQLiteStorage(db), state_schema=Totals)
        .then(create_step(id="price", execute=price, output_schema=Quote))
        .then(create_step(id="approve", execute=approve, output_schema=Quote))
        .then(create_step(id="ship", execute=ship))
        .commit()
    )


async def main(mode: str, db: str, run_id: str) -> None:
    wf = quotes(db)
    run = await wf.create_run(run_id=run_id)
    if mode == "start":
        result = await run.start(input_data={})
    else:
        result = await run.resume(resume_data={"ok": True})
    print(json.dumps({"status": result.status, "result": result.result}))
    await wf.storage.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
