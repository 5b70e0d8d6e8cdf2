"""Fixtures of the conformance suite: one ``case`` per store, a test clock, stores to test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from rxflow.storage import Storage

from .cases import CASES, FakeClock, StoreCase


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> StoreCase:
    param: StoreCase = request.param
    return param


@pytest.fixture(params=[case for case in CASES if case.shared], ids=lambda case: case.name)
def shared_case(request: pytest.FixtureRequest) -> StoreCase:
    """A store other processes can open too (not the in-memory one), for tests across them."""
    param: StoreCase = request.param
    return param


@pytest.fixture
async def shared_store(shared_case: StoreCase, tmp_path: Path) -> AsyncIterator[Storage]:
    """The shared case's store, on the wall clock (its other processes use that clock)."""
    store = shared_case.open(tmp_path)
    yield store
    await store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def open_store(case: StoreCase, tmp_path: Path) -> AsyncIterator[Callable[..., Storage]]:
    """Opens the case's store with the given options (each test gets its own data); every
    store opened is closed after the test."""
    opened: list[Storage] = []

    def open_one(**options: Any) -> Storage:
        store = case.open(tmp_path, **options)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
def store(open_store: Callable[..., Storage], clock: FakeClock) -> Storage:
    """The case's store on the test clock, with the default lease of 30 s."""
    return open_store(clock=clock)
