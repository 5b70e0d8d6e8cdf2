"""What the server's handlers share: the registry of workflows, the live run logs, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from ..errors import ValidationError
from ..storage import EventLog, event_log
from ..workflow import Workflow
from .http import Refusal
from .live import LiveRuns

__all__ = ["ServerState", "issues"]


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
