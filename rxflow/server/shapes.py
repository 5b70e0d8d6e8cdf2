"""The JSON bodies of the server's answers: workflow info, run records and run list items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..storage import RunRecord
from ..workflow import Workflow

__all__ = ["RECORD_FIELDS", "run_list_item", "run_record", "workflow_info"]

# The fields `fields=` can select in a run record (the metadata fields and status always come).
RECORD_FIELDS = (
    "result",
    "error",
    "payload",
    "steps",
    "activeStepsPath",
    "serializedStepGraph",
)
_STEP_SCHEMAS = (
    ("inputSchema", "input_schema"),
    ("outputSchema", "output_schema"),
    ("resumeSchema", "resume_schema"),
    ("suspendSchema", "suspend_schema"),
    ("stateSchema", "state_schema"),
)


def _schema_text(owner: Any, attribute: str) -> str:
    """A schema as the client reads it: the JSON text of ``{"json": <JSON Schema>}``, from the
    step's or workflow's own ``<name>_json_schema()``."""
    document = getattr(owner, attribute.replace("_schema", "_json_schema"))()
    return json.dumps({"json": document}, separators=(",", ":"))


def _step_info(step: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"id": step.id}
    if getattr(step, "description", None):
        info["description"] = step.description
    for key, attribute in _STEP_SCHEMAS:
        schema = getattr(step, attribute, None)
        if schema is not None:
            info[key] = _schema_text(step, attribute)
    return info


def _all_steps(workflow: Workflow, into: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in workflow.steps.items():
        into[step_id] = {**_step_info(step), "isWorkflow": isinstance(step, Workflow)}
        if isinstance(step, Workflow):
            _all_steps(step, into)
    return into


def _step_graph(serialized: list[dict[str, Any]], workflow: Workflow) -> list[dict[str, Any]]:
    """The graph as snapshots store it, each step marked with whether it can suspend."""
    steps = workflow.steps

    def mark(info: dict[str, Any]) -> dict[str, Any]:
        step = steps.get(info.get("id", ""))
        out = {k: v for k, v in info.items() if v is not None}
        if step is not None and not isinstance(step, Workflow):
            out["canSuspend"] = getattr(step, "suspend_schema", None) is not None or (
                getattr(step, "resume_schema", None) is not None
            )
        return out

    graph: list[dict[str, Any]] = []
    for entry in serialized:
        entry = dict(entry)
        if isinstance(entry.get("step"), dict):
            entry["step"] = mark(entry["step"])
        if isinstance(entry.get("steps"), list):
            entry["steps"] = [
                {**s, "step": mark(s["step"])} if isinstance(s.get("step"), dict) else s
                for s in entry["steps"]
            ]
        graph.append(entry)
    return graph


def workflow_info(workflow: Workflow, *, partial: bool = False) -> dict[str, Any]:
    """``WorkflowInfo``: name, steps, every step (nested ones too), the step graph, schemas."""
    graph = _step_graph(workflow.graph.serialized, workflow)
    options = {"validateInputs": True, "emitStepEvents": True}
    if partial:
        return {
            "name": workflow.id,
            "description": workflow.description,
            "stepCount": len(workflow.steps),
            "stepGraph": graph,
            "options": options,
            "steps": {},
            "allSteps": {},
            "origin": "code",
        }
    info: dict[str, Any] = {"name": workflow.id}
    if workflow.description:
        info["description"] = workflow.description
    info["origin"] = "code"
    info["steps"] = {step_id: _step_info(step) for step_id, step in workflow.steps.items()}
    info["allSteps"] = _all_steps(workflow, {})
    info["stepGraph"] = graph
    for key, attribute in _STEP_SCHEMAS:
        if attribute not in ("resume_schema", "suspend_schema") and (
            getattr(workflow, attribute) is not None
        ):
            info[key] = _schema_text(workflow, attribute)
    info["options"] = options
    info["isProcessorWorkflow"] = False
    return info


def iso(milliseconds: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string (``2026-01-02T03:04:05.678Z``)."""
    moment = datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def run_list_item(record: RunRecord) -> dict[str, Any]:
    """A ``runs`` list entry: ``{workflowName, runId, snapshot, createdAt, updatedAt,
    resourceId?}``."""
    item: dict[str, Any] = {
        "workflowName": record.workflow_id,
        "runId": record.run_id,
        "snapshot": record.snapshot if record.snapshot is not None else {"error": record.error},
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }
    if record.resource_id is not None:
        item["resourceId"] = record.resource_id
    return item


def run_record(record: RunRecord, fields: set[str] | None) -> dict[str, Any]:
    """The run record of ``GET .../runs/{runId}``; with ``fields`` only those of
    ``RECORD_FIELDS`` (the metadata fields and ``status`` always)."""
    snapshot = record.snapshot or {}
    context = snapshot.get("context") or {}
    body: dict[str, Any] = {"runId": record.run_id, "workflowName": record.workflow_id}
    if record.resource_id is not None:
        body["resourceId"] = record.resource_id
    body["createdAt"] = iso(record.created_at)
    body["updatedAt"] = iso(record.updated_at)
    body["status"] = record.status
    full: dict[str, Any] = {}
    if record.status == "success":
        full["result"] = snapshot.get("result")
    if record.status == "failed" and snapshot.get("error") is not None:
        full["error"] = snapshot.get("error")
    full["payload"] = context.get("input")
    full["steps"] = {k: v for k, v in context.items() if k != "input"}
    full["activeStepsPath"] = {}
    full["serializedStepGraph"] = snapshot.get("serializedStepGraph", [])
    for key, value in full.items():
        if fields is None or key in fields:
            body[key] = value
    if fields is None:
        body["suspendedPaths"] = snapshot.get("suspendedPaths", {})
        body["resumeLabels"] = snapshot.get("resumeLabels", {})
        body["waitingPaths"] = {}
    return body
