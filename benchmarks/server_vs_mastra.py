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
                "--no-access-log", "--log-level", "warning",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mastra-dir", type=Path, required=True)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--servers", default="mastra,rxflow-memory,rxflow-sqlite")
    parser.add_argument("--workflows", default="chain5,fanout")
    parser.add_argument("--connections", default="16,128")
    args = parser.parse_args()
    lua = args.mastra_dir / "stream.lua"
    rows = []
    for kind in args.servers.split(","):
        with server(kind, args.mastra_dir) as (port, process):
            for workflow in args.workflows.split(","):
                load(port, workflow, 16, args.warmup, lua)
                for connections in (int(c) for c in args.connections.split(",")):
                    before = process.memory_info().rss
                    cell = load(port, workflow, connections, args.duration, lua)
                    after = process.memory_info().rss
                    rows.append((kind, workflow, connections, cell, before, after))
                    print(
                        f"{kind:14} {workflow:7} c={connections:<4} {cell['rate']:>6} runs/s  "
                        f"p50 {cell['p50']:>7} ms  p99 {cell['p99']:>7} ms  "
                        f"errors {cell['errors']}  rss {before >> 20}->{after >> 20} MiB",
                        flush=True,
                    )
    print("\n| server | workflow | connections | runs/s | p50 ms | p99 ms | errors | RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, workflow, connections, cell, before, after in rows:
        print(
            f"| {kind} | {workflow} | {connections} | {cell['rate']} | {cell['p50']} | "
            f"{cell['p99']} | {cell['errors']} | {before >> 20} -> {after >> 20} |"
        )


if __name__ == "__main__":
    main()
