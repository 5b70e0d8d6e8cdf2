"""Starting the test app (tests/server_app.py) with uvicorn in a subprocess on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(app: str = "server_app:app", **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``app`` (tests/server_app.py's by default) with uvicorn; returns the process and
    its base URL once it answers."""
    port = free_port()
    environment = {**os.environ, **env, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=TESTS,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/api/workflows", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_server(process)
                raise RuntimeError("the test server did not start") from None
            time.sleep(0.05)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(app: str = "server_app:app", **env: str) -> Iterator[str]:
    """Serve ``app`` (tests/server_app.py's by default); yields its base URL; stops it at the
    end."""
    process, url = start_server(app, **env)
    try:
        yield url
    finally:
        stop_server(process)
