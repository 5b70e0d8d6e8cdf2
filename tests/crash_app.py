"""Workflows and helpers shared by the crash tests and their worker processes.

Every store is named by a spec (``sqlite:PATH`` or ``postgres:DSN``) so that a worker opens the
store the test opened. Step bodies append what they do to ``executions.log`` in
``RXFLOW_TEST_DIR`` (fsynced, so it survives a SIGKILL right after); a test counts executions
across processes from it. ``RXFLOW_TEST_BLOCK_AT=k`` makes step ``s<k>`` of the six-step chain
        # RXFLOW_TEST_POSTGRES_TIMEOUT: how long a call waits for a connection (a server that is
        # down fails the call after it).
        timeout = float(os.environ.get("RXFLOW_TEST_POSTGRES_TIMEOUT", "10"))
        store: Storage = PostgresStorage(where, timeout=timeout, **options)
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from rxflow import SQLiteStorage, StepContext, create_step, create_workflow
from rxflow.storage import Storage

STEPS = 6
ITEMS = 200


def workdir() -> Path:
    return Path(os.environ["RXFLOW_TEST_DIR"])


def record(name: str) -> None:
    """Append ``name`` to the executions log, durably (before the body goes on)."""
    with open(workdir() / "executions.log", "a") as log:
        log.write(name + "\n")
        log.flush()
        os.fsync(log.fileno())


def executions() -> dict[str, int]:
    path = workdir() / "executions.log"
    counts: dict[str, int] = {}
    if path.exists():
        for line in path.read_text().split():
            counts[line] = counts.get(line, 0) + 1
    return counts


def signal(name: str) -> None:
    """Create the file ``name`` atomically (a reader never sees it half written)."""
    tmp = workdir() / f".{name}.{os.getpid()}"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, workdir() / name)


def signalled(name: str) -> bool:
    return (workdir() / name).exists()


async def wait_signal(name: str, guard: float = 60.0) -> None:
    """Wait (polling a file, in a worker process) until ``name`` was signalled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while not signalled(name):
        if loop.time() > deadline:
            raise TimeoutError(f"no signal {name!r}")
        await asyncio.sleep(0.002)


def open_store(spec: str) -> Storage:
    """The store ``spec`` names; ``RXFLOW_TEST_LEASE_TTL`` (seconds) sets its lease length."""
    kind, _, where = spec.partition(":")
    ttl = os.environ.get("RXFLOW_TEST_LEASE_TTL")
    options: dict[str, Any] = {"lease_ttl": float(ttl)} if ttl else {}
    if kind == "sqlite":
        return SQLiteStorage(where, **options)
    if kind == "postgres":
        from rxflow.storage import PostgresStorage

        # RXFLOW_TEST_POSTGRES_TIMEOUT: how long a call waits for a connection (a server that is
        # down fails the call after it).
        timeout = float(os.environ.get("RXFLOW_TEST_POSTGRES_TIMEOUT", "10"))
        store: Storage = PostgresStorage(where, timeout=timeout, **options)
        return store
    raise ValueError(f"unknown store spec {spec!r}")


def _options(spec: str) -> dict[str, Any]:
    options: dict[str, Any] = {"storage": open_store(spec)}
    durability = os.environ.get("RXFLOW_TEST_DURABILITY")
    if durability:
        options["durability"] = durability
    return options


def _chain_step(k: int) -> Any:
    async def body(ctx: StepContext) -> dict[str, int]:
        record(f"s{k}")
        if os.environ.get("RXFLOW_TEST_BLOCK_AT") == str(k):
            signal(f"running.s{k}")
            go_on = os.environ.get("RXFLOW_TEST_GO_ON")  # a signal that lets the step end
            if go_on:
                await wait_signal(go_on, guard=120.0)
            else:
                await asyncio.Event().wait()
        if os.environ.get("RXFLOW_TEST_PAUSE_AT") == str(k):
            signal(f"running.s{k}")
            await wait_signal("release")
        return {"n": ctx.input_data["n"] + k}

    return create_step(id=f"s{k}", execute=body)


def six(spec: str) -> Any:
    """s1 -> s2 -> ... -> s6; step k adds k, so input n ends as n + 21."""
    workflow = create_workflow(id="six", **_options(spec))
    for k in range(1, STEPS + 1):
        workflow = workflow.then(_chain_step(k))
    return workflow.commit()


async def _item(ctx: StepContext) -> int:
    index: int = ctx.input_data
    record(f"item{index}")
    await asyncio.sleep(0)
    return index * 2


def fan(spec: str) -> Any:
    """A foreach over its input list, 8 items at a time."""
    return (
        create_workflow(id="fan", **_options(spec))
        .foreach(create_step(id="item", execute=_item), concurrency=8)
        .commit()
    )


async def _hang(ctx: StepContext) -> int:
    record("hang")
    signal("hang.started")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        signal("hang.cancelled")
        raise
    return 0


async def _after(ctx: StepContext) -> int:
    record("after")
    return 1


def hang(spec: str) -> Any:
    """hang (waits until cancelled) -> after."""
    return (
        create_workflow(id="hang", **_options(spec))
        .then(create_step(id="hang", execute=_hang))
        .then(create_step(id="after", execute=_after))
        .commit()
    )


async def _only(ctx: StepContext) -> int:
    record("only")
    if os.environ.get("RXFLOW_TEST_HOLD"):  # keep running until the test lets go
        await wait_signal("release")
    return 7


def once(spec: str) -> Any:
    """One step that counts its executions."""
    return (
        create_workflow(id="once", **_options(spec))
        .then(create_step(id="only", execute=_only))
        .commit()
    )


async def _work(ctx: StepContext) -> int:
    n: int = ctx.input_data
    if n % 4 == 3:
        raise ValueError(f"item {n} fails on purpose")
    await asyncio.sleep(0)
    return n


def churn(spec: str) -> Any:
    """One step that fails for every input n with n % 4 == 3."""
    return (
        create_workflow(id="churn", **_options(spec))
        .then(create_step(id="work", execute=_work))
        .commit()
    )


async def _approve(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"reason": "need ok"})
    return {"approved": ctx.resume_data["ok"]}


def approval(spec: str) -> Any:
    """approve (suspends until resumed)."""
    return (
        create_workflow(id="approval", **_options(spec))
        .then(create_step(id="approve", execute=_approve))
        .commit()
    )


async def _review(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"reason": "need ok"})
    record("review")
    if os.environ.get("RXFLOW_TEST_HOLD"):  # keep the resumed run going until the test lets go
        await wait_signal("release")
    return {"approved": ctx.resume_data["ok"]}


def review(spec: str) -> Any:
    """review (suspends until resumed; counts the resumed executions)."""
    return (
        create_workflow(id="review", **_options(spec))
        .then(create_step(id="review", execute=_review))
        .commit()
    )
