"""``create_app``: the ASGI app serving workflows on Mastra's routes, with optional bearer-token
authentication, a request body limit and CORS."""

from __future__ import annotations

import contextlib
import gc
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import RxflowError, StorageError, ValidationError, WorkflowDefinitionError
from ..storage import Storage
from ..workflow import Workflow
from . import routes_read
from .http import Refusal, json_response
from .routes_run import EXECUTE, cancel
from .routes_travel import TRAVEL
from .routing import Routes, RouteSpec
from .state import Handler, ServerState, issues
from .viewer import with_viewer

__all__ = ["create_app"]

_log = logging.getLogger("rxflow.server")


def create_app(
    workflows: Mapping[str, Workflow],
    *,
    storage: Storage | None = None,
    api_prefix: str = "/api",
    auth_token: str | None = None,
    max_body_bytes: int = 1_048_576,
    cors_origins: Iterable[str] = (),
    ui: bool = True,
) -> ASGIApp:
    """An ASGI app serving ``workflows`` (registry key -> committed workflow) on Mastra's
    workflow routes under ``api_prefix``, so ``@mastra/client-js`` can drive them.

    With ``storage``, every workflow's runs use it; otherwise each workflow's own storage.
    ``auth_token`` (or the ``RXFLOW_API_TOKEN`` environment variable) requires
    ``Authorization: Bearer <token>`` on every request (401 otherwise). Bodies longer than
    ``max_body_bytes`` are refused with 413. ``cors_origins`` lists the browser origins
    allowed to call the app (none by default). With ``ui`` (the default) the run viewer, a
    browser app reading these routes, is served at ``/``.
    """
    for key, wf in workflows.items():
        if not isinstance(wf, Workflow) or not wf.committed:
            raise WorkflowDefinitionError(f"workflows[{key!r}] must be a committed Workflow")
        if storage is not None and wf.storage is not storage:
            wf.use_storage(storage)
    if type(max_body_bytes) is not int or max_body_bytes < 0:
        raise ValueError(f"max_body_bytes must be an int >= 0, got {max_body_bytes!r}")
    state = ServerState(workflows, max_body_bytes)
    prefix = _normalise(api_prefix)
    base = f"{prefix}/workflows"
    specs: list[RouteSpec] = [
        (base, "GET", _bind(state, routes_read.list_workflows)),
        (f"{base}/run-counts", "GET", _bind(state, routes_read.run_counts)),
        (base + "/{workflowId}", "GET", _bind(state, routes_read.workflow)),
        (base + "/{workflowId}/runs", "GET", _bind(state, routes_read.list_runs)),
        (base + "/{workflowId}/runs/{runId}", "GET", _bind(state, routes_read.get_run)),
        (base + "/{workflowId}/runs/{runId}", "DELETE", _bind(state, routes_read.delete_run)),
        (base + "/{workflowId}/runs/{runId}/cancel", "POST", _bind(state, cancel)),
    ]
    specs += [
        (base + "/{workflowId}/" + name, "POST", _bind(state, handler))
        for name, handler in {**EXECUTE, **TRAVEL}.items()
    ]
    # Starlette answers what no route matches (404, 405) and the lifespan events.
    fallback = Starlette(
        routes=[Route(path, endpoint, methods=[method]) for path, method, endpoint in specs],
        lifespan=_serving,
    )
    app: ASGIApp = Routes(specs, fallback)
    token = auth_token if auth_token is not None else os.environ.get("RXFLOW_API_TOKEN")
    if token:
        app = _BearerAuth(app, token)
    origins = list(cors_origins)
    if origins:
        app = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
        )
    if ui:
        app = with_viewer(app, prefix)
    return app


# The collector's first threshold while the app is served (CPython's default is 700).
_GC_THRESHOLD = 20_000


@contextlib.asynccontextmanager
async def _serving(app: object) -> AsyncIterator[None]:
    """While a server runs the app: what was made at startup is frozen out of the cyclic
    collector's way and its youngest generation is collected 30 times less often. Runs kept
    in memory are many small objects, and with CPython's defaults full collections over them
    paused every request for up to a quarter of a second."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _normalise(prefix: str) -> str:
    parts = [p for p in prefix.split("/") if p]
    return "/" + "/".join(parts) if parts else ""


def _bind(state: ServerState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The handler with refusals and errors turned into JSON answers (never a stack trace)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(state, request)
        except Refusal as refusal:
            return refusal.response()
        except ValidationError as error:
            return Refusal(400, "Invalid request", issues(error, "body")).response()
        except StorageError:
            _log.exception("storage failure on %s %s", request.method, request.url.path)
            return json_response({"error": "Storage unavailable"}, 503)
        except RxflowError as error:
            return json_response({"error": str(error)}, 409)
        except Exception:
            _log.exception("unexpected failure on %s %s", request.method, request.url.path)
            return json_response({"error": "Internal server error"}, 500)

    return endpoint


class _BearerAuth:
    """Answers 401 to any request without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self.expected):
            response = json_response({"error": "Unauthorized"}, 401)
            response.headers["www-authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
