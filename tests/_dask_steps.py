"""Step bodies for the Dask executor tests: module-level, so workers import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from rxflow import StepContext, create_step

try:
    import distributed
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise  # CI installs the test extra: a missing Dask there is a failure
    pytest.skip("dask.distributed is not installed", allow_module_level=True)


def local_cluster() -> Any:
    """A real cluster of two worker processes, one thread each (a context manager)."""
    return distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    )


def where(ctx: StepContext) -> dict[str, Any]:
    return {"pid": os.getpid(), "input": ctx.input_data}


def double(ctx: StepContext) -> int:
    value: int = ctx.input_data
    return value * 2


def add_one(ctx: StepContext) -> int:
    value: int = ctx.input_data
    return value + 1


def listing(ctx: StepContext) -> list[int]:
    count: int = ctx.input_data
    return list(range(count))


async def chatty(ctx: StepContext) -> str:
    for n in range(3):
        await ctx.writer.write({"n": n})
    await ctx.writer.custom({"type": "data-note", "data": "done"})
    return "said"


def chatty_sync(ctx: StepContext) -> str:
    ctx.writer.write("no await needed")
    return "ok"


def effects(ctx: StepContext) -> dict[str, Any]:
    ctx.set_state({"seen": ctx.input_data, "retry": ctx.retry_count})
    ctx.record_usage(input_tokens=10, output_tokens=5)
    return {
        "init": ctx.get_init_data(),
        "first": ctx.get_step_result("first"),
        "user": ctx.request_context.get("user"),
        "state": dict(ctx.state),
        "ids": (ctx.run_id, ctx.workflow_id),
    }


def bail_out(ctx: StepContext) -> Any:
    return ctx.bail({"bailed": ctx.input_data})


async def approve(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"ask": ctx.input_data, "pid": os.getpid()}, resume_label="ok")
    return {"approved": ctx.resume_data, "asked": ctx.suspend_data, "pid": os.getpid()}


def flaky(ctx: StepContext) -> int:
    if ctx.retry_count == 0:
        raise ValueError("first attempt fails")
    return ctx.retry_count


def die_once(ctx: StepContext) -> str:
    marker = Path(ctx.input_data)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker process dies mid-task
    return f"ran again in {os.getpid()}"


def wait_for_abort(ctx: StepContext) -> str:
    """Note the start, then run until the run is canceled (at most 15 s)."""
    folder, index = ctx.input_data
    (Path(folder) / f"started-{index}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if ctx.abort_signal.aborted:
            (Path(folder) / f"aborted-{index}").write_text("seen")
            return "aborted"
        time.sleep(0.05)
    return "timed out"


def approval_step(executor: Any) -> Any:
    return create_step(id="approve", execute=approve, executor=executor)


def task_key(ctx: StepContext) -> str:
    return str(distributed.get_worker().get_current_task())


def big_output(ctx: StepContext) -> str:
    """Every third item returns more than the relay carries: it comes back as the task's result."""
    index: int = ctx.input_data
    return ("x" * 10_000 if index % 3 == 0 else "small") + str(index)


def double_plain(value: int) -> int:
    """A plain Dask task function (not a step body)."""
    return value * 2
