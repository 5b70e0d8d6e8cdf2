"""The server under many readers: a thousand observers of one run on one process, each
getting every record in order; a reader that stops reading does not make the server buffer
the rest of the log (raw sockets against uvicorn in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from server_app import workflows
from server_process import serving, start_server, stop_server

from rxflow import SQLiteStorage

OBSERVERS = 1000
GUARD = 60.0


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def _request(url: str, target: str, body: bytes = b"") -> asyncio.StreamReader:
    """Send one POST (``Connection: close``) and return the reader past the headers of its
    answer, which must be a chunked 200."""
    host, port = _host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    headers = await reader.readuntil(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200"), headers
    assert b"transfer-encoding: chunked" in headers.lower()
    reader.writer = writer  # type: ignore[attr-defined]  # kept alive with its reader
    return reader


class Body:
    """A chunked body, decoded as it is read."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.data = b""
        self.ended = False

    async def read_piece(self) -> None:
        size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await self.reader.readexactly(2)
            self.ended = True
            assert await self.reader.read() == b""  # the server closed the connection
            self.reader.writer.close()  # type: ignore[attr-defined]
            return
        self.data += await self.reader.readexactly(size)
        await self.reader.readexactly(2)

    async def until_records(self, count: int) -> None:
        while self.data.count(b"\x1e") < count and not self.ended:
            await self.read_piece()

    async def to_end(self) -> bytes:
        while not self.ended:
            await self.read_piece()
        return self.data


def records(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\x1e")
    return [json.loads(piece) for piece in body.split(b"\x1e")[:-1]]


async def _thousand_observers(url: str, gate: Path) -> None:
    payload = json.dumps({"inputData": {"path": str(gate), "count": 50}}).encode()
    stream = Body(await _request(url, "/api/workflows/gated/stream?runId=many", payload))
    await stream.until_records(2)  # workflow-start, workflow-step-start: the run waits

    async def observer() -> Body:
        body = Body(await _request(url, "/api/workflows/gated/observe?runId=many"))
        await body.until_records(2)  # the replay of what was recorded before it came
        return body

    observers = await asyncio.wait_for(
        asyncio.gather(*(observer() for _ in range(OBSERVERS))), GUARD
    )
    gate.touch()  # every observer is following: let the run go on
    streamed = await asyncio.wait_for(stream.to_end(), GUARD)
    bodies = await asyncio.wait_for(asyncio.gather(*(o.to_end() for o in observers)), GUARD)
    chunks = records(streamed)
    assert [c["type"] for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        *["workflow-step-output"] * 50,
        "workflow-step-result",
        "workflow-finish",
    ]
    assert [c["payload"]["output"]["index"] for c in chunks[2:52]] == list(range(50))
    for body in bodies:
        assert body == streamed  # every record, in order, nothing else
    assert all(o.ended for o in observers)


def test_a_thousand_observers_of_one_run(tmp_path: Path) -> None:
    with serving("server_gate_app:app") as url:
        asyncio.run(_thousand_observers(url, tmp_path / "gate"))


RECORDS = 20_000
STALL_SECONDS = 2.0  # how long the slow reader reads nothing
PADDING = 4_000


async def _fill_log(db: Path) -> int:
    """A run of ``slow`` with an 80 MB event log, written straight to the SQLite file."""
    storage = SQLiteStorage(str(db))
    wf = workflows()["slow"]
    wf.use_storage(storage)
    await wf.create_run(run_id="big")
    size = 0
    for first in range(0, RECORDS, 1000):
        batch = [
            {
                "type": "workflow-step-output",
                "runId": "big",
                "from": "USER",
                "payload": {"stepName": "nap", "output": {"i": i, "pad": "x" * PADDING}},
            }
            for i in range(first, first + 1000)
        ]
        size += sum(len(json.dumps(chunk)) for chunk in batch)
        await storage.append_events("slow", "big", first, batch)
    await storage.close()
    return size


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_reader_that_stops_reading_does_not_fill_the_servers_memory(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("reads peak memory from /proc")
    db = tmp_path / "runs.db"
    size = asyncio.run(_fill_log(db))
    process, url = start_server(RXFLOW_TEST_DB=str(db))
    try:
        host, port = _host_port(url)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
            sock.connect((host, port))
            sock.sendall(
                f"POST /api/workflows/slow/observe?runId=big HTTP/1.1\r\nHost: {host}\r\n"
                "Connection: close\r\nContent-Length: 0\r\n\r\n".encode()
            )
            received = bytearray(sock.recv(65_536))
            peak_before = _peak_rss(process.pid)  # the request is being answered
            # The reader stalls: a server that kept reading the log would hold all of it now.
            time.sleep(STALL_SECONDS)
            peak_stalled = _peak_rss(process.pid)
            sock.settimeout(GUARD)
            while piece := sock.recv(1 << 20):
                received += piece
        assert peak_stalled - peak_before < size // 4, (peak_before, peak_stalled, size)
        assert received.count(b"\x1e") == RECORDS  # then it got everything
        assert received.endswith(b"\r\n0\r\n\r\n")
    finally:
        stop_server(process)
