"""What the command line's display costs: a 10,000-item foreach run by ``rxflow run`` in a
terminal (tmux) and with ``--json`` to /dev/null, against the same workflow started from
Python with no display. Every variant is a fresh process on a fresh SQLite file, timed from
launch to exit (in tmux, by the shell inside the terminal); medians of alternated repetitions.

    python benchmarks/cli_overhead.py [--items 10000] [--work-ms 1] [--reps 3]

Target: the display adds at most 20% wall time.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOW = """
import asyncio
import os
from rxflow import create_step, create_workflow

WORK = float(os.environ.get("BENCH_WORK_MS", "1")) / 1000

async def item(ctx):
    if WORK:
        await asyncio.sleep(WORK)   # stands in for an API call
    return ctx.input_data * 2

wf = (
    create_workflow(id="cli_bench")
    .then(create_step(id="items", execute=lambda ctx: list(range(ctx.input_data))))
    .foreach(create_step(id="item", execute=item), concurrency=16)
    .then(create_step(id="total", execute=lambda ctx: sum(ctx.input_data)))
    .commit()
)
"""

PLAIN_PYTHON = """
import asyncio, sys
from rxflow import SQLiteStorage
from bench_flow import wf

async def main():
    wf.use_storage(SQLiteStorage(sys.argv[1]))
    run = await wf.create_run()
    result = await run.start(input_data=int(sys.argv[2]))
    assert result.status == "success", result.status
    await wf.storage.close()

asyncio.run(main())
"""


def _env(work: Path, work_ms: float) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(work)])
    env["BENCH_WORK_MS"] = str(work_ms)
    env["LANG"] = "C.UTF-8"
    env.pop("NO_COLOR", None)
    return env


def python_no_display(work: Path, items: int, env: dict[str, str], n: int) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "plain_run.py", f"p{n}.db", str(items)], cwd=work, env=env, check=True
    )
    return time.perf_counter() - began


def cli_json(work: Path, items: int, env: dict[str, str], n: int) -> float:
    began = time.perf_counter()
    with open(os.devnull, "w") as null:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rxflow",
                "run",
                "bench_flow:wf",
                "--input",
                str(items),
                "--db",
                f"j{n}.db",
                "--json",
            ],
            cwd=work,
            env=env,
            stdout=null,
            stdin=subprocess.DEVNULL,
            check=True,
        )
    return time.perf_counter() - began


def cli_terminal(work: Path, items: int, env: dict[str, str], n: int) -> float:
    """``rxflow run`` in a 120x40 tmux pane; the shell in the pane times it."""
    socket = str(work / "tmux.sock")
    times = work / f"t{n}.txt"
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("PYTHONPATH", "BENCH_WORK_MS"))
    command = (
        f"cd {shlex.quote(str(work))}; export {exports} LANG=C.UTF-8 TERM=xterm-256color; "
        f"s=$(date +%s.%N); {shlex.quote(sys.executable)} -m rxflow run bench_flow:wf "
        f"--input {items} --db t{n}.db; code=$?; e=$(date +%s.%N); "
        f"echo $s $e $code > {times}.tmp; mv {times}.tmp {times}"
    )
    subprocess.run(
        ["tmux", "-u", "-S", socket, "new-session", "-d", "-x", "120", "-y", "40", command],
        check=True,
    )
    deadline = time.monotonic() + 600
    while not times.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the tmux run did not finish")
        time.sleep(0.05)
    start, end, code = times.read_text().split()
    if code != "0":
        raise RuntimeError(f"rxflow run in tmux exited {code}")
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
    return float(end) - float(start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument(
        "--work-ms",
        type=float,
        default=1.0,
        help="each item's await asyncio.sleep, in ms (0: no work at all)",
    )
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    variants = {"python, no display": python_no_display, "rxflow run --json > /dev/null": cli_json}
    if shutil.which("tmux"):
        variants["rxflow run in a terminal (tmux)"] = cli_terminal
    else:
        print("tmux is not installed: the terminal variant is left out")
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "bench_flow.py").write_text(FLOW)
        (work / "plain_run.py").write_text(PLAIN_PYTHON)
        env = _env(work, args.work_ms)
        for n in range(args.reps):  # alternated, so drift on a shared machine hits all alike
            for name, measure in variants.items():
                times[name].append(measure(work, args.items, env, n))
    base = statistics.median(times["python, no display"])
    print(
        f"\n{args.items:,}-item foreach, concurrency 16, {args.work_ms:g} ms of work per item; "
        f"wall time per process, median of {args.reps}\n"
    )
    print("| variant | median | runs | vs no display |")
    print("|---|---:|---|---:|")
    for name, runs in times.items():
        median = statistics.median(runs)
        each = ", ".join(f"{t:.2f}" for t in runs)
        print(f"| {name} | {median:.2f} s | {each} | {100 * (median / base - 1):+.1f}% |")


if __name__ == "__main__":
    main()
