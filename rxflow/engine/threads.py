"""The threads ``def`` bodies run in. Most runs use asyncio's default thread pool; a run with a
``foreach`` over a ``def`` step wider than that pool gets a pool of its own, as wide as its
widest such ``foreach``, so that ``concurrency=n`` runs n bodies at once. It is closed when
the run's segment ends."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .state import RunScope

__all__ = ["DEFAULT_WIDTH", "close_threads", "in_thread", "widen_threads"]

T = TypeVar("T")

#: How many threads asyncio's default pool has (``ThreadPoolExecutor``'s own default).
DEFAULT_WIDTH = min(32, (os.cpu_count() or 1) + 4)


def widen_threads(scope: RunScope, width: int) -> None:
    """Let ``width`` ``def`` bodies of the run run at once (a pool of its own when asyncio's
    default pool is narrower)."""
    if width <= max(DEFAULT_WIDTH, scope.threads_width):
        return
    old = scope.threads
    scope.threads = ThreadPoolExecutor(max_workers=width, thread_name_prefix="rxflow-step")
    scope.threads_width = width
    if old is not None:  # its bodies in flight finish there; new ones go to the wider pool
        old.shutdown(wait=False)


def in_thread(scope: RunScope, body: Callable[[Any], T], arg: Any) -> Awaitable[T]:
    """Await it: ``body(arg)`` in one of the run's threads, with this task's context variables
    (as ``asyncio.to_thread``). Not a coroutine itself: no extra layer per call."""
    pool = scope.threads
    if pool is None:
        return asyncio.to_thread(body, arg)
    call = functools.partial(contextvars.copy_context().run, body, arg)
    return asyncio.get_running_loop().run_in_executor(pool, call)


def close_threads(scope: RunScope) -> None:
    """The run's segment ended: its own pool (if any) closes once its threads are idle."""
    pool = scope.threads
    if pool is not None:
        scope.threads = None
        scope.threads_width = 0
        pool.shutdown(wait=False)
