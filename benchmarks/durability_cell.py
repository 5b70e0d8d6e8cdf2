"""Run ONE durability measurement in this fresh process and print one JSON line on stdout.
durability.py calls it; it can also be run by hand:

    .venv-bench/bin/python benchmarks/durability_cell.py rx-sqlite-sync chain '{"steps": 100}'
    .venv-bench/bin/python benchmarks/durability_cell.py - probe

A variant is FRAMEWORK-DATABASE[-MODE]: rx, lg (LangGraph) or floor; memory, none (LangGraph
without a checkpointer), sqlite or pg; sync, async, exit or default (the library's default).
SQLite files go to a new temporary folder (under "dir" when given); PostgreSQL tables to a
new schema, dropped afterwards. On failure it still prints {"error": "..."} and exits 1.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack

from common import Probe
from durability_common import describe_server, first_input, postgres_dsn, scratch_schema

# Measure the rxflow of this checkout, whether or not (or however) it is installed.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODULES = {"rx": "durability_rxflow", "lg": "peer_langgraph_durable", "floor": "durability_floor"}


def parse(variant: str) -> tuple[str, str, str | None]:
    """(framework, database, mode or None for the default) of a variant name."""
    fw, db, *rest = variant.split("-")
    mode = rest[0] if rest and rest[0] != "default" else None
    return fw, db, mode


async def _repeat(fn, budget_s: float, max_runs: int, min_runs: int) -> list:
    out: list = []
    t_end = time.perf_counter() + budget_s
    while len(out) < max_runs and (len(out) < min_runs or time.perf_counter() < t_end):
        out.append(await fn())
    return out


def _check_final(out, steps: int) -> None:
    n = out.get("n") if isinstance(out, dict) else None
    if n != steps:
        raise AssertionError(f"chain result: expected n == {steps}, got {out!r:.200}")


async def chain(mod, variant: str, a: dict, where: str, dsn: str | None) -> dict:
    """One streamed run of a `steps`-step chain at a time; median time per run."""
    fw, db, mode = parse(variant)
    steps = a.get("steps", 100)
    async with mod.chain(steps, db, mode, where, dsn) as run:
        events = []

        async def one() -> float:
            probe = Probe()
            t0 = time.perf_counter()
            out = await run(first_input(), probe)
            dt = time.perf_counter() - t0
            _check_final(out, steps)
            events.append(probe.n)
            return dt

        await _repeat(one, 0.0, a.get("warmup", 2), 0)
        times = await _repeat(
            one, a.get("budget", 2.0), a.get("max_runs", 200), a.get("min_runs", 5)
        )
    med = statistics.median(times)
    return {
        "median_s": med,
        "per_step_us": med / steps * 1e6,
        "runs": len(times),
        "events": events[-1],
        "steps": steps,
    }


class ResultClock(Probe):
    """A probe that also notes when the last `workflow-step-result` arrived."""

    __slots__ = ("last_result_t",)

    def __init__(self) -> None:
        super().__init__()
        self.last_result_t = 0.0

    def __call__(self, ev) -> None:
        super().__call__(ev)
        if ev.type == "workflow-step-result":
            self.last_result_t = time.perf_counter()


async def growth(mod, variant: str, a: dict, where: str, dsn: str | None) -> dict:
    """rxflow only: a long chain; time per step of its first and last `window` steps, by a
    clock in the step bodies. A step's time runs from its body's start to the next step's
    (its checkpoint included), so the last window is the last `window` steps that have a
    successor: steps 990-999 of 1,000."""
    fw, db, mode = parse(variant)
    if fw != "rx":
        raise ValueError("the growth workload measures rxflow variants only")
    steps, k = a.get("steps", 1000), a.get("window", 10)
    warmup = a.get("warmup", 1)
    stamps: list[float] = []
    firsts, lasts, ratios = [], [], []
    async with mod.chain(steps, db, mode, where, dsn, stamps=stamps) as run:
        for i in range(warmup + a.get("runs", 3)):
            stamps.clear()
            _check_final(await run(first_input(), Probe()), steps)
            first = (stamps[k] - stamps[0]) / k
            last = (stamps[steps - 1] - stamps[steps - 1 - k]) / k
            if i >= warmup:
                firsts.append(first)
                lasts.append(last)
                ratios.append(last / first)
    return {
        "median_s": statistics.median(lasts),
        "first_us": statistics.median(firsts) * 1e6,
        "last_us": statistics.median(lasts) * 1e6,
        "ratio": statistics.median(ratios),
        "runs": len(ratios),
        "steps": steps,
        "window": k,
    }


def probe_features() -> dict:
    """What this environment can measure (run once by the driver, in its own process)."""
    import durability_rxflow

    dsn = postgres_dsn()
    out = {
        "modes": durability_rxflow.mode_option(),
        "rx_postgres": durability_rxflow.postgres_storage_class() is not None,
        "langgraph": importlib.util.find_spec("langgraph") is not None,
        "lg_sqlite": importlib.util.find_spec("langgraph.checkpoint.sqlite") is not None,
        "lg_postgres": importlib.util.find_spec("langgraph.checkpoint.postgres") is not None,
        "postgres": None,
    }
    if dsn:
        try:
            out["postgres"] = describe_server(dsn)
        except Exception as e:  # reported, and the PostgreSQL rows say why they are missing
            out["postgres_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    return out


WORKLOADS = {"chain": chain, "growth": growth}


def main() -> int:
    variant, workload = sys.argv[1], sys.argv[2]
    a = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    res: dict = {"variant": variant, "workload": workload, "args": a}
    try:
        if workload == "probe":
            res.update(probe_features())
        else:
            t = time.perf_counter()
            mod = importlib.import_module(MODULES[parse(variant)[0]])
            res["import_s"] = time.perf_counter() - t
            with ExitStack() as stack:
                where = stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="rxbench-", dir=a.get("dir"))
                )
                dsn = None
                if parse(variant)[1] == "pg":
                    dsn = postgres_dsn()
                    if dsn is None:
                        raise RuntimeError("no PostgreSQL DSN in the environment")
                    dsn = stack.enter_context(scratch_schema(dsn))
                res.update(asyncio.run(WORKLOADS[workload](mod, variant, a, where, dsn)))
        rc = 0
    except (Exception, asyncio.CancelledError) as e:
        traceback.print_exc()
        res["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        rc = 1
    print(json.dumps(res), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
