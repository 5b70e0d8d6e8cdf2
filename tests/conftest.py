"""Shared test helpers: collect a run's events and read them compactly."""

from __future__ import annotations

from typing import Any

import pytest

from rxflow import WorkflowRunOutput


async def collect(output: WorkflowRunOutput) -> list[Any]:
    """Every chunk of an output, in order."""
    return [chunk async for chunk in output]


def kinds(chunks: list[Any]) -> list[tuple[str, str | None]]:
    """``(type, payload id)`` per chunk: the shape of a stream at a glance."""
    shape = []
    for chunk in chunks:
        payload = getattr(chunk, "payload", None)
        ident = getattr(payload, "id", None) or getattr(payload, "step_name", None)
        shape.append((chunk.type, ident))
    return shape


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
