"""Benchmark driver: rxflow against the raw-asyncio floor and the peers (LangGraph,
LlamaIndex Workflows) on workloads W1, W1s, W2, W3, W4 and the depth checks.

Every cell (one variant x one workload) runs in a fresh subprocess (cell.py);
cells are interleaved, their order reshuffled every repetition, so that drift on
a noisy machine hits every variant alike. The report (report.py) is printed and
written to benchmarks/results/latest.md and latest.json.

    bash benchmarks/setup_peers.sh                  # once: .venv-bench with the peers
    .venv-bench/bin/python benchmarks/run.py --quick     # about 2 minutes
    .venv-bench/bin/python benchmarks/run.py             # full, about 5 minutes
    .venv-bench/bin/python benchmarks/run.py --only asyncio,rxflow --groups W1,W4
    .venv-bench/bin/python benchmarks/run.py --report-only   # re-render latest.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata

import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHAINS = ("asyncio", "rx-bus", "rxflow", "lg-tasks", "li-internal")
FANOUT_FLOORS = ("asyncio", "asyncio-sem", "rx-bus", "rxflow")
# A variant runs only when this module can be imported by the running interpreter.
NEEDS = {"rx-bus": "reactivex", "lg-tasks": "langgraph", "li-internal": "workflows"}
PACKAGES = [
    "rxflow",
    "reactivex",
    "attrs",
    "cattrs",
    "langgraph",
    "langchain-core",
    "llama-index-workflows",
    "pydantic",
    "psutil",
]


@dataclass(frozen=True)
class Group:
    """One table of the report: a workload with fixed arguments, run for some variants."""

    key: str
    workload: str
    args: dict
    variants: tuple[str, ...]
    reps: int
    once: tuple[str, ...] = ()  # variants too slow to repeat: first repetition only
    timeout_s: float = 120.0
    size: int | None = field(default=None, compare=False)


def plan(quick: bool) -> list[Group]:
    """The groups of a run. --quick: fewer repetitions, smaller budgets and peers."""
    fast, slow, b = (3, 1, 0.3) if quick else (7, 4, 1.0)
    peers_n = 500 if quick else 1000
    groups = [
        Group("W1", "W1", {"steps": 100, "budget": 2.0 * b}, CHAINS, fast),
        Group("W1s", "W1", {"steps": 100, "budget": 2.0 * b, "yielding": True}, CHAINS, fast),
        Group("W3", "W3", {"runs": 1000, "budget": b}, CHAINS, fast, size=1000),
        Group("W4", "W4", {"steps": 5, "budget": 1.5 * b}, CHAINS, fast),
        # LangGraph takes ~15 s at 10k: once. LlamaIndex is quadratic: never at 10k.
        Group(
            "W2",
            "W2",
            {"n": 10_000, "conc": 16, "budget": b},
            FANOUT_FLOORS,
            slow,
            once=() if quick else ("lg-tasks",),
            timeout_s=300.0,
            size=10_000,
        ),
        Group(
            "W2-peers",
            "W2",
            {"n": peers_n, "conc": 16, "budget": b},
            (*FANOUT_FLOORS, "lg-tasks", "li-internal"),
            slow,
            size=peers_n,
        ),
        Group(
            "W2-100k",
            "W2",
            {"n": 100_000, "conc": 16, "budget": b},
            ("asyncio", "rxflow"),
            slow,
            timeout_s=300.0,
            size=100_000,
        ),
        Group("depth", "depth", {"chain": 1000, "nested": 50}, ("rxflow",), 1),
    ]
    return [g if not quick else _shorter(g, 60.0) for g in groups]


def _shorter(g: Group, timeout_s: float) -> Group:
    return Group(
        g.key, g.workload, g.args, g.variants, g.reps, g.once, min(g.timeout_s, timeout_s), g.size
    )


# ---- running cells -----------------------------------------------------------
def run_cell(variant: str, workload: str, args: dict, timeout_s: float) -> dict:
    """One measurement in a fresh interpreter; always returns a dict ("error" on failure)."""
    cmd = [sys.executable, os.path.join(HERE, "cell.py"), variant, workload, json.dumps(args)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {
            "variant": variant,
            "workload": workload,
            "args": args,
            "error": f"timeout after {timeout_s:g} s",
            "timeout": True,
        }
    res = _last_json(p.stdout)
    if res is None:
        tail = (p.stderr or p.stdout or "no output").strip().splitlines()[-1]
        res = {
            "variant": variant,
            "workload": workload,
            "args": args,
            "error": f"exit {p.returncode}: {tail[:300]}",
        }
    res["proc_wall_s"] = time.perf_counter() - t0
    return res


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            res = json.loads(line)
        except ValueError:
            continue
        if isinstance(res, dict):
            return res
    return None


def available(variant: str) -> bool:
    mod = NEEDS.get(variant)
    return mod is None or importlib.util.find_spec(mod) is not None


def schedule(groups: list[Group], only: set[str] | None, rnd: random.Random):
    """Yield (repetition, group, variant): groups in plan order, variants shuffled."""
    for rep in range(max(g.reps for g in groups)):
        for g in groups:
            if rep >= g.reps:
                continue
            vs = [
                v
                for v in (*g.variants, *g.once)
                if (rep == 0 or v not in g.once) and (only is None or v in only)
            ]
            rnd.shuffle(vs)
            for v in vs:
                yield rep, g, v


def run_all(groups: list[Group], only: set[str] | None, seed: int) -> list[dict]:
    results: list[dict] = []
    timed_out: set[tuple[str, str]] = set()
    t0 = time.perf_counter()
    for rep, g, v in schedule(groups, only, random.Random(seed)):
        if not available(v):
            if rep == 0:
                results.append(
                    {
                        "group": g.key,
                        "variant": v,
                        "rep": rep,
                        "error": f"{NEEDS[v]} is not installed (bash benchmarks/setup_peers.sh)",
                    }
                )
            continue
        if (g.key, v) in timed_out:  # do not pay a hanging cell's timeout again
            continue
        r = run_cell(v, g.workload, g.args, g.timeout_s)
        r.update(group=g.key, rep=rep)
        results.append(r)
        if r.get("timeout"):
            timed_out.add((g.key, v))
        msg = r.get("error") or f"{r['median_s'] * 1e3:.3f} ms"
        print(
            f"[{time.perf_counter() - t0:5.0f}s] rep {rep} {g.key:8s} {v:12s} {msg}",
            file=sys.stderr,
            flush=True,
        )
    return results


# ---- metadata -----------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def source() -> str:
    """The commit measured, marked when the library's sources differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "rxflow"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" with uncommitted changes in rxflow/" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- entry point ----------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run, about 2 minutes")
    ap.add_argument("--only", help="comma-separated variants, e.g. asyncio,rxflow")
    ap.add_argument("--groups", help="comma-separated groups, e.g. W1,W2,depth")
    ap.add_argument("--reps", type=int, help="repetitions of every group (overrides the plan)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the order shuffle")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="re-render latest.md from latest.json without measuring",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 unless every rxflow target passes")
    return ap.parse_args(argv)


def selected_groups(a: argparse.Namespace) -> list[Group]:
    groups = plan(a.quick)
    if a.groups:
        wanted = set(a.groups.split(","))
        unknown = wanted - {g.key for g in groups}
        if unknown:
            sys.exit(f"unknown group(s): {', '.join(sorted(unknown))}")
        groups = [g for g in groups if g.key in wanted]
    if a.reps:
        groups = [
            Group(
                g.key,
                g.workload,
                g.args,
                g.variants,
                a.reps if g.reps > 1 else 1,
                g.once,
                g.timeout_s,
                g.size,
            )
            for g in groups
        ]
    return groups


def measure(a: argparse.Namespace) -> tuple[dict, list[dict]]:
    groups = selected_groups(a)
    only = set(a.only.split(",")) if a.only else None
    load_before, t0 = load(), time.perf_counter()
    results = run_all(groups, only, a.seed)
    meta = {
        "quick": a.quick,
        "argv": sys.argv[1:],
        "elapsed_s": time.perf_counter() - t0,
        "reps": max(g.reps for g in groups),
        "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load(),
        "source": source(),
        "versions": versions(),
        "sizes": {g.key: g.size for g in groups if g.size},
    }
    return meta, results


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    path_json = os.path.join(a.out, "latest.json")
    if a.report_only:
        with open(path_json) as fh:
            data = json.load(fh)
        meta, results = data["meta"], data["results"]
    else:
        meta, results = measure(a)
        with open(path_json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1)
    text, tgt = report.render(meta, results)
    with open(os.path.join(a.out, "latest.md"), "w") as fh:
        fh.write(text)
    print(text)
    failed = [t for t in tgt if t[3] != "PASS"]
    return 1 if a.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
