"""What the server's handlers share: the registry of workflows, the live run logs, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ValidationError
from ..run import Run
from ..storage import EventLog, event_log
from ..workflow import Workflow
from .http import Refusal
from .live import LiveRuns

__all__ = ["Handler", "ServerState", "issues"]

# A route's handler: the request, answered with the server's state at hand.
Handler = Callable[["ServerState", Request], Awaitable[Response]]


class ServerState:
    """The workflows by registry key (and by their own id), live run logs, background tasks."""

    def __init__(self, workflows: Mapping[str, Workflow], max_body_bytes: int) -> None:
        self.workflows = dict(workflows)
        self.by_id = {wf.id: wf for wf in self.workflows.values()}
        self.max_body_bytes = max_body_bytes
        self.live = LiveRuns()
        self.tasks: set[asyncio.Task[Any]] = set()

    def workflow(self, request: Request) -> Workflow:
        """The workflow named by the path's ``workflowId`` (404 when there is none)."""
        key = request.path_params["workflowId"]
        workflow = self.workflows.get(key) or self.by_id.get(key)
        if workflow is None:
            raise Refusal(404, "Workflow not found")
        return workflow

    async def stored_run(self, workflow: Workflow, run_id: str) -> Run:
        """The run ``run_id`` of ``workflow`` (404 when there is none)."""
        run = await workflow.get_run(run_id)
        if run is None:
            raise Refusal(404, "Workflow run not found")
        return run

    def events_of(self, workflow: Workflow) -> EventLog | None:
        return event_log(workflow.storage)

    def background(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run ``coroutine`` on its own, independent of the request that started it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


def issues(error: ValidationError, field: str) -> list[dict[str, str]]:
    """A validation error's lines as ``[{field, message}]`` (``$.a.b: msg`` -> ``field.a.b``)."""
    out: list[dict[str, str]] = []
    for line in error.errors:
        path, sep, message = line.partition(": ")
        if sep and path.startswith("$"):
            out.append({"field": field + path[1:], "message": message})
        else:
            out.append({"field": field, "message": line})
    return out
