"""Run ONE measurement (one variant x one workload) in this fresh process and
print one JSON line on stdout. run.py calls it; it can also be run by hand:

    .venv-bench/bin/python benchmarks/cell.py rxflow W1 '{"steps": 100}'

On failure it still prints a JSON line, {"error": "..."}, and exits 1.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import reprlib
import statistics
import sys
import time
import traceback

from common import Probe, peak_rss_mb, reset_peak_rss, rss_now_mb

# Measure the rxflow of this checkout, whether or not (or however) it is installed.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODULES = {
    "asyncio": "floor_asyncio",
    "asyncio-sem": "floor_asyncio",
    "rx-bus": "floor_rx",
    "rxflow": "variant_rxflow",
    "lg-tasks": "peer_langgraph",
    "li-internal": "peer_llamaindex",
}


async def _repeat(fn, budget_s: float, max_runs: int, min_runs: int = 1) -> list:
    """Call `fn` until `max_runs` results, or at least `min_runs` and `budget_s` spent."""
    out: list = []
    t_end = time.perf_counter() + budget_s
    while len(out) < max_runs and (len(out) < min_runs or time.perf_counter() < t_end):
        out.append(await fn())
    return out


class _MemoryWatch:
    """RSS before the timed runs, and the peak reached during them."""

    def __init__(self) -> None:
        self.base = rss_now_mb()
        self.exact = reset_peak_rss()

    def report(self) -> dict:
        peak = peak_rss_mb()
        return {
            "rss_base_mb": self.base,
            "rss_peak_mb": peak,
            "rss_growth_mb": max(0.0, peak - self.base),
            "rss_growth_exact": self.exact,
        }


def _check(value, expected, what: str) -> None:
    if value != expected:
        raise AssertionError(
            f"{what}: expected {reprlib.repr(expected)}, got {reprlib.repr(value)}"
        )


# ---- workloads ----------------------------------------------------------------
async def w1(mod, variant, a):
    """One streamed run of an n-step chain at a time; median time per run."""
    steps = a.get("steps", 100)
    t = time.perf_counter()
    wf = mod.build_chain(steps, variant, yielding=a.get("yielding", False))
    build_s = time.perf_counter() - t
    events = []

    async def one():
        probe = Probe()
        t0 = time.perf_counter()
        r = await mod.run_chain(wf, 0, probe, variant)
        dt = time.perf_counter() - t0
        _check(r, steps, "chain result")
        events.append(probe.n)
        return dt

    await _repeat(one, 0.0, 3)  # warm-up
    times = await _repeat(one, a.get("budget", 2.0), a.get("max_runs", 300), min_runs=5)
    med = statistics.median(times)
    return {
        "median_s": med,
        "per_step_us": med / steps * 1e6,
        "runs": len(times),
        "events": events[-1],
        "build_ms": build_s * 1e3,
        "steps": steps,
    }


async def w4(mod, variant, a):
    """Latency from starting the stream to its first event, 5-step chain."""
    steps = a.get("steps", 5)
    wf = mod.build_chain(steps, variant)
    events = []

    async def one():
        probe = Probe()
        t0 = time.perf_counter()
        r = await mod.run_chain(wf, 0, probe, variant)
        run_s = time.perf_counter() - t0
        _check(r, steps, "chain result")
        events.append(probe.n)
        return probe.first_event_s(), run_s

    await _repeat(one, 0.0, 5)  # warm-up
    res = await _repeat(one, a.get("budget", 1.5), a.get("max_runs", 500), min_runs=5)
    return {
        "median_s": statistics.median(x[0] for x in res),
        "run_median_s": statistics.median(x[1] for x in res),
        "runs": len(res),
        "events": events[-1],
        "steps": steps,
    }


async def w3(mod, variant, a):
    """`runs` concurrent streamed runs of a 5-step chain (asyncio.gather)."""
    runs, steps = a.get("runs", 1000), a.get("steps", 5)
    wf = mod.build_chain(steps, variant)

    async def one(probe):
        _check(await mod.run_chain(wf, 0, probe, variant), steps, "chain result")

    async def batch():
        probes = [Probe() for _ in range(runs)]
        t0 = time.perf_counter()
        await asyncio.gather(*[one(p) for p in probes])
        return time.perf_counter() - t0, sum(p.n for p in probes)

    await asyncio.gather(*[one(Probe()) for _ in range(10)])  # warm-up
    mem = _MemoryWatch()
    res = await _repeat(batch, a.get("budget", 1.0), a.get("repeat", 3))
    med = statistics.median(x[0] for x in res)
    return {
        "median_s": med,
        "runs_per_s": runs / med,
        "events": res[0][1],
        "inner_reps": len(res),
        **mem.report(),
        "n": runs,
    }


async def w2(mod, variant, a):
    """Fan-out over n items with `conc` in flight, streamed with progress."""
    n, conc = a.get("n", 10_000), a.get("conc", 16)
    wf = mod.build_fanout(conc, variant)
    expected = list(range(1, n + 1))
    ordered = getattr(mod, "ORDERED_FANOUT", False)

    async def one():
        probe = Probe(mod.is_progress)
        t0 = time.perf_counter()
        r = await mod.run_fanout(wf, n, conc, probe, variant)
        dt = time.perf_counter() - t0
        _check(list(r) if ordered else sorted(r), expected, "fan-out results")
        return dt, probe

    await mod.run_fanout(wf, min(100, n), conc, Probe(mod.is_progress), variant)  # warm-up
    mem = _MemoryWatch()
    res = await _repeat(one, a.get("budget", 1.0), a.get("repeat", 3))
    firsts = [p.first_progress_s() for _, p in res]
    return {
        "median_s": statistics.median(x[0] for x in res),
        "items_per_s": n / statistics.median(x[0] for x in res),
        "events": res[0][1].n,
        "inner_reps": len(res),
        "first_event_s": statistics.median(p.first_event_s() for _, p in res),
        "first_progress_s": None if None in firsts else statistics.median(firsts),
        **mem.report(),
        "n": n,
    }


async def depth(mod, variant, a):
    """rxflow only: a long chain and deeply nested workflows at the default
    recursion limit. Each check reports "success" or the error it raised."""
    out = {"recursion_limit": sys.getrecursionlimit()}
    for kind, size, expected in [
        ("chain", a.get("chain", 1000), a.get("chain", 1000)),
        ("nested", a.get("nested", 50), 1),
    ]:
        t0 = time.perf_counter()
        try:
            _check(await mod.check_depth(kind, size), expected, f"{kind} result")
            status = "success"
        except (Exception, asyncio.CancelledError) as e:  # RecursionError included
            status = f"{type(e).__name__}: {str(e)[:200]}"
        out[kind] = {"size": size, "status": status, "s": time.perf_counter() - t0}
    out["median_s"] = out["chain"]["s"]
    return out


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "depth": depth}


def main() -> int:
    variant, workload = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    res = {"variant": variant, "workload": workload, "args": args}
    try:
        t = time.perf_counter()
        mod = importlib.import_module(MODULES[variant])
        res["import_s"] = time.perf_counter() - t
        res.update(asyncio.run(WORKLOADS[workload](mod, variant, args)))
        rc = 0
    except (Exception, asyncio.CancelledError) as e:
        traceback.print_exc()
        res["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        rc = 1
    print(json.dumps(res), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
