"""A workflow and a worker for the time-travel tests across processes:
``travel_app.py MODE DB RUN_ID [INPUT]``.

Modes: ``start`` runs ``fetch -> parse -> double`` on INPUT (a string; ``parse`` fails on one
that is not a number); ``travel`` time-travels the stored run from ``parse`` with INPUT as its
input. Each prints one JSON line: the step bodies that ran, the event types with their step
ids, and the result's status and value.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from rxflow import SQLiteStorage, StepContext, Workflow, create_step, create_workflow

RAN: list[str] = []


async def fetch(ctx: StepContext) -> str:
    RAN.append("fetch")
    return str(ctx.input_data).strip()


async def parse(ctx: StepContext) -> int:
    RAN.append("parse")
    return int(ctx.input_data)


async def double(ctx: StepContext) -> int:
    RAN.append("double")
    return int(ctx.input_data) * 2


def workflow(db: str) -> Workflow:
    return (
        create_workflow(id="fix", storage=SQLiteStorage(db))
        .then(create_step(id="fetch", execute=fetch))
        .then(create_step(id="parse", execute=parse))
        .then(create_step(id="double", execute=double))
        .commit()
    )


async def main(mode: str, db: str, run_id: str, value: str) -> None:
    wf = workflow(db)
    if mode == "start":
        run = await wf.create_run(run_id=run_id)
        output = run.stream(input_data=value)
    else:
        found = await wf.get_run(run_id)
        assert found is not None
        output = found.time_travel_stream(step="parse", input_data=value)
    events: list[Any] = []
    async for chunk in output:
        payload = chunk.to_dict().get("payload") or {}
        events.append([chunk.type, payload.get("id")])
    result = await output.result
    print(
        json.dumps({"ran": RAN, "events": events, "status": result.status, "result": result.result})
    )
    await wf.storage.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
