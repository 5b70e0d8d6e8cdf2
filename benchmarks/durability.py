"""Durability benchmark driver: what a checkpoint costs per step in rxflow (in memory, SQLite,
PostgreSQL; modes sync, async, exit) beside LangGraph with its SQLite and PostgreSQL
checkpointers and a hand-written floor, in one run.

Every cell (one variant x one workload) runs in a fresh subprocess (durability_cell.py); cells
are reshuffled every repetition. The report (durability_report.py) is printed and written to
benchmarks/results/durability.md and durability.json.

    .venv-bench/bin/python benchmarks/durability.py --quick      # about 1 minute
    .venv-bench/bin/python benchmarks/durability.py              # full, 5-10 minutes
    RXFLOW_BENCH_POSTGRES_DSN=postgresql://... .venv-bench/bin/python benchmarks/durability.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from importlib import metadata

import durability_report
import run as runner
from durability_common import postgres_dsn

HERE = os.path.dirname(os.path.abspath(__file__))
CELL = os.path.join(HERE, "durability_cell.py")
PACKAGES = [
    "rxflow",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
    "aiosqlite",
    "psycopg",
    "psycopg-pool",
]


def run_cell(variant: str, workload: str, args: dict, timeout_s: float) -> dict:
    """One measurement in a fresh interpreter; always returns a dict ("error" on failure)."""
    cmd = [sys.executable, CELL, variant, workload, json.dumps(args)]
    base = {"variant": variant, "workload": workload, "args": args}
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timeout after {timeout_s:g} s", "timeout": True}
    res = None
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            res = json.loads(line)
            break
        except ValueError:
            continue
    if not isinstance(res, dict):
        tail = (p.stderr or p.stdout or "no output").strip().splitlines()[-1]
        res = {**base, "error": f"exit {p.returncode}: {tail[:300]}"}
    res["proc_wall_s"] = time.perf_counter() - t0
    return res


def plan(a: argparse.Namespace, feats: dict) -> list[tuple[str, list[str], dict, int]]:
    """(group, variants, cell arguments, repetitions) of this run."""
    reps, growth_reps = (2, 1) if a.quick else (5, 3)
    if a.reps:
        reps = growth_reps = a.reps
    chain_args = {"steps": 100, "budget": 0.5, "min_runs": 3, "max_runs": 100, "warmup": 2}
    if not a.quick:
        chain_args.update(budget=2.0, min_runs=5, max_runs=300)
    growth_args = {"steps": 1000, "window": 10, "runs": 2 if a.quick else 3, "warmup": 1}
    if a.dir:
        chain_args["dir"] = growth_args["dir"] = a.dir
    modes = ["sync", "async", "exit"] if feats.get("modes") else ["default"]
    sync = "sync" if feats.get("modes") else "default"
    chain = ["rx-memory", *[f"rx-sqlite-{m}" for m in modes], "floor-sqlite", "lg-none"]
    chain += ["lg-sqlite-sync", "lg-sqlite-async", "lg-sqlite-exit"]
    growth = ["rx-memory", f"rx-sqlite-{sync}"]
    if feats.get("postgres"):
        chain += [f"rx-pg-{m}" for m in modes if m != "exit"] + ["floor-pg"]
        chain += ["lg-pg-sync", "lg-pg-async"]
        growth.append(f"rx-pg-{sync}")
    groups = [("chain", chain, chain_args, reps), ("growth", growth, growth_args, growth_reps)]
    if a.groups:
        groups = [g for g in groups if g[0] in a.groups.split(",")]
    if a.only:
        wanted = set(a.only.split(","))
        groups = [(k, [v for v in vs if v in wanted], x, n) for k, vs, x, n in groups]
    return groups


def missing(variant: str, feats: dict) -> str | None:
    """Why this variant cannot run here, or None."""
    if variant.startswith("lg-") and not feats.get("langgraph"):
        return "langgraph is not installed (bash benchmarks/setup_peers.sh)"
    if variant.startswith("lg-sqlite") and not feats.get("lg_sqlite"):
        return "langgraph-checkpoint-sqlite is not installed (bash benchmarks/setup_peers.sh)"
    if variant.startswith("lg-pg") and not feats.get("lg_postgres"):
        return "langgraph-checkpoint-postgres is not installed (bash benchmarks/setup_peers.sh)"
    if variant.startswith("rx-pg") and not feats.get("rx_postgres"):
        return "this rxflow has no PostgresStorage"
    return None


def run_all(groups, feats: dict, seed: int, timeout_s: float) -> list[dict]:
    results: list[dict] = []
    rnd, t0 = random.Random(seed), time.perf_counter()
    for rep in range(max((g[3] for g in groups), default=0)):
        for key, variants, args, reps in groups:
            if rep >= reps:
                continue
            order = list(variants)
            rnd.shuffle(order)
            for v in order:
                why = missing(v, feats)
                if why:
                    if rep == 0:
                        results.append({"group": key, "variant": v, "rep": 0, "error": why})
                    continue
                r = run_cell(v, key, args, timeout_s)
                r.update(group=key, rep=rep)
                results.append(r)
                msg = r.get("error") or f"{r['median_s'] * 1e3:.3f} ms"
                print(
                    f"[{time.perf_counter() - t0:5.0f}s] rep {rep} {key:6s} {v:18s} {msg}",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def file_system(path: str) -> str:
    """The type of the file system holding `path` (Linux), e.g. ext4 or tmpfs."""
    path, best, kind = os.path.realpath(path), "", "unknown"
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                mount, fs = line.split()[1:3]
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, fs
    except OSError:
        pass
    return kind


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def measure(a: argparse.Namespace) -> tuple[dict, list[dict]]:
    feats = run_cell("-", "probe", {}, 120.0)
    if "error" in feats:
        sys.exit(f"cannot probe the environment: {feats['error']}")
    if postgres_dsn() and not feats.get("postgres"):
        print(f"PostgreSQL skipped: {feats.get('postgres_error')}", file=sys.stderr)
    groups = plan(a, feats)
    load_before, t0 = runner.load(), time.perf_counter()
    results = run_all(groups, feats, a.seed, 180.0 if a.quick else 600.0)
    meta = {
        "quick": a.quick,
        "argv": sys.argv[1:],
        "elapsed_s": time.perf_counter() - t0,
        "reps": max((g[3] for g in groups), default=0),
        "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": runner.cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": runner.load(),
        "source": runner.source(),
        "versions": versions(),
        "features": {k: feats.get(k) for k in ("modes", "rx_postgres", "lg_sqlite")},
        "postgres": feats.get("postgres"),
        "db_fs": file_system(a.dir or tempfile.gettempdir()),
    }
    return meta, results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run, about 1 minute")
    ap.add_argument("--only", help="comma-separated variants, e.g. rx-memory,rx-sqlite-sync")
    ap.add_argument("--groups", help="comma-separated groups: chain, growth")
    ap.add_argument("--reps", type=int, help="repetitions of every group")
    ap.add_argument("--dir", help="folder for the SQLite files (default: the system temp)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the order shuffle")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    ap.add_argument("--report-only", action="store_true", help="re-render durability.json")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every target passes")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    path_json = os.path.join(a.out, "durability.json")
    if a.report_only:
        with open(path_json) as fh:
            data = json.load(fh)
        meta, results = data["meta"], data["results"]
    else:
        meta, results = measure(a)
        with open(path_json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1)
    text, tgt = durability_report.render(meta, results)
    with open(os.path.join(a.out, "durability.md"), "w") as fh:
        fh.write(text)
    print(text)
    failed = [t for t in tgt if t[3] not in ("PASS", "—")]
    return 1 if a.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
