"""Workflows shared by the durability tests and their worker processes.

Every step appends its name to ``executions.log`` in ``RXFLOW_TEST_DIR``, so a test can count
how often each step ran across processes. Steps marked "blocking" wait forever when
``RXFLOW_TEST_BLOCK`` is set (in the process the test kills), and return at once otherwise.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from rxflow import SQLiteStorage, StepContext, create_step, create_workflow


def _dir() -> Path:
    return Path(os.environ["RXFLOW_TEST_DIR"])


def record(name: str) -> None:
    with open(_dir() / "executions.log", "a") as log:
        log.write(name + "\n")
        log.flush()
        os.fsync(log.fileno())


def executions() -> dict[str, int]:
    path = _dir() / "executions.log"
    counts: dict[str, int] = {}
    if path.exists():
        for line in path.read_text().split():
            counts[line] = counts.get(line, 0) + 1
    return counts


def signal(name: str) -> None:
    (_dir() / name).write_text("ready")


async def block_if_asked() -> None:
    if os.environ.get("RXFLOW_TEST_BLOCK"):
        await asyncio.Event().wait()


async def step_a(ctx: StepContext) -> dict[str, int]:
    record("a")
    return {"n": ctx.input_data["n"] + 1}


async def step_b(ctx: StepContext) -> dict[str, int]:
    record("b")
    return {"n": ctx.input_data["n"] * 10}


async def step_slow(ctx: StepContext) -> dict[str, int]:
    record("slow")
    signal("slow.started")
    await block_if_asked()
    return {"n": ctx.input_data["n"] + 5}


async def step_c(ctx: StepContext) -> dict[str, int]:
    record("c")
    return {"n": ctx.input_data["n"] * 2}


async def approve(ctx: StepContext) -> Any:
    record("approve")
    if ctx.resume_data is None:
        return await ctx.suspend({"reason": "need ok"})
    return {"approved": ctx.resume_data["ok"], "n": ctx.input_data["n"]}


async def send(ctx: StepContext) -> dict[str, Any]:
    record("send")
    if os.environ.get("RXFLOW_TEST_HOLD"):  # keep the run claimed until the test lets go
        release = _dir() / "release"
        while not release.exists():
            await asyncio.sleep(0.002)
    return {"sent": ctx.input_data["approved"], "n": ctx.input_data["n"]}


async def item(ctx: StepContext) -> int:
    index = ctx.input_data
    record(f"item{index}")
    if index >= 8:
        await block_if_asked()
    await asyncio.sleep(0)
    return index * 2


async def tick(ctx: StepContext) -> int:
    n = ctx.input_data
    record(f"tick{n}")
    if n == 3:
        signal("tick3.started")
        await block_if_asked()
    return n + 1


def looping(db: str) -> Any:
    """dountil(tick) until 6: the step sees 0, 1, 2, ... and blocks at 3 when asked."""
    return (
        create_workflow(id="looping", storage=SQLiteStorage(db))
        .dountil(create_step(id="tick", execute=tick), lambda ctx: ctx.input_data >= 6)
        .commit()
    )


def pipeline(db: str) -> Any:
    """a -> b -> slow -> c"""
    return (
        create_workflow(id="pipeline", storage=SQLiteStorage(db))
        .then(create_step(id="a", execute=step_a))
        .then(create_step(id="b", execute=step_b))
        .then(create_step(id="slow", execute=step_slow))
        .then(create_step(id="c", execute=step_c))
        .commit()
    )


def approval(db: str) -> Any:
    """a -> approve (suspends) -> send"""
    return (
        create_workflow(id="approval", storage=SQLiteStorage(db))
        .then(create_step(id="a", execute=step_a))
        .then(create_step(id="approve", execute=approve))
        .then(create_step(id="send", execute=send))
        .commit()
    )


def fanout(db: str) -> Any:
    """a foreach over 20 items, 4 at a time; items from 8 on block when asked."""
    return (
        create_workflow(id="fanout", storage=SQLiteStorage(db))
        .foreach(create_step(id="item", execute=item), concurrency=4)
        .commit()
    )
