"""HTTP plumbing of the server: JSON responses and refusals, bounded body reading, query
parameters, and the record framing of streams (compact JSON followed by ``\\x1e``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "SEPARATOR",
    "Refusal",
    "encode_record",
    "json_response",
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


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (values JSON cannot hold become their ``to_dict()`` or text)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def encode_record(chunk: Mapping[str, Any]) -> bytes:
    """One stream record: the chunk's compact JSON and the record separator."""
    return dumps(chunk) + SEPARATOR


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer with its length."""
    return Response(dumps(body), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when there is none), read up to ``limit`` bytes:
    413 as soon as it is longer, 400 when it is not a JSON object."""
    declared = request.headers.get("content-length")
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


def require_run_id(request: Request) -> str:
    """The ``runId`` query parameter (400 when missing or empty)."""
    run_id = request.query_params.get("runId")
    if not run_id:
        raise Refusal(
            400,
            "Invalid query parameters",
            [{"field": "runId", "message": "runId is required"}],
        )
    return run_id


def query_int(request: Request, name: str, default: int | None, *, minimum: int = 0) -> int | None:
    """An integer query parameter (400 when it is not one, or below ``minimum``)."""
    text = request.query_params.get(name)
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
