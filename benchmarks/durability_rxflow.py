"""rxflow in the durability benchmark, through its public API: a chain whose steps return
~200 bytes of JSON, on InMemoryStorage, SQLiteStorage or PostgresStorage, in a checkpoint mode.

A run is `await wf.create_run()`, `run.stream(input_data=...)` drained with `async for`,
then `await output.result` (which must be `success`), as in the W1 workload.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from rxflow import InMemoryStorage, Run, SQLiteStorage, create_step, create_workflow

from durability_common import next_output


def postgres_storage_class() -> Any:
    """rxflow's PostgresStorage when this rxflow has one (it needs the postgres extra)."""
    for where in ("rxflow", "rxflow.storage", "rxflow.storage.postgres"):
        try:
            found = getattr(importlib.import_module(where), "PostgresStorage", None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


def mode_option() -> str | None:
    """Where this rxflow takes the checkpoint mode: "workflow" (create_workflow), "stream"
    (Run.stream) or None when it has no `durability` option yet (runs use the default)."""
    if "durability" in inspect.signature(create_workflow).parameters:
        return "workflow"
    if "durability" in inspect.signature(Run.stream).parameters:
        return "stream"
    return None


async def _next(ctx: Any) -> dict[str, Any]:
    return next_output(ctx.input_data)


def _stamped(stamps: list[float]) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    """A step body that notes when it starts (the growth workload's step clock)."""
    clock = time.perf_counter

    async def body(ctx: Any) -> dict[str, Any]:
        stamps.append(clock())
        return next_output(ctx.input_data)

    return body


@asynccontextmanager
async def _storage(db: str, where: str, dsn: str | None) -> AsyncIterator[Any]:
    if db == "memory":
        yield InMemoryStorage()
    elif db == "sqlite":
        async with SQLiteStorage(os.path.join(where, "rxflow.db")) as store:
            yield store
    elif db == "pg":
        cls = postgres_storage_class()
        if cls is None:
            raise RuntimeError("this rxflow has no PostgresStorage")
        async with cls(dsn) as store:
            yield store
    else:
        raise ValueError(f"unknown database {db!r}")


@asynccontextmanager
async def chain(
    steps: int,
    db: str,
    mode: str | None,
    where: str,
    dsn: str | None = None,
    stamps: list[float] | None = None,
) -> AsyncIterator[Callable[[dict[str, Any], Any], Awaitable[Any]]]:
    """Yield `run(input, probe)`: one streamed run of the chain, returning its final output.

    `mode` None runs with the default checkpoint mode; a mode needs the `durability` option.
    """
    option = mode_option()
    if mode is not None and option is None:
        raise RuntimeError("this rxflow has no durability option")
    body = _next if stamps is None else _stamped(stamps)
    async with _storage(db, where, dsn) as store:
        extra = {"durability": mode} if option == "workflow" and mode is not None else {}
        wf = create_workflow(id=f"chain{steps}", storage=store, **extra)
        for i in range(steps):
            wf = wf.then(create_step(id=f"s{i}", execute=body))
        wf = wf.commit()
        stream_extra = {"durability": mode} if option == "stream" and mode is not None else {}

        async def run(input_data: dict[str, Any], probe: Any) -> Any:
            r = await wf.create_run()
            probe.start()
            output = r.stream(input_data=input_data, **stream_extra)
            async for chunk in output:
                probe(chunk)
            result = await output.result
            if result.status != "success":
                raise RuntimeError(
                    f"run ended {result.status!r}: {getattr(result, 'error', None)!r}"
                )
            return result.result

        yield run
