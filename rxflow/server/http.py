"""HTTP plumbing of the server: JSON responses and refusals, bounded body reading, query
parameters, and the record framing of streams (compact JSON followed by ``\\x1e``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "SEPARATOR",
    "RecordStream",
    "Refusal",
    "encode_record",
    "json_response",
    "query",
    "query_int",
    "read_body",
    "require_run_id",
]

SEPARATOR = b"\x1e"


class Refusal(Exception):
    """A request refused before any byte of the answer: ``{"error", "issues"?}`` with a 4xx."""

    def __init__(self, status: int, error: str, issues: list[dict[str, str]] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.issues = issues

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error}
        if self.issues is not None:
            body["issues"] = self.issues
        return json_response(body, self.status)


def _default(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


# One encoder for every record and answer (``json.dumps`` with options builds one per call).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default).encode


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (values JSON cannot hold become their ``to_dict()`` or text).

    orjson writes them, several times faster than ``json`` (every chunk of every stream goes
    through here); ``json`` writes what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return _encode(value).encode()


def encode_record(chunk: Mapping[str, Any]) -> bytes:
    """One stream record: the chunk's compact JSON and the record separator."""
    return dumps(chunk) + SEPARATOR


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer with its length."""
    return Response(dumps(body), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when there is none), read up to ``limit`` bytes:
    413 as soon as it is longer, 400 when it is not a JSON object."""
    declared = next((v for k, v in request.scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"Request body too large (limit: {limit} bytes)")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise Refusal(413, f"Request body too large (limit: {limit} bytes)")
        parts.append(part)
    raw = b"".join(parts)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise Refusal(
            400,
            "Invalid request body",
            [{"field": "body", "message": "expected a JSON object"}],
        )
    return body


def query(request: Request) -> dict[str, str]:
    """The request's query parameters (the last value of a repeated one), parsed once."""
    scope = request.scope
    parsed: dict[str, str] | None = scope.get("rxflow.query")
    if parsed is None:
        parsed = scope["rxflow.query"] = {}
        for part in scope["query_string"].decode("latin-1").split("&"):
            if part:
                name, _, value = part.partition("=")
                if "%" in part or "+" in part:
                    name, value = unquote_plus(name), unquote_plus(value)
                parsed[name] = value
    return parsed


def require_run_id(request: Request) -> str:
    """The ``runId`` query parameter (400 when missing or empty)."""
    run_id = query(request).get("runId")
    if not run_id:
        raise Refusal(
            400,
            "Invalid query parameters",
            [{"field": "runId", "message": "runId is required"}],
        )
    return run_id


def query_int(request: Request, name: str, default: int | None, *, minimum: int = 0) -> int | None:
    """An integer query parameter (400 when it is not one, or below ``minimum``)."""
    text = query(request).get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise Refusal(
            400,
            "Invalid query parameters",
            [{"field": name, "message": f"expected an integer >= {minimum}, got {text!r}"}],
        )
    return value


class RecordStream(Response):
    """A ``200 text/plain`` answer whose body is written piece by piece as ``pieces`` yields
    them, each as it comes (the server flushes every write).

    A client that goes away stops the writing at once: a task waits for the disconnect and
    cancels the writer, so a reader waiting for a run's next record holds nothing after its
    client is gone. The run itself goes on.
    """

    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        # No body, no length: the server sends it chunked.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/plain; charset=utf-8")]
        self.pieces = pieces
        self.finished = False
        self.gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        writer = asyncio.current_task()
        assert writer is not None
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, writer))
        try:
            async for piece in self.pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self.gone:
                raise
            writer.uncancel()
        finally:
            self.finished = True
            watcher.cancel()
            await _close(self.pieces)

    async def _watch(self, receive: Receive, writer: asyncio.Task[Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.gone = True
            writer.cancel()


async def _close(pieces: AsyncIterator[bytes]) -> None:
    close = getattr(pieces, "aclose", None)
    if close is not None:
        await close()
