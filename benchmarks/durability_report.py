"""Markdown report of one durability benchmark run: the targets (PASS/FAIL), the 100-step
chain per variant with its checkpoint cost, and the 1,000-step chain's first and last steps.
Pure formatting: no measurement happens here."""

from __future__ import annotations

from report import by_group, failure, fmt, med, ok, span, verdict

FRAMEWORKS = {"rx": "rxflow", "lg": "LangGraph", "floor": "floor"}
DATABASES = {
    "memory": "in memory",
    "none": "no checkpointer",
    "sqlite": "SQLite",
    "pg": "PostgreSQL",
}
BASELINE = {"rx": "rx-memory", "lg": "lg-none"}  # the same library without a store
FLOOR = {"sqlite": "floor-sqlite", "pg": "floor-pg"}
TARGET_RATIO = 1 / 3
TARGET_GROWTH = 2.0


def parse(variant: str) -> tuple[str, str, str]:
    fw, db, *rest = variant.split("-")
    return fw, db, rest[0] if rest else ""


def label(variant: str) -> str:
    """`rxflow SQLite sync`, `rxflow SQLite (default mode)`, `floor SQLite`, ..."""
    fw, db, mode = parse(variant)
    shown = {"default": "(default mode)", "": ""}.get(mode, mode)
    return " ".join(x for x in (FRAMEWORKS[fw], DATABASES[db], shown) if x)


def order(variant: str) -> tuple[int, int, int]:
    fw, db, mode = parse(variant)
    return (
        list(DATABASES).index(db) if db in DATABASES else 9,
        ["floor", "rx", "lg"].index(fw) if fw in FRAMEWORKS else 9,
        ["", "sync", "async", "exit", "default"].index(mode) if mode else 0,
    )


def per_step(rows: dict[str, list[dict]], variant: str) -> float:
    return med([c["per_step_us"] for c in ok(rows.get(variant, []))])


def checkpoint_cost(rows: dict[str, list[dict]], variant: str) -> float:
    """µs per step this variant pays for storing: its time minus the same library's without
    a store (a floor is nothing but storing)."""
    fw, db, _ = parse(variant)
    if fw == "floor":
        return per_step(rows, variant)
    if variant == BASELINE.get(fw) or fw not in BASELINE:
        return float("nan")
    return per_step(rows, variant) - per_step(rows, BASELINE[fw])


def _signed(x: float) -> str:
    return "n/a" if x != x else fmt(x, 1, 1)


def chain_table(rows: dict[str, list[dict]]) -> str:
    head = [
        "variant",
        "µs/step: median (min–max)",
        "checkpoint µs/step",
        "× database floor",
        "events/run",
        "runs/rep",
        "reps",
    ]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for v in sorted(rows, key=order):
        cells = ok(rows[v])
        if not cells:
            msg = failure(rows[v]).replace("|", "\\|")
            out.append(f"| {label(v)} | FAILED: {msg} |" + " |" * (len(head) - 3) + " 0 |")
            continue
        xs = [c["per_step_us"] for c in cells]
        cost = checkpoint_cost(rows, v)
        db = parse(v)[1]
        floor = per_step(rows, FLOOR[db]) if db in FLOOR else float("nan")
        times = f"{cost / floor:.1f}×" if cost > 0 and floor > 0 else ""  # NaN compares False
        out.append(
            "| "
            + " | ".join(
                [
                    label(v),
                    f"{fmt(med(xs), 1, 1)} ({span(xs, 1, 1)})",
                    _signed(cost) if v not in BASELINE.values() else "—",
                    times,
                    str(cells[-1]["events"]),
                    fmt(med([c["runs"] for c in cells]), 1, 0),
                    str(len(cells)),
                ]
            )
            + " |"
        )
    return "\n".join(out)


def growth_table(rows: dict[str, list[dict]]) -> str:
    out = [
        "| variant | steps 1–10 µs/step | steps 990–999 µs/step | last / first: median (min–max) "
        "| runs | reps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for v in sorted(rows, key=order):
        cells = ok(rows[v])
        if not cells:
            out.append(f"| {label(v)} | FAILED: {failure(rows[v])} | | | | 0 |")
            continue
        rs = [c["ratio"] for c in cells]
        out.append(
            f"| {label(v)} | {fmt(med([c['first_us'] for c in cells]), 1, 1)} "
            f"| {fmt(med([c['last_us'] for c in cells]), 1, 1)} "
            f"| {fmt(med(rs), 1, 2)}× ({span(rs, 1, 2)}) "
            f"| {sum(c['runs'] for c in cells)} | {len(cells)} |"
        )
    return "\n".join(out)


# ---- targets --------------------------------------------------------------------
def pairs(rows: dict[str, list[dict]]) -> list[tuple[str, str, bool]]:
    """(rxflow variant, LangGraph variant, has a target) for every mode measured on both
    sides; rxflow's default mode (before the durability option) pairs with LangGraph's
    default, "async"."""
    out = []
    for v in sorted(rows, key=order):
        fw, db, mode = parse(v)
        if fw != "rx" or db not in FLOOR:
            continue
        peer = f"lg-{db}-{'async' if mode == 'default' else mode}"
        if peer in rows:
            out.append((v, peer, mode != "exit"))
    return out


def targets(g: dict[str, dict[str, list[dict]]]) -> list[tuple[str, str, str, str]]:
    """(what, target, measured, verdict) rows."""
    rows = g.get("chain", {})
    out = []
    for rx, lg, has_target in pairs(rows):
        a, b = checkpoint_cost(rows, rx), checkpoint_cost(rows, lg)
        r = a / b if a == a and b == b and b > 0 else float("nan")
        out.append(
            (
                f"{label(rx)} vs {label(lg)}",
                "checkpoint cost ≤ 1/3 of LangGraph's" if has_target else "none (shown only)",
                f"{_signed(a)} vs {_signed(b)} µs/step = {fmt(r, 1, 2)}",
                verdict(r, TARGET_RATIO) if has_target else "—",
            )
        )
    for v, cells in sorted(g.get("growth", {}).items(), key=lambda kv: order(kv[0])):
        if parse(v)[1] == "memory":
            continue
        rs = [c["ratio"] for c in ok(cells)]
        out.append(
            (
                f"{label(v)}, 1,000-step chain",
                "steps 990–999 ≤ 2× steps 1–10 (µs/step)",
                f"{fmt(med(rs), 1, 2)}×" if rs else failure(cells),
                verdict(med(rs), TARGET_GROWTH),
            )
        )
    return out


def targets_table(rows: list[tuple[str, str, str, str]]) -> str:
    out = ["| compared | target | measured | verdict |", "|---|---|---|---|"]
    out += [f"| {w} | {t} | {m} | **{v}** |" for w, t, m, v in rows]
    return "\n".join(out)


# ---- whole report ---------------------------------------------------------------
NOTES = [
    "Every step returns `{'n': <counter>, 'text': <180 characters>}`, 200 bytes as JSON; one "
    "run at a time, each a new run (rxflow) or a new thread id (LangGraph), streamed and "
    "drained. µs/step is the median run's time divided by the number of steps.",
    "**checkpoint µs/step** = the variant's µs/step minus that of the same library without a "
    "store (rxflow in memory, LangGraph without a checkpointer), both measured in this run. "
    "**× database floor** = that cost over the floor's µs/step on the same database.",
    "Floors: the same outputs written by hand, one INSERT and one commit per step (sqlite3: "
    "WAL, `synchronous=NORMAL`; psycopg: autocommit, JSONB column). They are the database's "
    "own cost of a write per step.",
    "SQLite: every variant uses WAL and `synchronous=NORMAL` (rxflow's settings; LangGraph's "
    "aiosqlite connection is given the same pragma) on a new file per cell. PostgreSQL: every "
    "cell gets a new schema on the same server, dropped afterwards.",
    "Modes: `sync` stores a step's result before the next step starts; `async` stores off the "
    "step path; `exit` only at the start, a suspension and the end. LangGraph's `durability` "
    "argument of `astream` has the same three values (its default is `async`).",
    "The 1,000-step chain is timed by a clock in the step bodies: a step's time runs from its "
    "body's start to the next body's start, its checkpoint included.",
]


def render(meta: dict, results: list[dict]) -> tuple[str, list[tuple[str, str, str, str]]]:
    """The markdown report and the target rows."""
    g = by_group(results)
    tgt = targets(g)
    kind = "--quick" if meta["quick"] else "full"
    feats = meta.get("features", {})
    modes = (
        "checkpoint modes sync, async, exit"
        if feats.get("modes")
        else "no `durability` option in this rxflow: its rows run the default mode"
    )
    L = [
        f"# rxflow durability benchmark ({kind} run)\n",
        f"{meta['finished']}, {meta['elapsed_s']:.0f} s, up to {meta['reps']} repetitions; every "
        "cell ran in a fresh subprocess, variant order reshuffled every repetition.\n",
        f"Machine: {meta['cpu']}, {meta['cores']} cores; load average before "
        f"{meta['load_before']}, after {meta['load_after']}. Source: {meta['source']}; "
        f"{modes}.\n",
        f"Database files: {meta.get('db_fs', 'unknown')} file system. PostgreSQL: "
        f"{meta.get('postgres') or 'not measured (set RXFLOW_BENCH_POSTGRES_DSN)'}.\n",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "\n",
    ]
    if meta["quick"]:
        L.append("Quick run: few repetitions and small budgets; figures are indicative.\n")
    L += ["## Targets\n", targets_table(tgt), ""]
    if "chain" in g:
        L += ["## 100-step chain, one run at a time\n", chain_table(g["chain"]), ""]
    if "growth" in g:
        L += ["## 1,000-step chain: first and last steps\n", growth_table(g["growth"]), ""]
    L += ["## How it is measured\n", *[f"- {n}" for n in NOTES]]
    fails = {(r["variant"], r["error"]) for r in results if "error" in r}
    if fails:
        L += ["\n## Failures\n", *[f"- `{v}`: {e}" for v, e in sorted(fails)]]
    return "\n".join(L) + "\n", tgt
