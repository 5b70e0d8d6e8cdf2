"""What ``rxflow serve`` serves: the ASGI app built from ``MODULE:ATTR`` (a mapping of workflows,
one workflow, a module's workflows, or an app made by ``rxflow.server.create_app``) and the
command's store and token.

Each worker process of ``--workers N`` builds its own app with ``worker_app``, from the same
settings, which the command hands down in an environment variable: workers share the storage,
never objects.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

import attrs

from ..convert import converter
from ..workflow import Workflow
from .exits import UsageProblem
from .loading import check_workflow, load_target
from .stores import StoreChoice, open_store

__all__ = ["SETTINGS_VARIABLE", "Served", "ServeSettings", "build_app", "worker_app"]

#: The environment variable that carries the settings to worker processes.
SETTINGS_VARIABLE = "RXFLOW_SERVE_SETTINGS"


@attrs.frozen
class ServeSettings:
    """The command line of ``rxflow serve``, all a worker needs to build the same app."""

    target: str
    db: str | None = None
    storage_url: str | None = None
    token: str | None = None
    ui: bool | None = None  # None: create_app's own default


@attrs.frozen
class Served:
    """The app to serve, and what it serves (for the start-up line)."""

    app: Any
    workflow_ids: tuple[str, ...]  # () for an app made elsewhere
    store: str  # where runs are kept, for people ("" for an app made elsewhere)


def build_app(settings: ServeSettings) -> Served:
    """The app ``settings.target`` names, on the command's store when it names workflows."""
    attribute, value = load_target(settings.target, "MODULE:ATTR")
    option = f"MODULE:ATTR {settings.target!r}"
    if isinstance(value, Workflow):
        workflows = {value.id: check_workflow(value, option)}
    elif isinstance(value, list):  # a module alone: its committed workflows
        workflows = {wf.id: wf for wf in value}
    elif isinstance(value, Mapping):
        if not value:
            raise UsageProblem(f"{option}: the mapping has no workflows")
        workflows = {str(k): check_workflow(v, f"{option}: [{k!r}]") for k, v in value.items()}
    elif _is_asgi_app(value):
        return Served(value, (), "")
    else:
        raise UsageProblem(
            f"{option}: {attribute!r} is not a workflow, a mapping of workflows or an ASGI app "
            f"made by rxflow.server.create_app: it is {type(value).__name__}"
        )
    choice = StoreChoice(settings.db, settings.storage_url)
    store = open_store(choice)
    from ..server import create_app

    options: dict[str, Any] = {"storage": store, "auth_token": settings.token}
    if settings.ui is not None:
        options["ui"] = settings.ui
    app = create_app(workflows, **options)
    where = settings.storage_url or os.path.join(".", settings.db or "rxflow.db")
    return Served(app, tuple(workflows), where)


def _is_asgi_app(value: Any) -> bool:
    """An ASGI 3 app: ``async (scope, receive, send)``, a function or an object's ``__call__``."""
    if not callable(value):
        return False
    call = value if inspect.isfunction(value) else type(value).__call__
    if not inspect.iscoroutinefunction(call):
        return False
    try:
        parameters = list(inspect.signature(value).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(parameters) == 3


def to_environment(settings: ServeSettings) -> str:
    """``settings`` as the value of ``SETTINGS_VARIABLE``."""
    return json.dumps(converter.unstructure(settings))


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory): built from the settings the command
    left in the environment."""
    data = json.loads(os.environ[SETTINGS_VARIABLE])
    return build_app(converter.structure(data, ServeSettings)).app
