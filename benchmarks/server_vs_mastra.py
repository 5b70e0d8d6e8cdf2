"""rxflow's HTTP server against the real Mastra server, under the same load generator (wrk).

Each request streams one new run of a workflow to its end (the peer's ``stream.lua``). Cells:
``chain5`` and ``fanout`` (100 items) at 16 and 128 connections; servers: Mastra (in-memory
store), rxflow in memory and rxflow on SQLite. Prints runs/s, p50 and p99 per cell and each
server's memory before and after its load.

    python benchmarks/server_vs_mastra.py --mastra-dir PATH/TO/mastra-server [--duration 10]

``PATH/TO/mastra-server`` holds the peer's ``server.mjs`` and ``stream.lua`` with its
``node_modules`` installed (``npm ci``). Needs ``wrk``, ``node``, and rxflow's ``server``
extra with uvloop and httptools.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

HERE = Path(__file__).parent
ROOT = HERE.parent
LINE = re.compile(
    r"runs/s (?P<rate>\d+)\s+p50 (?P<p50>[\d.]+) ms\s+p99 (?P<p99>[\d.]+) ms\s+"
    r"requests (?P<requests>\d+)\s+errors (?P<errors>\d+)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


@contextmanager
def server(kind: str, mastra_dir: Path) -> Iterator[tuple[int, psutil.Process]]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"}
        if kind == "mastra":
            command = ["node", "server.mjs", str(port)]
            cwd = mastra_dir
        else:
            if kind == "rxflow-sqlite":
                env["RXFLOW_BENCH_DB"] = str(Path(tmp) / "runs.db")
            command = [
                sys.executable, "-m", "uvicorn", "server_app:app", "--host", "127.0.0.1",
                "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--no-proxy-headers", "--log-level", "warning",
            ]  # fmt: skip
            cwd = HERE
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
        try:
            wait_ready(port, process)
            yield port, psutil.Process(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def load(port: int, workflow: str, connections: int, seconds: int, lua: Path) -> dict[str, str]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(lua), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    done = subprocess.run(
        command, env={**os.environ, "WF": workflow}, capture_output=True, text=True, check=True
    )
    found = LINE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{done.stdout}{done.stderr}")
    return found.groupdict()


class RssSampler:
    """The process's resident memory, sampled every ``every`` seconds in a thread."""

    def __init__(self, process: psutil.Process, every: float = 1.0) -> None:
        self.process = process
        self.every = every
        self.samples: list[int] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(self.process.memory_info().rss)
            self.stopped.wait(self.every)

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(
    process: psutil.Process, port: int, workflow: str, connections: int, seconds: int, lua: Path
) -> dict[str, object]:
    before = cpu_seconds(process)
    with RssSampler(process) as rss:
        cell: dict[str, object] = dict(load(port, workflow, connections, seconds, lua))
    requests = int(str(cell["requests"]))
    cell["cpu_ms"] = 1000 * (cpu_seconds(process) - before) / max(requests, 1)
    cell["rss"] = rss.samples
    return cell


def mib(value: int) -> int:
    return value >> 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mastra-dir", type=Path, required=True)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--servers", default="mastra,rxflow-memory,rxflow-sqlite")
    parser.add_argument("--workflows", default="chain5,fanout")
    parser.add_argument("--connections", default="16,128")
    parser.add_argument("--soak", type=int, default=0, help="seconds of the memory cell (0: none)")
    args = parser.parse_args()
    lua = args.mastra_dir / "stream.lua"
    rows = []
    soaks = []
    for kind in args.servers.split(","):
        with server(kind, args.mastra_dir) as (port, process):
            for workflow in args.workflows.split(","):
                load(port, workflow, 16, args.warmup, lua)
                for connections in (int(c) for c in args.connections.split(",")):
                    cell = measure(process, port, workflow, connections, args.duration, lua)
                    rows.append((kind, workflow, connections, cell))
                    rss: list[int] = cell["rss"]  # type: ignore[assignment]
                    print(
                        f"{kind:14} {workflow:7} c={connections:<4} {cell['rate']:>6} runs/s  "
                        f"p50 {cell['p50']:>7} ms  p99 {cell['p99']:>7} ms  "
                        f"cpu {cell['cpu_ms']:.2f} ms/run  errors {cell['errors']}  "
                        f"rss {mib(rss[0])}->{mib(rss[-1])} MiB",
                        flush=True,
                    )
            if args.soak:
                cell = measure(process, port, "chain5", 16, args.soak, lua)
                soaks.append((kind, cell))
                samples: list[int] = cell["rss"]  # type: ignore[assignment]
                half = len(samples) // 2
                print(
                    f"{kind:14} soak {args.soak} s: {cell['rate']} runs/s, errors "
                    f"{cell['errors']}, RSS MiB every 5 s: "
                    f"{[mib(v) for v in samples[::5]]}; max first half "
                    f"{mib(max(samples[:half]))}, second half {mib(max(samples[half:]))}",
                    flush=True,
                )
    print(
        "\n| server | workflow | connections | runs/s | p50 ms | p99 ms | errors "
        "| CPU ms/run | RSS MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, workflow, connections, cell in rows:
        rss = cell["rss"]  # type: ignore[assignment]
        print(
            f"| {kind} | {workflow} | {connections} | {cell['rate']} | {cell['p50']} | "
            f"{cell['p99']} | {cell['errors']} | {cell['cpu_ms']:.2f} | "
            f"{mib(rss[0])} -> {mib(rss[-1])} |"
        )
    if soaks:
        print("\n| server | soak runs/s | errors | RSS MiB at start / 25% / 50% / 75% / end |")
        print("| --- | --- | --- | --- |")
        for kind, cell in soaks:
            samples = cell["rss"]  # type: ignore[assignment]
            marks = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in range(4)]
            marks.append(samples[-1])
            print(
                f"| {kind} | {cell['rate']} | {cell['errors']} | "
                f"{' / '.join(str(mib(m)) for m in marks)} |"
            )


if __name__ == "__main__":
    main()
