"""Time travel and step-by-step runs over HTTP, driven by the real @mastra/client-js 1.47.0."""

from __future__ import annotations

from typing import Any

from test_server_client_js import scenario, stable, url  # noqa: F401  (the served app)

MISSING = {
    "error": "Invalid request body",
    "issues": [{"field": "step", "message": "required: a step id or a list of step ids"}],
}


def types(chunks: list[dict[str, Any]]) -> list[list[Any]]:
    return [[c["type"], (c.get("payload") or {}).get("id")] for c in chunks]


def test_time_travel_stream_async_and_fire_and_forget(url: str) -> None:  # noqa: F811
    seen = scenario(url, "timeTravel")
    assert seen["first"] == {"value": 4}
    assert types(seen["streamed"]) == [
        ["workflow-start", None],
        ["workflow-step-start", "double"],
        ["workflow-step-result", "double"],
        ["workflow-finish", None],
    ]
    start, step_start, result, finish = (stable(c) for c in seen["streamed"])
    assert step_start["payload"] == {
        "id": "double",
        "stepName": "double",
        "payload": {"value": 10},
        "status": "running",
    }
    assert result["payload"]["output"] == {"value": 20}
    assert finish["payload"]["workflowStatus"] == "success"
    assert finish["payload"]["finalWorkflowResult"] == {"value": 20}
    assert seen["afterStream"] == {"status": "success", "result": {"value": 20}}
    assert seen["travelled"] == {"status": "success", "result": {"value": 12}}
    assert seen["started"] == {"message": "Workflow run time travel started"}
    assert seen["last"] == {
        "status": "success",
        "result": {"value": 14},
        "steps": ["add-one", "double"],
    }
    assert seen["unknown"]["status"] == 409
    assert seen["unknown"]["body"] == {
        "error": "step 'nope' is not a step of workflow 'demo-workflow' "
        "(its steps: 'add-one', 'double')"
    }
    assert seen["missing"] == {"status": 400, "body": MISSING}


def test_per_step_stream_pauses_and_resume_stream_continues(url: str) -> None:  # noqa: F811
    seen = scenario(url, "perStep")
    assert [c["type"] for c in seen["first"]] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-paused",
        "workflow-finish",
    ]
    assert stable(seen["first"][-2]) == {
        "type": "workflow-paused",
        "from": "WORKFLOW",
        "payload": {},
    }
    assert seen["first"][-1]["payload"]["workflowStatus"] == "paused"
    assert "finalWorkflowResult" not in seen["first"][-1]["payload"]
    assert seen["paused"] == "paused"
    assert types(seen["rest"]) == [
        ["workflow-start", None],
        ["workflow-step-start", "double"],
        ["workflow-step-result", "double"],
        ["workflow-finish", None],
    ]
    assert seen["done"] == {"status": "success", "result": {"value": 4}}
