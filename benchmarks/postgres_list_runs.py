"""PostgresStorage.list_runs at 1,000,000 stored runs: the plan of each filter and its time.

Fills a scratch schema with N runs (20 workflows; 70% success, 10% failed, 10% suspended, 5%
running with no lease, 5% pending; 10,000 resources, every tenth run without one), runs
VACUUM ANALYZE, then for each filter prints the plan PostgreSQL chooses for the statement
list_runs sends (EXPLAIN ANALYZE) and the median time of list_runs(..., limit=50) through
the store, page and total count included.

    RXFLOW_BENCH_POSTGRES_DSN=postgresql://... python benchmarks/postgres_list_runs.py
    ... python benchmarks/postgres_list_runs.py --runs 100000 --repeat 30 --keep
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from typing import Any

# Measure the rxflow of this checkout, whether or not (or however) it is installed.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402
from rxflow.storage import postgres_runs  # noqa: E402
from rxflow.storage.postgres import PostgresStorage  # noqa: E402

SCHEMA = "rxflow_bench_list_runs"
# "Index Scan using X on T", "Index Only Scan using X", "Bitmap Index Scan on X"
INDEX = re.compile(r"(?:Index (?:Only )?Scan using|Bitmap Index Scan on) (\S+)")
T0 = 1_700_000_000_000

FILL = """
INSERT INTO rxflow_workflow_snapshot
    (workflow_id, run_id, resource_id, status, snapshot, created_at, updated_at)
SELECT 'wf-' || (i %% 20), 'run-' || i,
       CASE WHEN i %% 10 = 0 THEN NULL ELSE 'user-' || (i %% 10000) END,
       s.status,
       jsonb_build_object('runId', 'run-' || i, 'status', s.status, 'value', '{}'::jsonb,
                          'context', jsonb_build_object('input', jsonb_build_object('n', i)),
                          'activePaths', '[]'::jsonb, 'timestamp', %(t0)s::bigint + i * 10),
       %(t0)s::bigint + i * 10, %(t0)s::bigint + i * 10 + 5
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i,
     LATERAL (SELECT CASE WHEN i %% 100 < 70 THEN 'success' WHEN i %% 100 < 80 THEN 'failed'
                          WHEN i %% 100 < 90 THEN 'suspended' WHEN i %% 100 < 95 THEN 'running'
                          ELSE 'pending' END AS status) AS s
"""

# (label, list_runs keyword arguments)
CASES: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("workflow", {"workflow_id": "wf-3"}),
    ("status=running (5%)", {"status": "running"}),
    ("status=suspended (10%)", {"status": "suspended"}),
    ("status=success (70%)", {"status": "success"}),
    ("workflow + status", {"workflow_id": "wf-3", "status": "suspended"}),
    ("resource", {"resource_id": "user-42"}),
    ("orphaned", {"orphaned": True}),
    ("status=suspended, offset 1000", {"status": "suspended", "offset": 1000}),
]


def scratch(dsn: str, runs: int, keep: bool) -> str:
    """The DSN of the scratch schema, filled with ``runs`` runs (reused when --keep finds it)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.rxflow_run_count",)
        ).fetchone()
        if keep and found and found[0]:
            count = conn.execute(f"SELECT sum(n) FROM {SCHEMA}.rxflow_run_count")
            row = count.fetchone()
            if row and row[0] == runs:
                return make_conninfo(dsn, options=f"-c search_path={SCHEMA}")
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    where = make_conninfo(dsn, options=f"-c search_path={SCHEMA}")

    async def create() -> None:
        async with PostgresStorage(where) as store:  # the store makes its tables
            await store.list_runs(limit=0)

    asyncio.run(create())
    started = time.perf_counter()
    with psycopg.connect(where, autocommit=True) as conn:
        # The store counts runs by trigger, one insert at a time; a bulk fill counts them once.
        conn.execute("ALTER TABLE rxflow_workflow_snapshot DISABLE TRIGGER USER")
        step = 100_000
        for start in range(1, runs + 1, step):
            stop = min(start + step - 1, runs)
            conn.execute(FILL, {"t0": T0, "start": start, "stop": stop})
        conn.execute(
            "INSERT INTO rxflow_run_count SELECT workflow_id, status, 0, count(*)"
            " FROM rxflow_workflow_snapshot GROUP BY workflow_id, status"
        )
        conn.execute("ALTER TABLE rxflow_workflow_snapshot ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE rxflow_workflow_snapshot")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('rxflow_workflow_snapshot'))"
        ).fetchone()
    print(f"filled {runs:,} runs in {time.perf_counter() - started:.1f} s ({size and size[0]})")
    return where


def plan(where: str, kwargs: dict[str, Any]) -> list[str]:
    """The plan of the statement list_runs sends, with what each node did (EXPLAIN ANALYZE)."""
    filters = {k: kwargs.get(k) for k in ("workflow_id", "status", "resource_id")}
    query, params = postgres_runs.list_query(
        filters, bool(kwargs.get("orphaned")), [], 50, kwargs.get("offset", 0), None
    )
    with psycopg.connect(where, autocommit=True) as conn:
        rows = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {query}", params)
        return [line for (line,) in rows.fetchall()]


async def timings(where: str, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with PostgresStorage(where) as store:
        for label, kwargs in CASES:
            await store.list_runs(limit=50, **kwargs)  # warm: plans prepared, pages cached
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                listed = await store.list_runs(limit=50, **kwargs)
                times.append((time.perf_counter() - started) * 1000)
            assert len(listed.runs) == 50, (label, len(listed.runs))
            out[label] = [*times, float(listed.total)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse (and keep) the scratch data")
    parser.add_argument("--plans", action="store_true", help="print each whole plan")
    args = parser.parse_args()
    dsn = os.environ.get("RXFLOW_BENCH_POSTGRES_DSN") or os.environ.get("RXFLOW_TEST_POSTGRES_DSN")
    if not dsn:
        raise SystemExit("set RXFLOW_BENCH_POSTGRES_DSN (tests/start_postgres.sh starts a server)")
    where = scratch(dsn, args.runs, args.keep)
    with psycopg.connect(where) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(f"PostgreSQL {version and version[0]}, list_runs(limit=50), {args.repeat} calls each\n")
    results = asyncio.run(timings(where, args.repeat))
    print("| filter | matches | median ms | p90 ms | indexes used |")
    print("|---|---:|---:|---:|---|")
    for label, kwargs in CASES:
        *times, total = results[label]
        lines = plan(where, kwargs)
        indexes = sorted(
            {m.group(1) for line in lines if (m := INDEX.search(line))}
            | {"counts" for line in lines if "rxflow_run_count" in line}
        )
        p90 = statistics.quantiles(times, n=10)[-1]
        print(
            f"| {label} | {int(total):,} | {statistics.median(times):.2f} | {p90:.2f}"
            f" | {', '.join(indexes)} |"
        )
        if args.plans:
            print("\n".join(f"    {line}" for line in lines))
    if not args.keep:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
