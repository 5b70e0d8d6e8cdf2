"""Dask benchmark: a CPU-bound ``foreach`` on (a) local threads, (b) ``DaskExecutor`` on a
two-process LocalCluster, (c) plain ``client.map`` + ``gather`` of the same function (the
floor); 400 items of ~10 ms and 10,000 items of ~1 ms, concurrency 8. Prints the times, the
ratios and rxflow's overhead per item over plain Dask, in microseconds.

Times are medians of ``--reps`` runs after one warm-up run of each variant, the variants
interleaved (the cluster is started before and not counted; its workers are warm). The
machine's load average (before and after) is printed with each row: on a shared machine,
compare rows measured at similar loads. The overhead is also given in CPU time (this process,
which holds the client and the scheduler, plus the workers), which depends little on load.

    python benchmarks/dask_foreach.py            # needs rxflow[dask]; a few minutes
    python benchmarks/dask_foreach.py --reps 1 --quick
    python benchmarks/dask_foreach.py --no-profiler   # Dask's worker profiler off, (b) and (c)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import dask
import distributed
import psutil
from rxflow import StepContext, create_step, create_workflow
from rxflow.executors import DaskExecutor

CONCURRENCY = 8


def burn(loops: int) -> int:
    """Pure-Python CPU work: holds the GIL for its whole duration."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def burn_step(ctx: StepContext) -> int:
    loops: int = ctx.input_data
    return burn(loops)


def loops_per_ms() -> int:
    """How many ``burn`` loops take one millisecond of this thread's CPU time (the best of a
    few tries: CPU time, so that other processes running meanwhile do not shorten the items)."""
    best = float("inf")
    for _ in range(5):
        began = time.thread_time()
        burn(200_000)
        best = min(best, time.thread_time() - began)
    return int(200_000 / (best * 1000))


class Clock:
    """Wall time, and CPU time of this process (client, scheduler, nannies) plus the worker
    processes: the CPU figure hardly depends on what else the machine runs."""

    def __init__(self, worker_pids: list[int]) -> None:
        self.workers = [psutil.Process(pid) for pid in worker_pids]

    def read(self) -> tuple[float, float]:
        cpu = time.process_time()
        for worker in self.workers:
            times = worker.cpu_times()
            cpu += times.user + times.system
        return time.perf_counter(), cpu


async def case(
    client: Any, clock: Clock, items: list[int], reps: int
) -> dict[str, tuple[float, float]]:
    """Median (wall s, CPU s) of each variant; the variants interleaved, each warmed up."""
    step = create_step(id="burn", execute=burn_step)
    local = create_workflow(id="local").foreach(step, concurrency=CONCURRENCY).commit()
    dask = DaskExecutor(client=client)
    remote = (
        create_workflow(id="dask", executor=dask).foreach(step, concurrency=CONCURRENCY).commit()
    )

    async def run(workflow: Any) -> None:
        result = await (await workflow.create_run()).start(input_data=items)
        assert result.status == "success", result.error

    async def plain() -> None:
        await client.gather(client.map(burn, items, pure=False))

    variants: dict[str, Callable[[], Awaitable[Any]]] = {
        "local": lambda: run(local),
        "dask": lambda: run(remote),
        "plain": plain,
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for work in variants.values():
        await work()  # warm-up
    for _ in range(reps):
        for name, work in variants.items():
            wall, cpu = clock.read()
            await work()
            wall_end, cpu_end = clock.read()
            samples[name].append((wall_end - wall, cpu_end - cpu))
    await dask.close()
    return {
        name: (
            statistics.median(wall for wall, _ in runs),
            statistics.median(cpu for _, cpu in runs),
        )
        for name, runs in samples.items()
    }


async def main(reps: int, quick: bool, profiler: bool) -> None:
    per_ms = loops_per_ms()
    cases = [(400, 10), (10_000, 1)] if not quick else [(200, 10), (2_000, 1)]
    if not profiler:
        # Workers sample their threads' stacks every 10 ms for the dashboard; with pure-Python
        # items each sample waits for the GIL. Set before the workers start: they inherit it.
        dask.config.set({"distributed.worker.profile.enabled": False})
        print("Dask's worker profiler: off")
    print(f"cpus: {os.cpu_count()}, reps: median of {reps} after a warm-up run")
    print(f"{per_ms} loops per ms; foreach concurrency {CONCURRENCY}; 2 worker processes")
    print(
        "| items x ms | (a) local threads s | (b) DaskExecutor s | (c) client.map s "
        "| a/b | b/c | rxflow over Dask per item: wall us, CPU us | load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    async with (
        distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            asynchronous=True,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,
    ):
        clock = Clock(list((await client.run(os.getpid)).values()))
        for count, ms in cases:
            items = [per_ms * ms] * count
            load = os.getloadavg()[0]
            found = await case(client, clock, items, reps)
            (local_s, _), (dask_s, dask_cpu), (plain_s, plain_cpu) = found.values()
            wall_us = (dask_s - plain_s) / count * 1e6
            cpu_us = (dask_cpu - plain_cpu) / count * 1e6
            print(
                f"| {count} x {ms} | {local_s:.3f} | {dask_s:.3f} | {plain_s:.3f} "
                f"| {local_s / dask_s:.2f}x | {dask_s / plain_s:.2f}x "
                f"| {wall_us:.0f}, {cpu_us:.0f} "
                f"| {load:.1f}-{os.getloadavg()[0]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller item counts")
    parser.add_argument(
        "--no-profiler",
        dest="profiler",
        action="store_false",
        help="turn Dask's statistical profiler off on the workers (for (b) and (c) alike)",
    )
    options = parser.parse_args()
    asyncio.run(main(options.reps, options.quick, options.profiler))
