"""A worker process for the crash tests: ``crash_worker.py MODE SPEC RUN_ID [ARG]``.

Modes:
``six`` starts the six-step chain (blocking in step ``RXFLOW_TEST_BLOCK_AT`` when set);
``six-outcome`` starts it and prints its status and its error's class name;
``six-seen K`` streams it and kills itself with SIGKILL right after reading step ``sK``'s
``workflow-step-result``; ``fan-seen N`` streams a foreach of 200 items, notes each item whose
``workflow-step-progress`` it read in ``seen.log``, and kills itself after N of them;
``restart`` signals ``ready.<pid>``, waits for ``go`` and restarts the run; ``start`` attaches
to the stored run, signals ``ready.<pid>``, waits for ``go`` and starts it; ``hang`` starts the
``hang`` workflow; ``resume N`` signals ``ready.<pid>``, waits for ``go`` and resumes the
suspended ``review`` run N times at once (each through a ``Run`` of its own, each signalling
``settled.<pid>.<i>`` when its attempt returned or raised); ``churn N`` starts N runs of
``churn`` (resource id ``ARG``-owned).
Each prints one line: ``won <status>`` (a failed run adds its error's class and message) or the
class name of the error it got.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import crash_app

from rxflow import RxflowError


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def attempt(action: object) -> None:
    try:
        result = await action  # type: ignore[misc]
    except RxflowError as error:
        print(type(error).__name__, error, flush=True)
    else:
        error = getattr(result, "error", None)
        if result.status == "failed" and isinstance(error, BaseException):
            why = " ".join(str(error).split())
            print("won failed", f"{type(error).__name__}: {why}", flush=True)
        else:
            print("won", result.status, flush=True)


async def resume_at_once(spec: str, run_id: str, times: int) -> None:
    wf = crash_app.review(spec)
    runs = [await wf.get_run(run_id) for _ in range(times)]
    await ready_then_go()

    async def one(i: int, run: Any) -> None:
        try:
            await attempt(run.resume(resume_data={"ok": True}))
        finally:
            crash_app.signal(f"settled.{os.getpid()}.{i}")

    await asyncio.gather(*(one(i, run) for i, run in enumerate(runs)))


async def ready_then_go() -> None:
    crash_app.signal(f"ready.{os.getpid()}")
    await crash_app.wait_signal("go")


async def main(mode: str, spec: str, run_id: str, arg: str | None) -> None:
    if mode == "six":
        run = await crash_app.six(spec).create_run(run_id=run_id)
        await attempt(run.start(input_data={"n": 0}))
    elif mode == "six-outcome":
        run = await crash_app.six(spec).create_run(run_id=run_id)
        result = await run.start(input_data={"n": 0})
        print(result.status, type(result.error).__name__, flush=True)
    elif mode == "six-seen":
        run = await crash_app.six(spec).create_run(run_id=run_id)
        async for chunk in run.stream(input_data={"n": 0}):
            if chunk.type == "workflow-step-result" and chunk.payload.id == f"s{arg}":
                die()
    elif mode == "fan-seen":
        assert arg is not None
        run = await crash_app.fan(spec).create_run(run_id=run_id)
        seen = 0
        with open(crash_app.workdir() / "seen.log", "a") as log:
            async for chunk in run.stream(input_data=list(range(crash_app.ITEMS))):
                if chunk.type == "workflow-step-progress":
                    log.write(f"{chunk.payload.current_index}\n")
                    log.flush()
                    os.fsync(log.fileno())
                    seen += 1
                    if seen >= int(arg):
                        die()
    elif mode == "restart":
        run = await crash_app.six(spec).create_run(run_id=run_id)
        await ready_then_go()
        await attempt(run.restart())
    elif mode == "start":
        run = await crash_app.once(spec).create_run(run_id=run_id)
        await ready_then_go()
        await attempt(run.start())
    elif mode == "resume":
        assert arg is not None
        await resume_at_once(spec, run_id, int(arg))
    elif mode == "hang":
        run = await crash_app.hang(spec).create_run(run_id=run_id)
        await attempt(run.start())
    elif mode == "churn":
        assert arg is not None
        wf = crash_app.churn(spec)
        for n in range(int(arg)):
            run = await wf.create_run(run_id=f"{run_id}-{n}", resource_id=run_id)
            result = await run.start(input_data=n)
            assert result.status == ("failed" if n % 4 == 3 else "success"), result
        print("churned", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    argv = sys.argv[1:]
    asyncio.run(main(argv[0], argv[1], argv[2], argv[3] if len(argv) > 3 else None))
