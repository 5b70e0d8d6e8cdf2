"""The run viewer: the browser app (built from viewer/ into ui/, shipped with the package)
served at ``/`` beside the API. It reads only the API's public routes."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["UI_DIRECTORY", "with_viewer"]

UI_DIRECTORY = Path(__file__).parent / "ui"

# The page loads only its own script and style, talks to the API (any origin: the viewer can
# be pointed at another server from its settings) and is never framed.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src *; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# The built page names the default prefix here; the served page names the app's own.
_PREFIX_META = '<meta name="rxflow-api-prefix" content="/api">'


def _page(api_prefix: str) -> bytes:
    text = (UI_DIRECTORY / "index.html").read_text(encoding="utf-8")
    meta = f'<meta name="rxflow-api-prefix" content="{html.escape(api_prefix, quote=True)}">'
    return text.replace(_PREFIX_META, meta).encode()


def with_viewer(api: ASGIApp, api_prefix: str) -> ASGIApp:
    """``api`` with the viewer's page at ``/`` and its files under ``/assets/``; every other
    path (the API's included) goes to ``api``, with its authentication. The viewer's own files
    hold no data, so they are served without it (the page asks for the token)."""
    page = _page(api_prefix)

    async def index(request: Request) -> Response:
        return HTMLResponse(
            page,
            headers={
                "cache-control": "no-cache",
                "content-security-policy": _POLICY,
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    viewer = Starlette(
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Mount("/assets", StaticFiles(directory=UI_DIRECTORY / "assets"), name="assets"),
        ]
    )
    return _Dispatch(api, viewer)


class _Dispatch:
    """Sends ``/`` and ``/assets/...`` to the viewer, everything else to the API."""

    def __init__(self, api: ASGIApp, viewer: ASGIApp) -> None:
        self.api = api
        self.viewer = viewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == "/" or path.startswith("/assets/"):
                await self.viewer(scope, receive, send)
                return
        await self.api(scope, receive, send)
