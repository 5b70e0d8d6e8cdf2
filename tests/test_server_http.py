"""The server's refusals, authentication, body limit and CORS, called with httpx in process;
streams read byte by byte and clients that go away, against uvicorn in a subprocess."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from _postgres import fresh_schema
from server_app import workflows
from server_process import serving, start_server, stop_server

from rxflow import create_step, create_workflow
from rxflow.server import create_app

GUARD = 10


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(workflows(), max_body_bytes=100)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        yield c


def records(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\x1e")
    return [json.loads(piece) for piece in body.split(b"\x1e")[:-1]]


async def finished_run(client: httpx.AsyncClient, workflow: str = "demoWorkflow") -> str:
    run_id: str = (await client.post(f"/workflows/{workflow}/create-run?")).json()["runId"]
    answer = await client.post(
        f"/workflows/{workflow}/start-async?runId={run_id}", json={"inputData": {"value": 1}}
    )
    assert answer.status_code == 200
    return run_id


async def test_unknown_workflows_and_runs_are_404(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/workflows/nope"),
        ("GET", "/workflows/nope/runs"),
        ("POST", "/workflows/nope/stream?runId=r"),
    ]:
        answer = await client.request(method, path)
        assert (answer.status_code, answer.json()) == (404, {"error": "Workflow not found"})
    for method, path in [
        ("GET", "/workflows/demoWorkflow/runs/nope"),
        ("DELETE", "/workflows/demoWorkflow/runs/nope"),
        ("POST", "/workflows/demoWorkflow/runs/nope/cancel"),
        ("POST", "/workflows/demoWorkflow/start?runId=nope"),
        ("POST", "/workflows/demoWorkflow/resume?runId=nope"),
        ("POST", "/workflows/demoWorkflow/resume-stream?runId=nope"),
        ("POST", "/workflows/demoWorkflow/observe?runId=nope"),
        ("POST", "/workflows/demoWorkflow/restart?runId=nope"),
    ]:
        answer = await client.request(method, path)
        assert (answer.status_code, answer.json()) == (404, {"error": "Workflow run not found"})
    # nothing was created for the unknown ids
    listed = (await client.get("/workflows/demoWorkflow/runs")).json()
    assert listed == {"runs": [], "total": 0}


async def test_bad_requests_are_400_with_issues(client: httpx.AsyncClient) -> None:
    path = "/workflows/demoWorkflow/stream"
    cases: list[tuple[httpx.Response, dict[str, Any]]] = [
        (
            await client.post(path, json={"inputData": {"value": 1}}),
            {
                "error": "Invalid query parameters",
                "issues": [{"field": "runId", "message": "runId is required"}],
            },
        ),
        (
            await client.post(f"{path}?runId=r", content=b'{"inputData": '),
            {"error": "Invalid JSON in request body"},
        ),
        (
            await client.post(f"{path}?runId=r", json=[1]),
            {
                "error": "Invalid request body",
                "issues": [{"field": "body", "message": "expected a JSON object"}],
            },
        ),
        (
            await client.post(f"{path}?runId=r", json={"inputData": {"value": "one"}}),
            {
                "error": "Invalid inputData",
                "issues": [{"field": "inputData.value", "message": "expected int, got 'one'"}],
            },
        ),
        (
            await client.post(f"{path}?runId=r", json={"inputData": {}}),
            {
                "error": "Invalid inputData",
                "issues": [{"field": "inputData.value", "message": "required field missing"}],
            },
        ),
        (
            await client.post(f"{path}?runId=r", json={"requestContext": 3}),
            {
                "error": "Invalid request body",
                "issues": [{"field": "requestContext", "message": "expected an object"}],
            },
        ),
        (
            await client.get("/workflows/demoWorkflow/runs?status=done"),
            {
                "error": "Invalid query parameters",
                "issues": [{"field": "status", "message": "unknown status 'done'"}],
            },
        ),
        (
            await client.get("/workflows/demoWorkflow/runs?page=-1"),
            {
                "error": "Invalid query parameters",
                "issues": [{"field": "page", "message": "expected an integer >= 0, got '-1'"}],
            },
        ),
        (
            await client.post("/workflows/demoWorkflow/observe?runId=r&offset=x"),
            {
                "error": "Invalid query parameters",
                "issues": [{"field": "offset", "message": "expected an integer >= 0, got 'x'"}],
            },
        ),
    ]
    for answer, body in cases:
        assert (answer.status_code, answer.json()) == (400, body)
        assert answer.headers["content-type"] == "application/json"
    # a refused stream leaves no run behind
    assert (await client.get("/workflows/demoWorkflow/runs/r")).status_code == 404


async def test_conflicts_are_409(client: httpx.AsyncClient) -> None:
    run_id = await finished_run(client)
    again = await client.post(
        f"/workflows/demoWorkflow/stream?runId={run_id}", json={"inputData": {"value": 1}}
    )
    assert (again.status_code, again.json()) == (
        409,
        {"error": f"Workflow run '{run_id}' has already finished (success)"},
    )
    for route in ("resume", "resume-async", "resume-stream", "resume-no-wait"):
        answer = await client.post(f"/workflows/demoWorkflow/{route}?runId={run_id}", json={})
        assert (answer.status_code, answer.json()) == (
            409,
            {"error": f"This workflow run was not suspended (run '{run_id}' is success)"},
        )
    fields = await client.get(f"/workflows/demoWorkflow/runs/{run_id}?fields=result,secret")
    assert (fields.status_code, fields.json()) == (
        400,
        {
            "error": "Invalid query parameters",
            "issues": [{"field": "fields", "message": "unknown fields: secret"}],
        },
    )


async def test_bodiless_posts_and_the_bare_question_mark_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/workflows/demoWorkflow/create-run?")
    assert created.status_code == 200 and set(created.json()) == {"runId"}
    named = await client.post("/workflows/demoWorkflow/create-run?runId=mine", json={})
    assert named.json() == {"runId": "mine"}
    run_id = await finished_run(client)
    observed = await client.post(f"/workflows/demoWorkflow/observe?runId={run_id}")
    assert observed.status_code == 200
    assert [r["type"] for r in records(observed.content)][-1] == "workflow-finish"
    canceled = await client.post(f"/workflows/demoWorkflow/runs/{run_id}/cancel")
    assert canceled.json() == {"message": "Workflow run cancelled"}


async def test_a_bearer_token_guards_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(workflows(), auth_token="s3cret")
    monkeypatch.setenv("RXFLOW_API_TOKEN", "from-env")
    env_app = create_app(workflows())
    for application, token in ((app, "s3cret"), (env_app, "from-env")):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": token}):
                for method, path in [
                    ("GET", "/workflows"),
                    ("GET", "/workflows/nope"),
                    ("POST", "/workflows/demoWorkflow/create-run?"),
                ]:
                    answer = await c.request(method, path, headers=headers)
                    assert (answer.status_code, answer.json()) == (401, {"error": "Unauthorized"})
                    assert answer.headers["www-authenticate"] == "Bearer"
            ok = await c.get("/workflows", headers={"authorization": f"Bearer {token}"})
            assert ok.status_code == 200


async def test_bodies_over_the_limit_are_413_without_being_read_whole(
    client: httpx.AsyncClient,
) -> None:
    big = {"inputData": {"value": 1, "padding": "x" * 200}}
    answer = await client.post("/workflows/demoWorkflow/stream?runId=r", json=big)
    assert (answer.status_code, answer.json()) == (
        413,
        {"error": "Request body too large (limit: 100 bytes)"},
    )
    pieces_sent = 0

    async def endless() -> AsyncIterator[bytes]:  # no content-length: chunked
        nonlocal pieces_sent
        while pieces_sent < 10_000:
            pieces_sent += 1
            yield b"x" * 60

    answer = await client.post("/workflows/demoWorkflow/create-run?", content=endless())
    assert answer.status_code == 413
    assert (await client.get("/workflows/demoWorkflow/runs")).json()["total"] == 0


async def test_an_observer_that_goes_away_is_let_go_at_once() -> None:
    app = create_app(workflows())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        await c.post("/workflows/slow/create-run?runId=long")
        started = await c.post(
            "/workflows/slow/start?runId=long", json={"inputData": {"value": 60_000}}
        )
        assert started.json() == {"message": "Workflow run started"}
        gone = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []
        first_body = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                first_body.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/workflows/slow/observe",
            "raw_path": b"/api/workflows/slow/observe",
            "query_string": b"runId=long",
            "root_path": "",
            "headers": [(b"host", b"t")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        observing = asyncio.ensure_future(app(scope, receive, send))
        await asyncio.wait_for(first_body.wait(), GUARD)  # the replay: the run goes on
        gone.set()  # the client goes away
        await asyncio.wait_for(observing, GUARD)  # the observer ends now, not with the run
        assert sent[0]["status"] == 200
        assert all(m.get("more_body") for m in sent[1:])  # no end was written to no one
        record = (await c.get("/workflows/slow/runs/long")).json()
        assert record["status"] == "running"
        await c.post("/workflows/slow/runs/long/cancel")
        assert (await c.get("/workflows/slow/runs/long")).json()["status"] == "canceled"


async def test_while_served_the_collector_runs_less_often() -> None:
    app = create_app(workflows())
    before = gc.get_threshold()
    events = asyncio.Queue[dict[str, Any]]()
    answers: list[str] = []
    seen = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        answers.append(message["type"])
        seen.set()

    await events.put({"type": "lifespan.startup"})
    serving = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send)
    )
    await asyncio.wait_for(seen.wait(), GUARD)
    assert answers == ["lifespan.startup.complete"]
    assert gc.get_threshold() == (20_000, *before[1:])
    assert gc.get_freeze_count() > 0  # what startup made is out of the collector's way
    await events.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(serving, GUARD)
    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@dataclasses.dataclass
class CountData:
    value: int


class CountDict(TypedDict):
    value: int


async def _plus_one(ctx: Any) -> Any:
    data = ctx.input_data
    value = data["value"] if isinstance(data, dict) else data.value
    return {"value": value + 1}


@pytest.mark.parametrize("schema", [CountData, CountDict], ids=["dataclass", "TypedDict"])
async def test_chunks_carry_the_schema_conformed_value(schema: Any) -> None:
    step = create_step(id="plus-one", execute=_plus_one, input_schema=schema, output_schema=schema)
    flow = create_workflow(id="count", input_schema=schema, output_schema=schema)
    app = create_app({"count": flow.then(step).commit()})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        answer = await c.post(
            "/workflows/count/stream?runId=r", json={"inputData": {"value": 1, "extra": "x"}}
        )
    chunks = records(answer.content)
    assert [c["type"] for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert chunks[1]["payload"]["payload"] == {"value": 1}  # the undeclared key stripped
    assert chunks[2]["payload"]["payload"] == {"value": 1}
    assert chunks[2]["payload"]["output"] == {"value": 2}
    assert chunks[3]["payload"]["finalWorkflowResult"] == {"value": 2}


async def _huge(ctx: Any) -> Any:
    return {"big": 2**70, "ratio": 0.1, "text": "naïve ✓"}


async def test_values_beyond_64_bits_and_any_text_are_written_exactly() -> None:
    flow = create_workflow(id="huge").then(create_step(id="huge", execute=_huge)).commit()
    app = create_app({"huge": flow})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        answer = await c.post("/workflows/huge/stream?runId=r", json={})
    finish = records(answer.content)[-1]
    assert finish["payload"]["finalWorkflowResult"] == {
        "big": 2**70,
        "ratio": 0.1,
        "text": "naïve ✓",
    }
    assert "naïve ✓".encode() in answer.content  # UTF-8 as is, not escaped


async def test_cors_only_for_the_given_origins() -> None:
    app = create_app(workflows(), cors_origins=["http://ok.example"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        preflight = {"access-control-request-method": "POST"}
        ok = await c.options("/workflows", headers={"origin": "http://ok.example", **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "http://ok.example"
        bad = await c.options("/workflows", headers={"origin": "http://evil.example", **preflight})
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
        plain = await c.get("/workflows", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in plain.headers
    app = create_app(workflows())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as c:
        plain = await c.get("/workflows", headers={"origin": "http://ok.example"})
        assert "access-control-allow-origin" not in plain.headers


# --- against uvicorn -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving() as base:
        yield f"{base}/api"


def wait_for_status(
    url: str, workflow: str, run_id: str, status: str, *, prefix: str = ""
) -> dict[str, Any]:
    deadline = time.monotonic() + GUARD
    while True:
        record: dict[str, Any] = httpx.get(
            f"{url}{prefix}/workflows/{workflow}/runs/{run_id}"
        ).json()
        if record.get("status") == status or time.monotonic() > deadline:
            return record
        time.sleep(0.02)


def test_a_stream_read_one_byte_at_a_time(url: str) -> None:
    body = bytearray()
    with httpx.stream(
        "POST", f"{url}/workflows/approval/stream?runId=bytes", json={"inputData": {"value": 5}}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        for byte in response.iter_raw(1):
            assert len(byte) == 1
            body += byte
    chunks = records(bytes(body))
    assert [c["type"] for c in chunks] == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-suspended",
        "workflow-finish",
    ]
    assert b"\n" not in body and b", " not in body  # compact, nothing between records
    assert chunks[-1]["payload"]["workflowStatus"] == "suspended"


def test_a_client_that_disconnects_does_not_stop_the_run(url: str) -> None:
    with httpx.stream(
        "POST", f"{url}/workflows/slow/stream?runId=gone", json={"inputData": {"value": 300}}
    ) as response:
        first = next(response.iter_raw())
        assert first.startswith(b'{"type":"workflow-start"')
    # the connection is closed here, mid-run
    record = wait_for_status(url, "slow", "gone", "success")
    assert record["status"] == "success"
    assert record["result"] == {"value": 600}
    observed = httpx.post(f"{url}/workflows/slow/observe?runId=gone").content
    assert [c["type"] for c in records(observed)][-1] == "workflow-finish"


def test_no_stack_trace_or_path_in_any_answer(url: str) -> None:
    answers = [
        httpx.post(f"{url}/workflows/demoWorkflow/stream?runId=t", content=b"\xff\xfe"),
        httpx.get(f"{url}/workflows/demoWorkflow/runs?fromDate=yesterday"),
        httpx.post(f"{url}/workflows/demoWorkflow/resume-async?runId=t", json={"step": 3}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500
        assert "Traceback" not in answer.text and "/rxflow/" not in answer.text
        assert set(answer.json()) <= {"error", "issues"}


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment that makes server processes share one store: a SQLite file, or a fresh
    schema on the PostgreSQL test server."""
    if request.param == "sqlite":
        return {"RXFLOW_TEST_DB": str(tmp_path / "runs.db")}
    return {"RXFLOW_TEST_PG": fresh_schema(str(tmp_path))}


def test_two_server_processes_on_one_store(shared_store: dict[str, str]) -> None:
    with serving(**shared_store) as a, serving(**shared_store) as b:
        with httpx.stream(
            "POST",
            f"{a}/api/workflows/slow/stream?runId=shared",
            json={"inputData": {"value": 400}},
            timeout=GUARD,
        ) as response:
            iterator = response.iter_raw()
            head = next(iterator)
            # the other process replays what was stored and follows the run to its end
            observed = httpx.post(
                f"{b}/api/workflows/slow/observe?runId=shared", timeout=GUARD
            ).content
            streamed = head + b"".join(iterator)
        types = [c["type"] for c in records(observed)]
        assert types[0] == "workflow-start" and types[-1] == "workflow-finish"
        assert records(observed)[-1]["payload"]["workflowStatus"] == "success"
        assert records(observed) == records(streamed)
        record = httpx.get(f"{b}/api/workflows/slow/runs/shared").json()
        assert record["status"] == "success"


def test_a_run_streamed_by_one_process_is_canceled_by_another(
    shared_store: dict[str, str],
) -> None:
    with serving(**shared_store) as a, serving(**shared_store) as b:
        with httpx.stream(
            "POST",
            f"{a}/api/workflows/slow/stream?runId=far",
            json={"inputData": {"value": 60_000}},
            timeout=GUARD * 3,
        ) as response:
            streamed = b""
            iterator = response.iter_raw()
            while streamed.count(b"\x1e") < 2:  # workflow-start, workflow-step-start nap
                streamed += next(iterator)
            answer = httpx.post(f"{b}/api/workflows/slow/runs/far/cancel", timeout=GUARD * 3)
            assert (answer.status_code, answer.json()) == (
                200,
                {"message": "Workflow run cancelled"},
            )
            streamed += b"".join(iterator)
        types = [c["type"] for c in records(streamed)]
        assert types[:2] == ["workflow-start", "workflow-step-start"]
        assert types[-2:] == ["workflow-canceled", "workflow-finish"]
        assert records(streamed)[-1]["payload"]["workflowStatus"] == "canceled"
        observed = httpx.post(f"{b}/api/workflows/slow/observe?runId=far", timeout=GUARD).content
        assert records(observed) == records(streamed)
        record = httpx.get(f"{b}/api/workflows/slow/runs/far").json()
        assert record["status"] == "canceled"


def test_a_server_killed_mid_run_then_started_again(shared_store: dict[str, str]) -> None:
    process, a = start_server(**shared_store)
    try:
        with httpx.stream(
            "POST",
            f"{a}/api/workflows/slow/stream?runId=crash",
            json={"inputData": {"value": 1500}},
            timeout=GUARD,
        ) as response:
            head = b""
            for piece in response.iter_raw():
                head += piece
                if head.count(b"\x1e") >= 2:
                    break
            wait_for_status(a, "slow", "crash", "running", prefix="/api")
            time.sleep(0.3)  # the records reach the store
            process.kill()
    finally:
        stop_server(process)
    with serving(**shared_store) as b:
        record = httpx.get(f"{b}/api/workflows/slow/runs/crash").json()
        assert record["status"] == "running"
        restarted = httpx.post(
            f"{b}/api/workflows/slow/restart-async?runId=crash", json={}, timeout=GUARD
        )
        assert restarted.status_code == 200
        assert restarted.json()["status"] == "success"
        assert restarted.json()["result"] == {"value": 3000}
        replayed = records(
            httpx.post(f"{b}/api/workflows/slow/observe?runId=crash", timeout=GUARD).content
        )
        assert replayed[:2] == records(head[: head.rindex(b"\x1e") + 1])[:2]
        # what the first process stored, then every chunk of the restart, in order
        assert [c["type"] for c in replayed] == [
            "workflow-start",
            "workflow-step-start",
            "workflow-start",
            "workflow-step-start",
            "workflow-step-result",
            "workflow-step-start",
            "workflow-step-result",
            "workflow-finish",
        ]
        assert replayed[-1]["payload"]["finalWorkflowResult"] == {"value": 3000}
        assert {c["runId"] for c in replayed} == {"crash"}
