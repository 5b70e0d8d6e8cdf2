"""Markdown report of one benchmark run: the rxflow targets (PASS/FAIL), then one
table per workload with ratios against the asyncio floor and against rxflow,
all measured in the same run. Pure formatting: no measurement happens here."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

FLOOR = "asyncio"
SUBJECT = "rxflow"
ORDER = ["asyncio", "asyncio-sem", "rx-bus", "rxflow", "lg-tasks", "li-internal"]

VARIANT_NOTES = {
    "asyncio": "floor: plain coroutines, dict events on an asyncio.Queue "
    "(W2: 16 worker coroutines)",
    "asyncio-sem": "W2 only: one task per item, Semaphore(16) + gather (the common idiom)",
    "rx-bus": "floor on reactivex: coroutines drive the steps, a Subject carries the events "
    "(W2: from_iterable | map(defer(from_future)) | merge(max_concurrent=16))",
    "rxflow": "rxflow public API: create_run, stream, async for, await output.result",
    "lg-tasks": "LangGraph StateGraph, astream(stream_mode='tasks')",
    "li-internal": "LlamaIndex Workflows, stream_events(expose_internal=True)",
}

W4_FIRST = {
    "asyncio": "workflow-start dict",
    "rx-bus": "workflow-start dict",
    "rxflow": "workflow-start chunk",
    "lg-tasks": "task start of s0",
    "li-internal": "StepStateChanged(s0 RUNNING)",
}


# ---- numbers ------------------------------------------------------------------
def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def fmt(x: float | None, scale: float = 1.0, nd: int = 1) -> str:
    if x is None or x != x:
        return "n/a"
    v = x * scale
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.{nd}f}"


def span(xs: list[float], scale: float, nd: int = 1) -> str:
    return f"{fmt(min(xs), scale, nd)}–{fmt(max(xs), scale, nd)}" if xs else "n/a"


def ratio_value(x: float, base: float) -> float:
    return x / base if base == base and x == x and base > 0 else math.nan


def ratio(x: float, base: float) -> str:
    r = ratio_value(x, base)
    if r != r:
        return "n/a"
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×"


# ---- grouping -----------------------------------------------------------------
def by_group(results: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """{group: {variant: [cell results, errors included]}}"""
    out: dict[str, dict[str, list[dict]]] = {}
    for r in results:
        out.setdefault(r["group"], {}).setdefault(r["variant"], []).append(r)
    return out


def ok(cells: list[dict]) -> list[dict]:
    return [c for c in cells if "error" not in c]


def metric(rows: dict[str, list[dict]], variant: str, key: str = "median_s") -> float:
    return med([c[key] for c in ok(rows.get(variant, [])) if c.get(key) is not None])


def failure(cells: list[dict]) -> str:
    errs = [c["error"] for c in cells if "error" in c]
    return errs[0] if errs else "no data"


# ---- per-workload tables ------------------------------------------------------
Column = tuple[str, Callable[[str, list[dict]], str]]


def table(rows: dict[str, list[dict]], columns: list[Column]) -> str:
    """One row per variant; a variant whose cells all failed shows its error."""
    head = ["variant", *[c[0] for c in columns], "reps"]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for v in sorted(rows, key=lambda v: ORDER.index(v) if v in ORDER else 99):
        cells = ok(rows[v])
        if not cells:
            msg = failure(rows[v]).replace("|", "\\|")
            out.append(f"| {v} | FAILED: {msg} |" + " |" * (len(columns) - 1) + " 0 |")
            continue
        out.append(
            "| " + " | ".join([v, *[fn(v, cells) for _, fn in columns], str(len(cells))]) + " |"
        )
    return "\n".join(out)


def ratio_columns(rows: dict[str, list[dict]], key: str = "median_s") -> list[Column]:
    """Time ratios against the floor and against rxflow (higher = slower)."""
    floor, subject = metric(rows, FLOOR, key), metric(rows, SUBJECT, key)
    return [
        ("× asyncio floor", lambda v, cs: ratio(med([c[key] for c in cs]), floor)),
        ("× rxflow", lambda v, cs: ratio(med([c[key] for c in cs]), subject)),
    ]


def chain_table(rows: dict[str, list[dict]]) -> str:
    def per_step(v, cs):
        xs = [c["per_step_us"] for c in cs]
        return f"{fmt(med(xs), 1, 1)} ({span(xs, 1, 1)})"

    return table(
        rows,
        [
            ("µs/step: median (min–max)", per_step),
            *ratio_columns(rows),
            ("events/run", lambda v, cs: str(cs[-1]["events"])),
            ("build ms", lambda v, cs: fmt(med([c["build_ms"] for c in cs]), 1, 1)),
            ("runs/rep", lambda v, cs: fmt(med([c["runs"] for c in cs]), 1, 0)),
        ],
    )


def latency_table(rows: dict[str, list[dict]]) -> str:
    def first(v, cs):
        xs = [c["median_s"] for c in cs]
        return f"{fmt(med(xs), 1e6, 1)} ({span(xs, 1e6, 1)})"

    return table(
        rows,
        [
            ("first event µs: median (min–max)", first),
            *ratio_columns(rows),
            ("first event is", lambda v, cs: W4_FIRST.get(v, "")),
            ("whole run µs", lambda v, cs: fmt(med([c["run_median_s"] for c in cs]), 1e6, 1)),
            ("events/run", lambda v, cs: str(cs[-1]["events"])),
        ],
    )


def throughput_table(rows: dict[str, list[dict]], unit: str) -> str:
    rate_key = "items_per_s" if unit == "items" else "runs_per_s"

    def wall(v, cs):
        xs = [c["median_s"] for c in cs]
        return f"{fmt(med(xs), 1, 3)} ({span(xs, 1, 3)})"

    cols: list[Column] = [
        (f"{unit}/s", lambda v, cs: fmt(med([c[rate_key] for c in cs]), 1, 0)),
        ("wall s: median (min–max)", wall),
        *ratio_columns(rows),
        ("events", lambda v, cs: f"{cs[-1]['events']:,}"),
    ]
    if unit == "items":
        cols += [
            ("first progress ms", lambda v, cs: fmt(med_opt(cs, "first_progress_s"), 1e3, 2)),
            ("first event ms", lambda v, cs: fmt(med_opt(cs, "first_event_s"), 1e3, 2)),
        ]
    cols.append(("RSS growth MB", lambda v, cs: fmt(med([c["rss_growth_mb"] for c in cs]), 1, 1)))
    return table(rows, cols)


def med_opt(cells: list[dict], key: str) -> float:
    return med([c[key] for c in cells if c.get(key) is not None])


def depth_table(rows: dict[str, list[dict]]) -> str:
    def check(kind):
        return lambda v, cs: "; ".join(
            f"{c[kind]['status']} ({fmt(c[kind]['s'], 1e3, 1)} ms)" for c in cs
        )

    return table(
        rows,
        [
            ("1,000-step chain", check("chain")),
            ("50-deep nested workflow", check("nested")),
            ("recursion limit", lambda v, cs: str(cs[0]["recursion_limit"])),
        ],
    )


# ---- targets --------------------------------------------------------------------
def verdict(value: float, limit: float, at_most: bool = True) -> str:
    if value != value:
        return "NO DATA"
    return "PASS" if (value <= limit if at_most else value >= limit) else "FAIL"


def targets(g: dict[str, dict[str, list[dict]]]) -> list[tuple[str, str, str, str]]:
    """(workload, target, measured, verdict) for every rxflow target."""

    def m(group, key="median_s", variant=SUBJECT):
        return metric(g.get(group, {}), variant, key)

    def times_floor(group):
        return ratio_value(m(group), m(group, variant=FLOOR))

    w1, w1s = times_floor("W1"), times_floor("W1s")
    w3_rate, w3_x = m("W3", "runs_per_s"), times_floor("W3")
    w4 = m("W4")
    w2_rate, w2_x = m("W2", "items_per_s"), times_floor("W2")
    w2_mem, w2_first = m("W2", "rss_growth_mb"), m("W2", "first_progress_s")
    scale = ratio_value(m("W2-100k"), m("W2"))
    floor_scale = ratio_value(m("W2-100k", variant=FLOOR), m("W2", variant=FLOOR))
    rows = [
        (
            "W1",
            "µs/step ≤ 5× floor",
            f"{fmt(m('W1', 'per_step_us'))} µs/step = {fmt(w1, nd=2)}× "
            f"(floor {fmt(m('W1', 'per_step_us', FLOOR), nd=2)})",
            verdict(w1, 5),
        ),
        (
            "W1s",
            "µs/step ≤ 2× floor",
            f"{fmt(m('W1s', 'per_step_us'))} µs/step = {fmt(w1s, nd=2)}× "
            f"(floor {fmt(m('W1s', 'per_step_us', FLOOR), nd=2)})",
            verdict(w1s, 2),
        ),
        ("W3", "≥ 8,000 runs/s", f"{fmt(w3_rate, nd=0)} runs/s", verdict(w3_rate, 8000, False)),
        ("W3", "time ≤ 4× floor", f"{fmt(w3_x, nd=2)}×", verdict(w3_x, 4)),
        ("W4", "first event ≤ 100 µs", f"{fmt(w4, 1e6)} µs", verdict(w4 * 1e6, 100)),
        (
            "W2 N=10k",
            "≥ 60,000 items/s",
            f"{fmt(w2_rate, nd=0)} items/s",
            verdict(w2_rate, 60000, False),
        ),
        ("W2 N=10k", "time ≤ 5× floor", f"{fmt(w2_x, nd=2)}×", verdict(w2_x, 5)),
        ("W2 N=10k", "RSS growth ≤ 20 MB", f"{fmt(w2_mem)} MB", verdict(w2_mem, 20)),
        (
            "W2 N=10k",
            "first progress ≤ 10 ms",
            f"{fmt(w2_first, 1e3, 2)} ms",
            verdict(w2_first * 1e3, 10),
        ),
        (
            "W2 N=100k",
            "time ≤ 12× the 10k time",
            f"{fmt(scale, nd=2)}× (floor {fmt(floor_scale, nd=2)}×)",
            verdict(scale, 12),
        ),
    ]
    for kind, title in [("chain", "1,000-step chain"), ("nested", "50-deep nested workflow")]:
        cells = ok(g.get("depth", {}).get(SUBJECT, []))
        statuses = [c[kind]["status"] for c in cells]
        passed = bool(statuses) and all(s == "success" for s in statuses)
        shown = "; ".join(statuses) if statuses else failure(g.get("depth", {}).get(SUBJECT, []))
        rows.append(
            (
                "depth",
                f"{title}: status success at the default recursion limit",
                shown.replace("|", "\\|"),
                "PASS" if passed else ("FAIL" if statuses else "NO DATA"),
            )
        )
    return rows


def targets_table(rows: list[tuple[str, str, str, str]]) -> str:
    out = ["| workload | target | rxflow measured | verdict |", "|---|---|---|---|"]
    out += [f"| {w} | {t} | {m} | **{v}** |" for w, t, m, v in rows]
    return "\n".join(out)


# ---- whole report ---------------------------------------------------------------
def sections(meta: dict) -> list[tuple[str, str, Callable]]:
    """(group, heading, table builder) in report order."""
    n = meta.get("sizes", {})
    return [
        (
            "W1",
            "W1 — 100-step chain, one streamed run at a time (bodies `return x + 1`)",
            chain_table,
        ),
        ("W1s", "W1s — the same chain, every body `await asyncio.sleep(0)` first", chain_table),
        (
            "W3",
            f"W3 — {n.get('W3', 1000):,} concurrent streamed runs of a 5-step chain "
            "(asyncio.gather)",
            lambda r: throughput_table(r, "runs"),
        ),
        (
            "W4",
            "W4 — latency from starting the stream to its first event, 5-step chain",
            latency_table,
        ),
        (
            "W2",
            f"W2 — foreach over N={n.get('W2', 10000):,} items, concurrency 16, "
            "each item `await asyncio.sleep(0)`, streamed with progress",
            lambda r: throughput_table(r, "items"),
        ),
        (
            "W2-peers",
            f"W2 at N={n.get('W2-peers', 1000):,} (every peer; LlamaIndex is quadratic in N)",
            lambda r: throughput_table(r, "items"),
        ),
        (
            "W2-100k",
            f"W2 at N={n.get('W2-100k', 100000):,} (rxflow and floor only)",
            lambda r: throughput_table(r, "items"),
        ),
        ("depth", "Depth checks (rxflow only)", depth_table),
    ]


def failure_list(results: list[dict]) -> list[str]:
    """One line per distinct (variant, error), naming the cells it hit."""
    seen: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if "error" in r:
            seen.setdefault((r["variant"], r["error"]), []).append(f"{r['group']}#{r['rep']}")
    return [f"- `{v}` in {', '.join(cells)}: {err}" for (v, err), cells in seen.items()]


def render(meta: dict, results: list[dict]) -> tuple[str, list[tuple[str, str, str, str]]]:
    """The markdown report and the target rows."""
    g = by_group(results)
    tgt = targets(g)
    mode = "--quick" if meta["quick"] else "full"
    L = [
        f"# rxflow benchmarks ({mode} run)\n",
        f"{meta['finished']}, {meta['elapsed_s']:.0f} s, {meta['reps']} repetitions "
        "(fewer for slow cells, see the reps column). Every cell ran in a fresh subprocess, "
        "variant order reshuffled every repetition.\n",
        f"Machine: {meta['cpu']}, {meta['cores']} cores; load average before "
        f"{meta['load_before']}, after {meta['load_after']}. Source: {meta['source']}.\n",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "\n",
    ]
    if meta["quick"]:
        L.append("Quick run: few repetitions and small budgets; figures are indicative.\n")
    L += ["## Targets (rxflow)\n", targets_table(tgt), ""]
    L.append(
        "Ratios below are time ratios (higher = slower) against the asyncio floor and "
        "against rxflow, both measured in this run; each figure is the median over "
        "repetitions.\n"
    )
    for key, heading, build in sections(meta):
        if key in g:
            L += [f"## {heading}\n", build(g[key]), ""]
    L.append("## Variants\n")
    L += [f"- `{v}`: {VARIANT_NOTES[v]}" for v in ORDER if any(v in rows for rows in g.values())]
    failures = failure_list(results)
    if failures:
        L += ["\n## Failures\n", *failures]
    return "\n".join(L) + "\n", tgt
