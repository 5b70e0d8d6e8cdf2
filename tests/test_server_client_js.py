"""The server driven by the real, unmodified @mastra/client-js 1.47.0 (tests/js): each test runs
one scenario of tests/js/scenarios.mjs with Node against the server in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_app import workflows
from server_process import TESTS, serving, start_server, stop_server

from rxflow import SQLiteStorage

JS = TESTS / "js"


def _node_ready() -> str | None:
    """Why the client cannot run here, or None when it can."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed"
    if not (JS / "node_modules" / "@mastra" / "client-js").is_dir():
        return "run `npm ci --prefix tests/js` first"
    return None


def _require_node() -> None:
    missing = _node_ready()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"@mastra/client-js tests cannot run: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    _require_node()
    with serving() as base:
        yield base


def scenario(url: str, name: str, *args: str) -> Any:
    done = subprocess.run(
        ["node", "scenarios.mjs", url, name, *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


VOLATILE = {"runId", "stepCallId", "startedAt", "endedAt", "resumedAt", "suspendedAt"}


def stable(value: Any) -> Any:
    """``value`` without ids and timestamps."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def schema_of(*required: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


VALUE = schema_of("value", value={"type": "integer"})


def test_list_workflows_full_and_partial(url: str) -> None:
    seen = scenario(url, "list")
    assert seen["keys"] == ["demoWorkflow", "approval", "slow", "fails"]
    demo = seen["demo"]
    assert demo["name"] == "demo-workflow"
    assert demo["description"] == "the demo-workflow workflow"
    assert demo["origin"] == "code"
    assert list(demo["steps"]) == ["add-one", "double"]
    assert demo["allSteps"]["double"]["isWorkflow"] is False
    assert json.loads(demo["inputSchema"]) == {"json": VALUE}
    assert demo["stepGraph"] == [
        {"type": "step", "step": {"id": "add-one", "canSuspend": False}},
        {"type": "step", "step": {"id": "double", "canSuspend": False}},
    ]
    assert demo["options"] == {"validateInputs": True, "emitStepEvents": True}
    assert seen["partial"] == {
        "name": "demo-workflow",
        "description": "the demo-workflow workflow",
        "stepCount": 2,
        "stepGraph": demo["stepGraph"],
        "options": demo["options"],
        "steps": {},
        "allSteps": {},
        "origin": "code",
    }


def test_details_and_get_schema(url: str) -> None:
    seen = scenario(url, "details")
    assert seen["schema"] == {"inputSchema": VALUE, "outputSchema": VALUE}
    assert seen["details"]["steps"]["add-one"]["id"] == "add-one"
    assert seen["byOwnId"] == "demo-workflow"


async def test_stream_equals_the_in_process_stream(url: str) -> None:
    seen = scenario(url, "stream")
    assert seen["named"] == "chosen-id"
    assert {c["runId"] for c in seen["chunks"]} == {seen["runId"]}
    run = await workflows()["demoWorkflow"].create_run()
    expected = [c.to_dict() async for c in run.stream(input_data={"value": 1, "extra": True})]
    assert stable(seen["chunks"]) == stable(expected)
    assert [c["type"] for c in seen["chunks"]] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert seen["chunks"][1]["payload"]["payload"] == {"value": 1}  # the undeclared key stripped
    assert seen["chunks"][-1]["payload"]["finalWorkflowResult"] == {"value": 4}


def test_suspend_then_resume_stream(url: str) -> None:
    seen = scenario(url, "suspendResume")
    assert [c["type"] for c in seen["first"]][-2:] == ["workflow-step-suspended", "workflow-finish"]
    assert seen["first"][-2]["payload"]["suspendPayload"] == {"reason": "need approval"}
    assert seen["first"][-1]["payload"]["workflowStatus"] == "suspended"
    assert seen["suspended"] == "suspended"
    assert [c["type"] for c in seen["rest"]] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert seen["rest"][1]["payload"]["resumePayload"] == {"approved": True}
    assert seen["rest"][-1]["payload"]["finalWorkflowResult"] == {"value": 4}
    assert seen["again"]["status"] == 409
    assert "not suspended" in seen["again"]["body"]["error"]
    # observe replays both streams of the run, in order
    assert seen["observedTypes"] == [c["type"] for c in seen["first"] + seen["rest"]]


def test_start_async_and_resume_async(url: str) -> None:
    seen = scenario(url, "asyncRoutes")
    started = seen["started"]
    assert started["status"] == "suspended"
    assert started["suspended"] == [["approve"]]
    assert started["suspendPayload"] == {"approve": {"reason": "need approval"}}
    assert started["steps"]["input"] == {"value": 2}
    assert started["stepExecutionPath"] == ["add-one", "approve"]
    resumed = seen["resumed"]
    assert resumed["status"] == "success"
    assert resumed["result"] == {"value": 6}
    assert seen["failed"] == {"status": "failed", "error": {"message": "kaboom"}}


def test_cancel_during_a_step(url: str) -> None:
    seen = scenario(url, "cancel")
    assert seen["answer"] == {"message": "Workflow run cancelled"}
    assert seen["types"][:2] == ["workflow-start", "workflow-step-start"]
    assert seen["last"]["type"] == "workflow-finish"
    assert seen["last"]["payload"]["workflowStatus"] == "canceled"
    assert seen["stored"] == "canceled"


def test_observe_while_running_and_after_the_end(url: str) -> None:
    seen = scenario(url, "observe")
    everything = ["workflow-start", *seen["streamed"]]
    assert everything == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert seen["whileRunning"] == everything[1:]
    assert seen["afterEnd"] == everything[2:]
    assert seen["pastEnd"] == 0


def test_runs_with_filters_run_by_id_and_delete(url: str) -> None:
    seen = scenario(url, "runs")
    assert seen["a"] in seen["suspended"] and seen["b"] not in seen["suspended"]
    assert seen["byResource"] == [[seen["a"], "user-a"]]
    assert seen["page"]["n"] == 1 and seen["page"]["total"] >= 2
    with_fields = seen["withFields"]
    assert sorted(with_fields) == [
        "createdAt",
        "result",
        "runId",
        "status",
        "updatedAt",
        "workflowName",
    ]
    assert with_fields["result"] == {"value": 0}
    assert with_fields["workflowName"] == "approval"
    assert seen["fullKeys"] == sorted(
        [
            "runId",
            "workflowName",
            "createdAt",
            "updatedAt",
            "status",
            "result",
            "payload",
            "steps",
            "activeStepsPath",
            "serializedStepGraph",
            "suspendedPaths",
            "resumeLabels",
            "waitingPaths",
        ]
    )
    assert seen["fullSteps"]["approve"]["resumePayload"] == {"approved": False}
    assert seen["deleted"] == {"message": "Workflow run deleted"}
    assert seen["missing"] == {"status": 404, "body": {"error": "Workflow run not found"}}
    assert seen["counts"]["suspended"] >= 1


def test_start_resume_and_resume_no_wait_return_at_once(url: str) -> None:
    seen = scenario(url, "fireAndForget")
    assert seen["started"] == {"message": "Workflow run started"}
    assert seen["resumed"] == {"message": "Workflow run resumed"}
    assert seen["done"] == {"status": "success", "result": {"value": 4}}
    assert seen["noWait"] == {"runId": seen["secondRunId"]}
    assert seen["secondDone"] == {"status": "success", "result": {"value": 6}}
    # observeStream (the deprecated alias of observe) replays both segments of the run
    assert seen["observedTypes"] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-suspended",
        "workflow-finish",
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    # restarting a finished run gives its stored result
    assert seen["restarted"] == {"status": "success", "result": {"value": 6}}
    assert {seen["firstRunId"], seen["secondRunId"]} <= set(seen["inWindow"])
    assert (seen["later"], seen["earlier"]) == (0, 0)


async def _stored(db: str, workflow: str, run_id: str, *, records: int) -> None:
    """Wait until the run is stored as running with ``records`` records in its log."""
    storage = SQLiteStorage(db)
    try:
        for _ in range(1000):
            record = await storage.get_run(workflow, run_id)
            logged = await storage.read_events(workflow, run_id)
            if record is not None and record.status == "running" and len(logged) >= records:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"run {run_id!r} was never stored with {records} records")
    finally:
        await storage.close()


def test_restart_async_continues_a_run_whose_server_was_killed(tmp_path: Path) -> None:
    _require_node()
    db = str(tmp_path / "runs.db")
    process, first = start_server(RXFLOW_TEST_DB=db)
    try:
        with httpx.stream(
            "POST",
            f"{first}/api/workflows/slow/stream?runId=orphan",
            json={"inputData": {"value": 800}},
            timeout=30,
        ) as response:
            head = b""
            for piece in response.iter_raw():
                head += piece
                if head.count(b"\x1e") >= 2:  # workflow-start, workflow-step-start nap
                    break
            asyncio.run(_stored(db, "slow", "orphan", records=2))
            process.kill()
    finally:
        stop_server(process)
    with serving(RXFLOW_TEST_DB=db) as second:
        seen = scenario(second, "restart", "orphan")
    assert seen["before"] == "running"
    assert seen["result"] == {"status": "success", "result": {"value": 1600}}
    assert seen["observedTypes"] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert seen["last"]["payload"]["finalWorkflowResult"] == {"value": 1600}
    assert seen["after"] == {"status": "success", "result": {"value": 1600}}
