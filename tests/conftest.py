"""Shared test helpers: read a run's events compactly, wait without hanging, and fixtures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _crash import crash_dir, store_spec  # noqa: F401  (fixtures of the crash tests)

from rxflow import WorkflowRunOutput
from rxflow.storage import InMemoryStorage, SQLiteStorage, Storage

GUARD = 10  # seconds; a guard against hangs, never a pacing delay

USAGE_KEYS = {
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "reasoningTokens",
    "cachedInputTokens",
    "cacheCreationInputTokens",
}


# --- reading a stream ----------------------------------------------------------------------


async def collect(output: WorkflowRunOutput) -> list[Any]:
    """Every chunk of an output, in order (bounded: a hang fails the test)."""

    async def read() -> list[Any]:
        return [chunk async for chunk in output]

    return await asyncio.wait_for(read(), GUARD)


def kinds(chunks: list[Any]) -> list[tuple[str, str | None]]:
    """``(type, payload id)`` per chunk: the shape of a stream at a glance."""
    shape = []
    for chunk in chunks:
        payload = getattr(chunk, "payload", None)
        ident = getattr(payload, "id", None) or getattr(payload, "step_name", None)
        shape.append((chunk.type, ident))
    return shape


def types(chunks: list[Any]) -> list[str]:
    return [c.type for c in chunks]


def shape(chunks: list[Any]) -> list[tuple[str, Any]]:
    out = []
    for c in chunks:
        d = c.to_dict()
        payload = d.get("payload") or {}
        out.append((c.type, payload.get("id") if isinstance(payload, dict) else None))
    return out


def wire(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in chunks]


def of(chunks: list[Any], kind: str, ident: str | None = None) -> list[dict[str, Any]]:
    """Wire payloads of the chunks of one type (and step id)."""
    found = []
    for c in chunks:
        if c.type != kind:
            continue
        d = c.to_dict()
        if ident is not None and d["payload"].get("id") != ident:
            continue
        found.append(d["payload"])
    return found


def one(chunks: list[Any], kind: str, ident: str | None = None) -> dict[str, Any]:
    found = of(chunks, kind, ident)
    assert len(found) == 1, (kind, ident, shape(chunks))
    return found[0]


def finish(chunks: list[Any]) -> dict[str, Any]:
    assert chunks[-1].type == "workflow-finish", shape(chunks)
    return chunks[-1].to_dict()["payload"]


# --- waiting without hanging ---------------------------------------------------------------


async def within(awaitable: Any, seconds: float = 10) -> Any:
    """Await with a bound, so a hang fails the test instead of stalling the suite."""
    return await asyncio.wait_for(awaitable, seconds)


async def wait_until(predicate: Any) -> None:
    """Yield to the loop until ``predicate()`` holds (bounded; no timing sleeps)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def _poll_until(predicate: Any, *, limit_s: float = 5.0) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.002)
    raise AssertionError("condition never became true")


def now_ms() -> int:
    return int(time.time() * 1000)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store: Storage
    if request.param == "memory":
        store = InMemoryStorage()
    else:
        store = SQLiteStorage(tmp_path / "runs.db")
    yield store
    await store.close()
