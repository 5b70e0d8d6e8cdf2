"""``rxflow serve``: the real command in a subprocess on a free port, driven with httpx and with
the real @mastra/client-js; several worker processes sharing one SQLite file; usage errors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _cli import GUARD, cli_env, command, json_lines, rxflow, wait_for
from server_process import free_port
from test_server_client_js import JS, scenario, stable

from rxflow import SQLiteStorage
from rxflow.server.http import SEPARATOR

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A running ``rxflow serve``: its process, base URL and start-up line."""

    def __init__(self, process: subprocess.Popen[str], url: str, banner: str) -> None:
        self.process = process
        self.url = url
        self.banner = banner

    def stop(self) -> int:
        """Ctrl-C, as a person would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(GUARD)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("rxflow serve did not stop on Ctrl-C") from None


@contextmanager
def serve(work: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``rxflow serve ARGS --port <free>`` in ``work``, yielded once it answers; Ctrl-C after."""
    port = free_port()
    environment = env or cli_env(work, RXFLOW_SERVE_TEST_DIR=str(work))
    process = subprocess.Popen(
        command("serve", *args, "--port", str(port)),
        cwd=work,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()  # written once the port is open
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(f"{url}/api/workflows", timeout=GUARD)
            return True
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return False

    server = Server(process, url, banner)
    try:
        wait_for(answers, "rxflow serve to answer")
        yield server
    finally:
        server.stop()


def records(body: bytes) -> list[Any]:
    parts = body.split(SEPARATOR)
    assert parts[-1] == b""
    return [json.loads(p) for p in parts[:-1]]


def test_serve_prints_its_url_and_stores_runs_in_the_db(tmp_path: Path) -> None:
    with serve(tmp_path, "serve_app:flows", "--db", "served.db") as server:
        assert server.banner == (
            f"rxflow serve: {server.url}/api (workflows demoWorkflow, approval, slow, fails, hog; "
            "runs stored in ./served.db)\n"
        )
        listed = httpx.get(f"{server.url}/api/workflows").json()
        assert list(listed) == ["demoWorkflow", "approval", "slow", "fails", "hog"]
        done = httpx.post(
            f"{server.url}/api/workflows/demoWorkflow/start-async?runId=r1",
            json={"inputData": {"value": 3}},
            timeout=GUARD,
        ).json()
        assert (done["status"], done["result"]) == ("success", {"value": 8})
        streamed = httpx.post(
            f"{server.url}/api/workflows/demoWorkflow/stream?runId=r2",
            json={"inputData": {"value": 1}},
            timeout=GUARD,
        )
        assert [c["type"] for c in records(streamed.content)] == [
            "workflow-start",
            "workflow-step-start",
            "workflow-step-output",
            "workflow-step-result",
            "workflow-step-start",
            "workflow-step-result",
            "workflow-finish",
        ]
        assert server.stop() == 0
    # the runs are in the SQLite file the command named, for every other command to see
    listed_runs = rxflow(tmp_path, "runs", "--db", "served.db", "--json")
    assert listed_runs.returncode == 0, listed_runs.stderr
    assert sorted((r["runId"], r["status"]) for r in json_lines(listed_runs.stdout)) == [
        ("r1", "success"),
        ("r2", "success"),
    ]


def test_serve_one_workflow_and_an_app_of_create_app(tmp_path: Path) -> None:
    with serve(tmp_path, "serve_app:one") as server:
        assert list(httpx.get(f"{server.url}/api/workflows").json()) == ["demo-workflow"]
        assert "runs stored in ./rxflow.db" in server.banner
        done = httpx.post(
            f"{server.url}/api/workflows/demo-workflow/start-async?runId=d1",
            json={"inputData": {"value": 1}},
            timeout=GUARD,
        )
        assert done.json()["result"] == {"value": 4}
        viewer = httpx.get(f"{server.url}/")
        assert viewer.status_code == 200 and "text/html" in viewer.headers["content-type"]
    with serve(tmp_path, "serve_app:one", "--no-ui") as server:
        assert httpx.get(f"{server.url}/").status_code == 404  # the API only
        assert list(httpx.get(f"{server.url}/api/workflows").json()) == ["demo-workflow"]
    listed = rxflow(tmp_path, "runs", "--json")  # the default store: ./rxflow.db
    assert [r["runId"] for r in json_lines(listed.stdout)] == ["d1"]
    with serve(tmp_path, "serve_app:app") as server:
        assert server.banner == f"rxflow serve: {server.url}/api (the app's workflows)\n"
        # the app keeps its own settings: its token
        assert httpx.get(f"{server.url}/api/workflows").status_code == 401
        answer = httpx.get(
            f"{server.url}/api/workflows", headers={"Authorization": "Bearer app-token"}
        )
        assert list(answer.json()) == ["demoWorkflow"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_token_guards_every_route(tmp_path: Path, how: str) -> None:
    args = ["serve_app:flows", "--db", "runs.db"]
    env = cli_env(tmp_path, RXFLOW_SERVE_TEST_DIR=str(tmp_path))
    if how == "option":
        args += ["--token", "s3cret"]
    else:
        env["RXFLOW_API_TOKEN"] = "s3cret"
    with serve(tmp_path, *args, env=env) as server:
        base = f"{server.url}/api/workflows"
        for answer in (
            httpx.get(base),
            httpx.get(base, headers={"Authorization": "Bearer wrong"}),
            httpx.post(f"{base}/demoWorkflow/start-async?runId=x", json={"inputData": {}}),
        ):
            assert answer.status_code == 401
            assert answer.json() == {"error": "Unauthorized"}
        good = httpx.get(base, headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200 and "demoWorkflow" in good.json()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve_app:nope"], "MODULE:ATTR 'serve_app:nope': module 'serve_app' has no attribute"),
        (["no_such_module:flows"], "cannot import module 'no_such_module'"),
        (["serve_app:not_a_workflow"], "'not_a_workflow' is not a workflow, a mapping of"),
        ([":flows"], "expected MODULE:NAME"),
        (["_steps"], "the module defines no committed workflow"),
        (["serve_app:app", "--db", "x.db"], "--db: MODULE:ATTR 'serve_app:app' is an app"),
        (["serve_app:app", "--no-ui"], "--no-ui: MODULE:ATTR 'serve_app:app' is an app"),
        (["serve_app:flows", "--workers", "0"], "Invalid value for '--workers'"),
        (["serve_app:flows", "--port", "70000"], "Invalid value for '--port'"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = rxflow(tmp_path, "serve", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    with serve(tmp_path, "serve_app:one", "--db", "a.db") as server:
        port = server.url.rsplit(":", 1)[1]
        done = rxflow(tmp_path, "serve", "serve_app:one", "--db", "b.db", "--port", port)
        assert done.returncode == 2
        assert f"--host 127.0.0.1 --port {port}: cannot listen there" in done.stderr
        assert "Traceback" not in done.stderr


def _client_ready() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed"
    if not (JS / "node_modules" / "@mastra" / "client-js").is_dir():
        return "run `npm ci --prefix tests/js` first"
    return None


def test_the_mastra_client_drives_rxflow_serve(tmp_path: Path) -> None:
    missing = _client_ready()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"@mastra/client-js tests cannot run: {missing}")
        pytest.skip(missing)
    with serve(tmp_path, "serve_app:flows", "--db", "runs.db") as server:
        listed = scenario(server.url, "list")
        assert listed["keys"] == ["demoWorkflow", "approval", "slow", "fails", "hog"]
        assert listed["demo"]["name"] == "demo-workflow"
        streamed = scenario(server.url, "stream")
        assert [c["type"] for c in streamed["chunks"]] == [
            "workflow-start",
            "workflow-step-start",
            "workflow-step-output",
            "workflow-step-result",
            "workflow-step-start",
            "workflow-step-result",
            "workflow-finish",
        ]
        assert streamed["chunks"][-1]["payload"]["finalWorkflowResult"] == {"value": 4}
        resumed = scenario(server.url, "suspendResume")
        assert resumed["suspended"] == "suspended"
        assert resumed["rest"][-1]["payload"]["finalWorkflowResult"] == {"value": 4}
        assert resumed["observedTypes"] == [c["type"] for c in resumed["first"] + resumed["rest"]]
        canceled = scenario(server.url, "cancel")
        assert canceled["answer"] == {"message": "Workflow run cancelled"}
        assert canceled["last"]["payload"]["workflowStatus"] == "canceled"
        assert canceled["stored"] == "canceled"
        # the client's view of a run equals a direct read of it
        direct = httpx.get(
            f"{server.url}/api/workflows/demoWorkflow/runs/{streamed['runId']}"
        ).json()
        assert direct["status"] == "success"
        assert stable(direct["result"]) == {"value": 4}


def test_workers_share_the_store_any_one_observes_and_cancels(tmp_path: Path) -> None:
    """The run is streamed through one worker, whose loop its first step then blocks: every
    request made meanwhile is answered by the other worker, from the shared SQLite file."""
    with serve(tmp_path, "serve_app:flows", "--db", "runs.db", "--workers", "2") as server:
        assert server.banner.endswith("runs stored in ./runs.db; 2 workers)\n")
        base = f"{server.url}/api/workflows/hog"
        streamed: list[bytes] = []

        def stream() -> None:
            with httpx.stream(
                "POST", f"{base}/stream?runId=shared", json={"inputData": {}}, timeout=GUARD * 2
            ) as answer:
                streamed.extend(answer.iter_raw())

        streaming = threading.Thread(target=stream)
        streaming.start()
        executing = int(wait_for(lambda: _read(tmp_path / "hogging"), "the run to start"))
        # the executing worker's loop is blocked now: another worker answers these
        record = httpx.get(f"{base}/runs/shared", timeout=GUARD).json()
        assert record["status"] == "running"
        observed: list[bytes] = []
        observing_started = threading.Event()

        def observe() -> None:
            with httpx.stream("POST", f"{base}/observe?runId=shared", timeout=GUARD * 2) as answer:
                assert answer.status_code == 200
                observing_started.set()
                observed.extend(answer.iter_raw())

        observing = threading.Thread(target=observe)
        observing.start()
        assert observing_started.wait(GUARD)
        cancel_answer: list[httpx.Response] = []
        canceling = threading.Thread(
            target=lambda: cancel_answer.append(
                httpx.post(f"{base}/runs/shared/cancel", timeout=GUARD * 2)
            )
        )
        canceling.start()
        wait_for(lambda: _cancel_requested(tmp_path / "runs.db"), "the cancel to be stored")
        (tmp_path / "go").write_text("")  # the executing worker goes on and sees the cancel
        for thread in (streaming, observing, canceling):
            thread.join(GUARD * 2)
            assert not thread.is_alive()
        assert cancel_answer[0].json() == {"message": "Workflow run cancelled"}
        streamed_records = records(b"".join(streamed))
        assert streamed_records[-1]["type"] == "workflow-finish"
        assert streamed_records[-1]["payload"]["workflowStatus"] == "canceled"
        assert records(b"".join(observed)) == streamed_records
        final = httpx.get(f"{base}/runs/shared").json()
        assert final["status"] == "canceled"
        assert executing != os.getpid()


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() and path.read_text() else None


def _cancel_requested(db: Path) -> bool:
    async def ask() -> bool:
        store = SQLiteStorage(db)
        try:
            return await store.cancel_requested("hog", "shared")
        finally:
            await store.close()

    return asyncio.run(ask())


def test_the_example_app_is_served(tmp_path: Path) -> None:
    example = str(ROOT / "examples" / "http_app.py")
    with serve(tmp_path, f"{example}:workflows", "--db", "example.db") as server:
        assert list(httpx.get(f"{server.url}/api/workflows").json()) == ["orders"]
        done = httpx.post(
            f"{server.url}/api/workflows/orders/start-async",
            params={"runId": "o1"},
            json={"inputData": {"items": [{"sku": "A", "quantity": 2, "price": 3.5}]}},
            timeout=GUARD,
        ).json()
        assert done["status"] == "suspended"
        resumed = httpx.post(
            f"{server.url}/api/workflows/orders/resume-async",
            params={"runId": "o1"},
            json={"step": "approve", "resumeData": {"approved": True}},
            timeout=GUARD,
        ).json()
        assert resumed["status"] == "success"
        assert resumed["result"] == {"total": 7.0, "approved": True}
