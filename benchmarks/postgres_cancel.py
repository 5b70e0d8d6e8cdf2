"""Cancel across processes: how long from ``run.cancel()`` in one process until the step of the
run executing in another process sees ``CancelledError``, and until ``cancel()`` returns
(``canceled`` stored), on PostgreSQL (the owner is woken by LISTEN/NOTIFY) and on SQLite (the
owner checks for a cancel request every second).

An owner process starts N runs one after another; each run's step waits until cancelled and
notes the time it saw ``CancelledError`` (``time.monotonic()``, one clock for every process on
Linux). The parent cancels each run once its step is running.

    RXFLOW_BENCH_POSTGRES_DSN=postgresql://... python benchmarks/postgres_cancel.py --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

# Measure the rxflow of this checkout, whether or not (or however) it is installed.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from durability_common import describe_server, postgres_dsn, scratch_schema  # noqa: E402


def workflow(spec: str) -> Any:
    from rxflow import SQLiteStorage, create_step, create_workflow
    from rxflow.storage.postgres import PostgresStorage

    kind, _, where = spec.partition(":")
    store = PostgresStorage(where) if kind == "postgres" else SQLiteStorage(where)

    async def wait(ctx: Any) -> int:
        print("started", ctx.run_id, flush=True)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("cancelled", time.monotonic(), flush=True)
            raise
        return 0

    return create_workflow(id="cancel", storage=store).then(create_step(id="wait", execute=wait))


async def owner(spec: str, runs: int) -> None:
    wf = workflow(spec).commit()
    for i in range(runs):
        run = await wf.create_run(run_id=f"r{i}")
        result = await run.start()
        assert result.status == "canceled", result.status
    await wf.storage.close()


async def canceller(spec: str, runs: int) -> tuple[list[float], list[float]]:
    """(seen by the step, cancel() returned) latencies in seconds, one per run."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--owner", spec, str(runs), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    wf = workflow(spec).commit()
    seen, returned = [], []
    for _ in range(runs):
        line = (await proc.stdout.readline()).decode().split()
        assert line[0] == "started", line
        run = await wf.get_run(line[1])
        assert run is not None
        await asyncio.sleep(0.05)  # the owner is waiting in the step, its checks settled
        started = time.monotonic()
        await run.cancel(timeout=10)
        returned.append(time.monotonic() - started)
        line = (await proc.stdout.readline()).decode().split()
        assert line[0] == "cancelled", line
        seen.append(float(line[1]) - started)
    assert await proc.wait() == 0
    await wf.storage.close()
    return seen, returned


def row(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"| {name} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[0]:.1f} | {ms[-1]:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--owner", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.owner:
        asyncio.run(owner(args.owner[0], int(args.owner[1])))
        return
    rows = []
    dsn = postgres_dsn()
    if dsn is not None:
        print(describe_server(dsn))
        with scratch_schema(dsn) as where:
            seen, returned = asyncio.run(canceller(f"postgres:{where}", args.runs))
        rows += [row("PostgreSQL: step sees CancelledError", seen)]
        rows += [row("PostgreSQL: cancel() returns", returned)]
    else:
        print("PostgreSQL skipped: set RXFLOW_BENCH_POSTGRES_DSN", file=sys.stderr)
    with tempfile.TemporaryDirectory() as where:
        seen, returned = asyncio.run(canceller(f"sqlite:{where}/runs.db", args.runs))
    rows += [row("SQLite: step sees CancelledError", seen)]
    rows += [row("SQLite: cancel() returns", returned)]
    print(f"\n{args.runs} runs each; milliseconds from the call of run.cancel()\n")
    print("| store: what | median | p95 | min | max |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
