"""Many processes on one PostgreSQL database: 8 processes x 1,000 short runs each.

Each worker process opens its own PostgresStorage (its own pool) on one scratch schema and,
once every worker is ready, starts its runs one after another: a two-step workflow (~200
bytes of output per step) in the default checkpoint mode (``sync``), so every run claims
its row, writes a checkpoint per step and its end, and takes and gives up a lease. The
parent measures throughput (all runs / time from the start signal to the last worker's end)
and, meanwhile, samples ``pg_stat_activity`` for the workers' server sessions every few
milliseconds: the share of time spent waiting on locks is the share of samples in which a
worker's session waited on a heavyweight lock (``wait_event_type = 'Lock'``: a row, a
transaction id, a relation) and, shown beside it, on a lightweight lock (``LWLock``: the
server's internal locks, e.g. on the write-ahead log). The denominator is (samples x
workers): a worker runs one statement at a time, so it is the share of the workers' time.

    RXFLOW_BENCH_POSTGRES_DSN=postgresql://... python benchmarks/postgres_processes.py
    ... python benchmarks/postgres_processes.py --processes 8 --runs 1000 --interval 0.005
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

# Measure the rxflow of this checkout, whether or not (or however) it is installed.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from durability_common import (  # noqa: E402
    describe_server,
    first_input,
    next_output,
    postgres_dsn,
    scratch_schema,
)

APP = "rxflow-bench-processes"  # the workers' application_name, which the sampler selects


async def _step(ctx: Any) -> dict[str, Any]:
    return next_output(ctx.input_data)


async def worker(dsn: str, index: int, runs: int) -> dict[str, Any]:
    from rxflow import create_step, create_workflow
    from rxflow.storage.postgres import PostgresStorage

    async with PostgresStorage(dsn) as store:
        wf = (
            create_workflow(id="short", storage=store)
            .then(create_step(id="a", execute=_step))
            .then(create_step(id="b", execute=_step))
            .commit()
        )
        warm = await wf.create_run()  # the pool is open and the tables made before "go"
        assert (await warm.start(input_data=first_input())).status == "success"
        print("ready", flush=True)
        sys.stdin.readline()
        latencies = []
        started = time.perf_counter()
        for _ in range(runs):
            t0 = time.perf_counter()
            run = await wf.create_run(resource_id=f"worker-{index}")
            result = await run.start(input_data=first_input())
            latencies.append(time.perf_counter() - t0)
            assert result.status == "success", result.error
        return {"elapsed": time.perf_counter() - started, "latencies": latencies}


class Sampler(threading.Thread):
    """Counts what the workers' server sessions do, every ``interval`` seconds."""

    def __init__(self, dsn: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.interval = dsn, interval
        self.samples = 0
        self.states: collections.Counter[str] = collections.Counter()
        self.waits: collections.Counter[str] = collections.Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        query = (
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
            " WHERE application_name = %s"
        )
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(query, (APP,)).fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    if state == "active":
                        self.states["active"] += 1
                        if kind in ("Lock", "LWLock", "IO"):
                            self.waits[f"{kind}:{event}"] += 1
                time.sleep(self.interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1000, help="runs per process")
    parser.add_argument("--interval", type=float, default=0.005, help="sampling, seconds")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dsn, index, runs = args.worker
        print(json.dumps(asyncio.run(worker(dsn, int(index), int(runs)))), flush=True)
        return
    dsn = postgres_dsn()
    if dsn is None:
        sys.exit("set RXFLOW_BENCH_POSTGRES_DSN (tests/start_postgres.sh starts a server)")
    print(f"{describe_server(dsn)}; {args.processes} processes x {args.runs} runs")
    with scratch_schema(dsn) as where:
        where = make_conninfo(where, application_name=APP)
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", where, str(i), str(args.runs)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(args.processes)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        sampler = Sampler(dsn, args.interval)
        sampler.start()
        with psycopg.connect(where, autocommit=True) as conn:
            before = conn.execute(
                "SELECT xact_commit, deadlocks FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).fetchone()
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        with psycopg.connect(where, autocommit=True) as conn:
            after = conn.execute(
                "SELECT xact_commit, deadlocks FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).fetchone()
            stored = dict(
                conn.execute(
                    "SELECT status, count(*) FROM rxflow_workflow_snapshot GROUP BY status"
                ).fetchall()
            )
    assert all(proc.returncode == 0 for proc in procs)
    total = args.processes * args.runs
    latencies = sorted(x for out in outs for x in out["latencies"])
    slots = sampler.samples * args.processes
    heavy = sum(n for key, n in sampler.waits.items() if key.startswith("Lock:"))
    light = sum(n for key, n in sampler.waits.items() if key.startswith("LWLock:"))
    assert before is not None and after is not None
    print(f"stored: {stored} (expected {total + args.processes} success)")
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| runs | {total:,} ({args.processes} processes x {args.runs:,}) |")
    print(f"| wall time | {wall:.1f} s |")
    print(f"| throughput | {total / wall:,.0f} runs/s |")
    print(
        f"| run latency p50 / p95 / max | {statistics.median(latencies) * 1e3:.1f} /"
        f" {latencies[int(len(latencies) * 0.95)] * 1e3:.1f} / {latencies[-1] * 1e3:.1f} ms |"
    )
    commits = after[0] - before[0] - sampler.samples  # each sample is one transaction
    print(f"| transactions committed by the workers | {commits:,} ({commits / total:.1f}/run) |")
    print(f"| deadlocks | {after[1] - before[1]} |")
    every = f"every {args.interval * 1e3:g} ms"
    print(f"| samples of pg_stat_activity | {sampler.samples:,} ({every}) |")
    busy = sampler.states["active"] / slots
    print(f"| worker sessions in a statement | {busy:.1%} of the time |")
    print(f"| waiting on a heavyweight lock (Lock) | {heavy / slots:.2%} of the time |")
    print(f"| waiting on a lightweight lock (LWLock) | {light / slots:.2%} of the time |")
    print()
    for key, n in sampler.waits.most_common(8):
        print(f"  {key}: {n} samples ({n / slots:.2%})")


if __name__ == "__main__":
    main()
