"""Resume a run suspended on Dask from another process: ``db address run_id``; prints the
result as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

import _dask_steps as steps

from rxflow import SQLiteStorage, create_workflow
from rxflow.executors import DaskExecutor


async def main(db: str, address: str, run_id: str) -> None:
    async with DaskExecutor(address=address) as dask:
        wf = (
            create_workflow(id="approval", storage=SQLiteStorage(db), executor=dask)
            .then(steps.approval_step(None))
            .commit()
        )
        run = await wf.create_run(run_id)
        result = await run.resume(label="ok", resume_data="later")
        print(json.dumps({"status": result.status, "result": result.result}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
