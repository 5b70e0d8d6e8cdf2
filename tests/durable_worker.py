"""A worker process for the durability tests: ``durable_worker.py MODE DB RUN_ID``.

Modes: ``suspend`` (run the approval workflow to its suspension, print the events, exit),
``pipeline`` / ``fanout`` (start a run that the test kills), ``resume`` (wait for the ``go``
file, then try to resume; print ``won`` or the error's class), ``churn`` (start and finish
runs of the pipeline, for concurrent writers).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import durable_app

from rxflow import ResumeAlreadyClaimedError, RxflowError


async def main(mode: str, db: str, run_id: str) -> None:
    if mode == "suspend":
        wf = durable_app.approval(db)
        run = await wf.create_run(run_id=run_id)
        output = run.stream(input_data={"n": 1})
        events = [chunk.to_dict() for chunk in [c async for c in output]]
        result = await output.result
        print(json.dumps({"status": result.status, "events": [e["type"] for e in events]}))
    elif mode == "pipeline":
        run = await durable_app.pipeline(db).create_run(run_id=run_id)
        await run.start(input_data={"n": 1})
    elif mode == "looping":
        run = await durable_app.looping(db).create_run(run_id=run_id)
        await run.start(input_data=0)
    elif mode == "fanout":
        run = await durable_app.fanout(db).create_run(run_id=run_id)
        await run.start(input_data=list(range(20)))
    elif mode == "resume":
        wf = durable_app.approval(db)
        run = await wf.create_run(run_id=run_id)
        durable_app.signal(f"ready.{os.getpid()}")
        go = durable_app._dir() / "go"
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        try:
            result = await run.resume(resume_data={"ok": True})
            print(f"won {result.status}")
        except ResumeAlreadyClaimedError:
            print("ResumeAlreadyClaimedError")
        except RxflowError as error:
            print(type(error).__name__, error)
    elif mode == "churn":
        wf = durable_app.pipeline(db)
        for k in range(15):
            run = await wf.create_run(run_id=f"{run_id}-{k}")
            result = await run.start(input_data={"n": k})
            assert result.status == "success", result.error
        print("churned")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
