"""Routes that read: the workflow list, details, run counts, runs, one run, and deleting one."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from ..status import RunStatus
from .http import Refusal, json_response, query, query_int
from .shapes import RECORD_FIELDS, run_list_item, run_record, workflow_info
from .state import ServerState

__all__ = ["delete_run", "get_run", "list_runs", "list_workflows", "run_counts", "workflow"]

_STATUSES = (
    "pending",
    "running",
    "waiting",
    "suspended",
    "success",
    "failed",
    "canceled",
    "bailed",
    "tripwire",
    "paused",
    "restarting",
)


async def list_workflows(state: ServerState, request: Request) -> Response:
    partial = query(request).get("partial") == "true"
    return json_response(
        {key: workflow_info(wf, partial=partial) for key, wf in state.workflows.items()}
    )


async def workflow(state: ServerState, request: Request) -> Response:
    return json_response(workflow_info(state.workflow(request)))


async def run_counts(state: ServerState, request: Request) -> Response:
    counts = {}
    for key, wf in state.workflows.items():
        running = await wf.storage.list_runs(wf.id, status="running", limit=1)
        suspended = await wf.storage.list_runs(wf.id, status="suspended", limit=1)
        counts[key] = {"running": running.total, "suspended": suspended.total}
    return json_response(counts)


def _moment(request: Request, name: str) -> int | None:
    text = query(request).get(name)
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise Refusal(
            400,
            "Invalid query parameters",
            [{"field": name, "message": f"expected an ISO-8601 date, got {text!r}"}],
        ) from None


async def list_runs(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    status = query(request).get("status") or None
    if status is not None and status not in _STATUSES:
        raise Refusal(
            400,
            "Invalid query parameters",
            [{"field": "status", "message": f"unknown status {status!r}"}],
        )
    per_page = query_int(request, "perPage", None, minimum=1)
    page = query_int(request, "page", 0)
    limit = query_int(request, "limit", per_page if per_page is not None else 100, minimum=1)
    offset = query_int(request, "offset", None)
    if offset is None:
        offset = (page or 0) * (limit or 100)
    from_date, to_date = _moment(request, "fromDate"), _moment(request, "toDate")
    resource_id = query(request).get("resourceId") or None
    status_filter: RunStatus | None = status  # type: ignore[assignment]
    if from_date is None and to_date is None:
        listed = await wf.storage.list_runs(
            wf.id, status=status_filter, resource_id=resource_id, limit=limit or 100, offset=offset
        )
        return json_response(
            {"runs": [run_list_item(r) for r in listed.runs], "total": listed.total}
        )
    # Dates filter in memory: the store filters by status and resource only.
    everything = await wf.storage.list_runs(
        wf.id, status=status_filter, resource_id=resource_id, limit=1_000_000
    )
    kept = [
        r
        for r in everything.runs
        if (from_date is None or r.created_at >= from_date)
        and (to_date is None or r.created_at <= to_date)
    ]
    window = kept[offset : offset + (limit or 100)]
    return json_response({"runs": [run_list_item(r) for r in window], "total": len(kept)})


async def get_run(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    record = await wf.storage.get_run(wf.id, request.path_params["runId"])
    if record is None:
        raise Refusal(404, "Workflow run not found")
    text = query(request).get("fields")
    fields = None
    if text:
        fields = {f.strip() for f in text.split(",") if f.strip()}
        unknown = sorted(fields - set(RECORD_FIELDS))
        if unknown:
            raise Refusal(
                400,
                "Invalid query parameters",
                [{"field": "fields", "message": f"unknown fields: {', '.join(unknown)}"}],
            )
    return json_response(run_record(record, fields))


async def delete_run(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    run_id = request.path_params["runId"]
    if not await wf.storage.delete_run(wf.id, run_id):
        raise Refusal(404, "Workflow run not found")
    return json_response({"message": "Workflow run deleted"})
