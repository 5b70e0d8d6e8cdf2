"""Dispatching the API's requests to their handlers without a framework's layers in between.

Every request streams or answers JSON through a handler that turns its own errors into
answers, so the generic request machinery (exception middlewares, a task group per streamed
response) only costs time on the hot path. The routes are matched here by their path
segments; anything else (lifespan events, paths no route has) goes to ``fallback``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Endpoint", "RouteSpec", "Routes"]

Endpoint = Callable[[Request], Awaitable[Response]]
# (path template with {name} segments, method, endpoint)
RouteSpec = tuple[str, str, Endpoint]

_Pattern = tuple[tuple[str | None, ...], tuple[str, ...], Endpoint]


def _compile(template: str) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
    """A template's segments (None where a parameter goes) and its parameters' names."""
    literals: list[str | None] = []
    names: list[str] = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            literals.append(None)
            names.append(segment[1:-1])
        else:
            literals.append(segment)
    return tuple(literals), tuple(names)


class Routes:
    """An ASGI app calling the endpoint whose method and path template match the request."""

    def __init__(self, specs: Sequence[RouteSpec], fallback: ASGIApp) -> None:
        self.fallback = fallback
        # by (method, number of segments): a handful of patterns each
        self.table: dict[tuple[str, int], list[_Pattern]] = {}
        for template, method, endpoint in specs:
            literals, names = _compile(template)
            self.table.setdefault((method, len(literals)), []).append((literals, names, endpoint))

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        segments = path.strip("/").split("/")
        for literals, names, endpoint in self.table.get((method, len(segments)), ()):
            values: list[str] = []
            for literal, segment in zip(literals, segments, strict=True):
                if literal is None:
                    if not segment:
                        break
                    values.append(segment)
                elif literal != segment:
                    break
            else:
                return endpoint, dict(zip(names, values, strict=True))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.match(scope["method"], scope["path"])
            if found is not None:
                endpoint, params = found
                scope["path_params"] = params
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.fallback(scope, receive, send)
