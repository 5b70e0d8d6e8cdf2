"""A CPU-bound foreach on a Dask cluster, with live progress.

    python examples/dask_foreach.py                            # a local cluster of 2 processes
    python examples/dask_foreach.py tcp://scheduler:8786       # the same workflow, a real cluster

Each item is pure-Python work that holds the GIL; on Dask the items run in worker processes,
so they use every core. The run, its events and its checkpoints stay in this process.
"""

from __future__ import annotations

import asyncio
import os
import sys

from rxflow import StepContext, create_step, create_workflow
from rxflow.executors import DaskExecutor


def score(ctx: StepContext) -> dict[str, int]:
    """About 10 ms of pure-Python work per item."""
    seed: int = ctx.input_data
    total = 0
    for i in range(200_000):
        total = (total + i * seed) % 1_000_003
    return {"item": seed, "score": total, "pid": os.getpid()}


def summary(ctx: StepContext) -> dict[str, int]:
    scores = ctx.input_data
    return {"items": len(scores), "processes": len({s["pid"] for s in scores})}


async def main(address: str | None) -> None:
    if address is None:  # start (and later close) a local cluster of two worker processes
        dask = DaskExecutor(cluster_options={"n_workers": 2, "threads_per_worker": 1})
    else:
        dask = DaskExecutor(address=address)
    async with dask:
        workflow = (
            create_workflow(id="scores")
            .foreach(create_step(id="score", execute=score, executor=dask), concurrency=8)
            .then(create_step(id="summary", execute=summary))  # runs here
            .commit()
        )
        output = (await workflow.create_run()).stream(input_data=list(range(1, 41)))
        async for chunk in output:
            if chunk.type == "workflow-step-progress":
                p = chunk.payload
                print(f"\rscored {p.completed_count}/{p.total_count}", end="", flush=True)
        result = await output.result
        print(f"\nstatus: {result.status}")
        done = result.result
        if done is None:  # only a successful run has a result
            raise SystemExit(f"the run ended {result.status}")
        print(f"summary: {done['items']} items scored in {done['processes']} worker processes")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
