"""Workflows for the command line tests, one per outcome (success, failed, suspended, canceled,
tripwire), a small graph, and a foreach whose items wait for files the test writes.

``RXFLOW_CLI_TEST_DIR`` names the directory of those files: ``allow`` holds how many items may
finish; item i writes ``started.i`` when it starts; a step that sees ``CancelledError`` writes
``cancelled.marker``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from rxflow import StepContext, TripWire, create_step, create_workflow


def _dir() -> Path:
    return Path(os.environ.get("RXFLOW_CLI_TEST_DIR", "."))


# -- one workflow per outcome ------------------------------------------------------------------


async def greet_body(ctx: StepContext) -> dict[str, Any]:
    await ctx.writer.write(f"greeting {ctx.input_data['name']}")
    return {"greeting": f"hello {ctx.input_data['name']}"}


async def shout_body(ctx: StepContext) -> dict[str, Any]:
    return {"greeting": ctx.input_data["greeting"].upper(), "state": ctx.state}


greet = (
    create_workflow(id="greet", input_schema=dict)
    .then(create_step(id="greet", execute=greet_body))
    .then(create_step(id="shout", execute=shout_body))
    .commit()
)


def explode(ctx: StepContext) -> None:
    raise ValueError(f"cannot handle {ctx.input_data!r}")


failing = (
    create_workflow(id="failing")
    .then(create_step(id="prepare", execute=lambda ctx: ctx.input_data))
    .then(create_step(id="explode", execute=explode))
    .commit()
)


async def review_body(ctx: StepContext) -> dict[str, Any]:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": f"approve {ctx.input_data}?"})
    return {"document": ctx.input_data, "approved": ctx.resume_data["approved"]}


approval = (
    create_workflow(id="approval")
    .then(create_step(id="draft", execute=lambda ctx: f"draft of {ctx.input_data}"))
    .then(create_step(id="review", execute=review_body))
    .commit()
)


def guard(ctx: StepContext) -> Any:
    raise TripWire("content flagged", metadata={"rule": "no-spam"})


guarded = create_workflow(id="guarded").then(create_step(id="guard", execute=guard)).commit()


_attempts: dict[str, int] = {}


def flaky_body(ctx: StepContext) -> dict[str, Any]:
    """Fails its first two attempts in each run, then succeeds."""
    attempt = _attempts[ctx.run_id] = _attempts.get(ctx.run_id, 0) + 1
    if attempt <= 2:
        raise ConnectionError(f"attempt {attempt} failed")
    return {"a": "xy", "attempts": attempt}


flaky = (
    create_workflow(id="flaky").then(create_step(id="load", execute=flaky_body, retries=3)).commit()
)


# -- a foreach the test paces -----------------------------------------------------------------


def _allowed() -> int:
    try:
        return int((_dir() / "allow").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


async def gated_item(ctx: StepContext) -> int:
    """Item i finishes once ``allow`` holds a number above i (polled: a file the test writes)."""
    index = ctx.input_data
    (_dir() / f"started.{index}").write_text("")
    try:
        while _allowed() <= index:
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:
        (_dir() / "cancelled.marker").write_text(f"item {index}")
        raise
    await ctx.writer.write(f"item {index} done")
    return index * 10


slow_items = (
    create_workflow(id="slow_items")
    .then(create_step(id="prepare", execute=lambda ctx: list(range(ctx.input_data or 10))))
    .foreach(create_step(id="process", execute=gated_item), concurrency=2)
    .then(create_step(id="total", execute=lambda ctx: sum(ctx.input_data)))
    .commit()
)


# -- a small graph, for `rxflow graph` ----------------------------------------------------------


def _same(ctx: StepContext) -> Any:
    return ctx.input_data


def is_big(ctx: Any) -> bool:
    return len(ctx.input_data["a"]) > 10


def is_small(ctx: Any) -> bool:
    return not is_big(ctx)


inner = create_workflow(id="inner").then(create_step(id="clean", execute=_same)).commit()

small = (
    create_workflow(id="small")
    .then(create_step(id="load", execute=_same, retries=2))
    .parallel([create_step(id="a", execute=_same), create_step(id="b", execute=_same)])
    .branch(
        [
            (is_big, create_step(id="big", execute=_same)),
            (is_small, create_step(id="tiny", execute=_same)),
        ]
    )
    .dountil(create_step(id="again", execute=_same), lambda ctx: True)
    .then(inner)
    .sleep(5, id="pause")
    .map(lambda ctx: [1, 2], id="items")
    .foreach(create_step(id="each", execute=_same), concurrency=4)
    .commit()
)

# -- registries and things that are not workflows -------------------------------------------------

registry = {"approval": approval, "greet": greet, "slow": slow_items}
not_a_workflow = 42
uncommitted = create_workflow(id="uncommitted").then(create_step(id="x", execute=_same))
