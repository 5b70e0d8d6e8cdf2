"""The run viewer in a real browser: headless Chromium (Debian's) driven by Playwright, against
`rxflow serve` serving tests/viewer_app.py's workflows on 127.0.0.1. Screenshots of every page
are saved (see tests/_browser.py for where)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _browser import artifacts, chromium
from _tcp_proxy import Proxy
from server_process import ROOT, TESTS, stop_server

WAIT = 20_000  # ms; a guard against hangs, never a pacing delay


class Server:
    def __init__(self, url: str, port: int, gates: Path) -> None:
        self.url = url
        self.port = port
        self.gates = gates

    def open_gate(self, name: str) -> None:
        (self.gates / name).write_text("open")

    def start(self, workflow: str, input_data: Any) -> str:
        api = f"{self.url}/api/workflows/{workflow}"
        run_id: str = httpx.post(f"{api}/create-run?", json={}).json()["runId"]
        started = httpx.post(f"{api}/start?runId={run_id}", json={"inputData": input_data})
        assert started.status_code == 200, started.text
        return run_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`rxflow serve viewer_app:WORKFLOWS` on a free port of 127.0.0.1, runs in SQLite."""
    base = tmp_path_factory.mktemp("viewer-server")
    gates = base / "gates"
    gates.mkdir()
    environment = {
        **os.environ,
        "RXFLOW_TEST_GATE": str(gates),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}",
    }
    command = [sys.executable, "-m", "rxflow", "serve", "viewer_app:WORKFLOWS"]
    process = subprocess.Popen(
        [*command, "--db", str(base / "runs.db"), "--port", "0"],
        cwd=TESTS,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    # It prints "rxflow serve: http://127.0.0.1:PORT/api (...)" once the port is open.
    announced = re.search(r"http://127\.0\.0\.1:(\d+)/api", process.stdout.readline())
    if announced is None:
        stop_server(process)
        raise RuntimeError("rxflow serve did not start")
    port = int(announced.group(1))
    url = f"http://127.0.0.1:{port}"
    # The port is bound when announced; uvicorn may take a moment more to accept on it.
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/api/workflows", timeout=5).raise_for_status()
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_server(process)
                raise RuntimeError("rxflow serve did not answer") from None
            time.sleep(0.05)
    try:
        yield Server(url, port, gates)
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts(tmp_path_factory)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(WAIT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def api_requests(page: Any) -> list[str]:
    """The URLs of the API requests the page makes from now on (a live list)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    return seen


def node(page: Any, node_id: str) -> Any:
    return page.locator(f'.node[data-node-id="{node_id}"]')


def start_from_page(page: Any, url: str, workflow: str, input_data: Any) -> str:
    """Start a run from the workflow's page; the run id the page moved to."""
    page.goto(f"{url}/#/workflow/{workflow}")
    page.locator("#start-input").fill(json.dumps(input_data))
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(rf"#/run/{workflow}/"))
    return page.url.rsplit("/", 1)[1]


def settled(page: Any, status: str) -> None:
    """Wait until the run page shows ``status`` having read every record of the run so far
    (finished, or waiting for the run to go on)."""
    phase = "waiting" if status == "suspended" else "finished"
    page.locator(f'#run-status[data-status="{status}"]').wait_for()
    page.locator(f'#follow-state[data-phase="{phase}"]').wait_for()


def log_sequence(page: Any) -> list[tuple[int, str]]:
    entries = page.locator(".log-entry").evaluate_all(
        "els => els.map(e => [Number(e.dataset.seq), e.dataset.type])"
    )
    return [(seq, kind) for seq, kind in entries]


def test_the_workflows_page_lists_every_workflow_and_draws_its_graph(
    page: Any, server: Server, shots: Path
) -> None:
    page.goto(f"{server.url}/")
    cards = page.locator(".workflow-card")
    cards.first.wait_for()
    assert cards.evaluate_all("els => els.map(e => e.dataset.workflow)") == [
        "chain",
        "approval",
        "nested-approval",
        "order",
        "broken",
        "held",
        "squares",
        "shapes",
    ]
    chain = page.locator('.workflow-card[data-workflow="chain"]')
    assert chain.locator(".description").inner_text() == "adds one, then doubles"
    assert chain.locator(".step-count").inner_text() == "2 steps"
    assert chain.locator(".node").count() == 2
    shapes = page.locator('.workflow-card[data-workflow="shapes"]')
    # start, p1, p2, merge, b1, b2, pick, again, inner, inner-one, inner-two, the sleep,
    # items, square, total
    assert shapes.locator(".node").count() == 15
    assert shapes.locator(".kind-parallel .lane").count() == 2
    assert shapes.locator(".kind-conditional .lane").count() == 2
    assert shapes.locator(".frame.loop .node").count() == 1
    assert shapes.locator(".frame.foreach .node").count() == 1
    assert shapes.locator(".node-sleep").count() == 1
    nested = shapes.locator(".nested")
    toggle = nested.get_by_role("button", name="Collapse nested workflow inner")
    toggle.click()
    assert nested.locator(".flow").is_hidden()
    nested.get_by_role("button", name="Expand nested workflow inner").click()
    assert nested.locator('.node[data-node-id="inner.inner-two"]').is_visible()
    page.screenshot(path=shots / "workflows.png", full_page=True)


def test_a_run_started_from_the_page_streams_its_steps_to_success(
    page: Any, server: Server, shots: Path
) -> None:
    run_id = start_from_page(page, server.url, "held", {"gate": "valid-start"})
    hold = node(page, "hold")
    hold.and_(page.locator('[data-status="running"]')).wait_for()
    assert node(page, "after").get_attribute("data-status") == "pending"
    server.open_gate("valid-start")
    settled(page, "success")
    assert hold.get_attribute("data-status") == "success"
    assert node(page, "after").get_attribute("data-status") == "success"
    assert "success" in hold.inner_text() or hold.locator(".symbol").inner_text() == "✓"
    assert log_sequence(page) == list(
        enumerate(
            [
                "workflow-start",
                "workflow-step-start",
                "workflow-step-result",
                "workflow-step-start",
                "workflow-step-result",
                "workflow-finish",
            ]
        )
    )
    assert json.loads(page.locator("#run-result pre").inner_text()) == {"gate": "valid-start"}
    record = httpx.get(f"{server.url}/api/workflows/held/runs/{run_id}").json()
    assert record["status"] == "success"
    page.screenshot(path=shots / "run.png", full_page=True)


def test_invalid_input_shows_the_field_errors_without_a_request(
    page: Any, server: Server, shots: Path
) -> None:
    page.goto(f"{server.url}/#/workflow/chain")
    page.locator("#start-input").wait_for()
    page.locator(".graph .node").first.wait_for()
    requests = api_requests(page)
    page.locator("#start-input").fill('{"value": "three", "colour": 1}')
    page.get_by_role("button", name="Start run").click()
    errors = page.locator("#start-errors li")
    errors.first.wait_for()
    assert errors.all_inner_texts() == [
        "value: expected an integer",
        "colour: is not a field of this input",
    ]
    assert page.locator("#start-input").get_attribute("aria-invalid") == "true"
    page.locator("#start-input").fill("{}")
    page.get_by_role("button", name="Start run").click()
    page.locator('#start-errors li[data-field="value"]', has_text="is required").wait_for()
    page.screenshot(path=shots / "start-invalid.png", full_page=True)
    assert requests == []
    assert "#/workflow/chain" in page.url


def test_the_input_is_checked_field_by_field_against_the_schema(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#/workflow/order")
    page.locator(".graph .node").first.wait_for()
    # the box starts with an example of the input's shape
    assert json.loads(page.locator("#start-input").input_value()) == {
        "item": "",
        "quantity": 0,
        "tags": [],
        "priority": "low",
        "address": {"city": "", "zip_code": ""},
        "note": "",
    }
    requests = api_requests(page)
    bad = {
        "item": 3,
        "quantity": 1.5,
        "tags": ["a", 2],
        "priority": "urgent",
        "address": {"zip_code": 75001},
        "note": 4,
    }
    page.locator("#start-input").fill(json.dumps(bad))
    page.get_by_role("button", name="Start run").click()
    page.locator("#start-errors li").first.wait_for()
    assert page.locator("#start-errors li").all_inner_texts() == [
        "item: expected a string",
        "quantity: expected an integer",
        "tags[1]: expected a string",
        'priority: must be one of "low", "high"',
        "address.city: is required",
        "address.zip_code: expected a string",
        "note: expected a string or null",
    ]
    page.locator("#start-input").fill("{not json")
    page.get_by_role("button", name="Start run").click()
    page.locator("#start-errors li", has_text="input: not valid JSON").wait_for()
    assert requests == []
    good = {**bad, "item": "tea", "quantity": 2, "tags": ["a"], "priority": "high"}
    good.update(address={"city": "Paris"}, note=None)
    page.locator("#start-input").fill(json.dumps(good))
    page.get_by_role("button", name="Start run").click()
    settled(page, "success")
    assert json.loads(page.locator("#run-result pre").inner_text()) == {
        **good,
        "address": {"city": "Paris", "zip_code": ""},
    }


def test_a_foreach_progress_bar_reaches_100_percent(page: Any, server: Server, shots: Path) -> None:
    start_from_page(page, server.url, "squares", {"count": 40})
    settled(page, "success")
    progress = node(page, "square").locator(".progress")
    assert progress.get_attribute("data-percent") == "100"
    bar = progress.locator("progress")
    assert bar.evaluate("b => [b.value, b.max]") == [40, 40]
    assert progress.inner_text().strip() == "40/40"
    progress_records = [t for _, t in log_sequence(page) if t == "workflow-step-progress"]
    assert len(progress_records) == 40
    # the event log filtered by type, then by text; a record's JSON shown when opened
    total = len(log_sequence(page))
    page.get_by_label("Type").select_option("workflow-step-progress")
    assert page.locator(".log-entry:visible").count() == 40
    assert page.locator(".event-log .summary").inner_text() == f"40 of {total} records shown"
    page.get_by_label("Contains").fill('"completedcount":40')
    assert page.locator(".log-entry:visible").count() == 1
    entry = page.locator(".log-entry:visible")
    entry.locator("summary").click()
    # the JSON is written when the row opens (its toggle event comes after the click)
    entry.locator("pre", has_text="workflow-step-progress").wait_for()
    chunk = json.loads(entry.locator("pre").inner_text())
    assert chunk["type"] == "workflow-step-progress"
    assert chunk["payload"]["completedCount"] == chunk["payload"]["totalCount"] == 40
    page.screenshot(path=shots / "run-foreach.png", full_page=True)


def test_a_suspended_run_is_resumed_from_its_form_and_finishes(
    page: Any, server: Server, shots: Path
) -> None:
    run_id = start_from_page(page, server.url, "approval", {"value": 1})
    settled(page, "suspended")
    assert node(page, "approve").get_attribute("data-status") == "suspended"
    form = page.locator('.resume-form[data-step="approve"]')
    assert "need approval" in form.inner_text()
    form.get_by_label("approved").check()
    form.get_by_label("note").fill("looks fine")
    page.screenshot(path=shots / "run-suspended.png", full_page=True)
    form.get_by_role("button", name="Resume approve").click()
    settled(page, "success")
    assert node(page, "double").get_attribute("data-status") == "success"
    assert json.loads(page.locator("#run-result pre").inner_text()) == {"value": 4}
    record = httpx.get(f"{server.url}/api/workflows/approval/runs/{run_id}").json()
    assert record["steps"]["approve"]["resumePayload"] == {"approved": True, "note": "looks fine"}
    assert page.locator("#resume").is_hidden()


def test_a_step_suspended_in_a_nested_workflow_is_resumed_by_its_path(
    page: Any, server: Server
) -> None:
    run_id = start_from_page(page, server.url, "nested-approval", {"value": 2})
    settled(page, "suspended")
    assert node(page, "review").get_attribute("data-status") == "suspended"
    assert node(page, "review.approve").get_attribute("data-status") == "suspended"
    forms = page.locator(".resume-form")
    assert forms.evaluate_all("els => els.map(e => e.dataset.step)") == ["review.approve"]
    forms.get_by_label("approved").check()
    forms.get_by_role("button", name="Resume review.approve").click()
    settled(page, "success")
    assert node(page, "review.approve").get_attribute("data-status") == "success"
    assert json.loads(page.locator("#run-result pre").inner_text()) == {"value": 6}
    record = httpx.get(f"{server.url}/api/workflows/nested-approval/runs/{run_id}").json()
    assert record["status"] == "success"


def test_a_finished_run_time_travels_from_a_step_with_a_new_input(
    page: Any, server: Server
) -> None:
    run_id = start_from_page(page, server.url, "chain", {"value": 1})
    settled(page, "success")
    assert json.loads(page.locator("#run-result pre").inner_text()) == {"value": 4}
    node(page, "double").click()
    form = page.locator('.travel-form[data-step="double"]')
    box = form.get_by_label("Input for double (JSON)")
    assert json.loads(box.input_value()) == {"value": 2}
    box.fill('{"value": "ten"}')
    requests = api_requests(page)
    form.get_by_role("button", name="Run again from double").click()
    form.locator(".errors li", has_text="value: expected an integer").wait_for()
    assert requests == []
    box.fill('{"value": 10}')
    form.get_by_role("button", name="Run again from double").click()
    page.locator("#run-result pre", has_text="20").wait_for()
    settled(page, "success")
    assert json.loads(page.locator("#run-result pre").inner_text()) == {"value": 20}
    assert page.locator("#run-status").get_attribute("data-status") == "success"
    assert [u for u in requests if "/time-travel-stream" in u] == [
        f"{server.url}/api/workflows/chain/time-travel-stream?runId={run_id}"
    ]
    finishes = [seq for seq, kind in log_sequence(page) if kind == "workflow-finish"]
    assert len(finishes) == 2
    sequence = log_sequence(page)
    assert [seq for seq, _ in sequence] == list(range(len(sequence)))
    record = httpx.get(f"{server.url}/api/workflows/chain/runs/{run_id}").json()
    assert record["result"] == {"value": 20}


def test_cancel_during_a_slow_step_shows_canceled(page: Any, server: Server) -> None:
    start_from_page(page, server.url, "held", {"gate": "never-opened"})
    node(page, "hold").and_(page.locator('[data-status="running"]')).wait_for()
    page.get_by_role("button", name="Cancel run").click()
    settled(page, "canceled")
    assert page.locator("#run-status").inner_text().strip() == "⊘ canceled"
    assert node(page, "after").get_attribute("data-status") == "pending"
    assert page.get_by_role("button", name="Cancel run").is_disabled()
    assert [t for _, t in log_sequence(page)][-2:] == ["workflow-canceled", "workflow-finish"]


def test_reloading_a_run_page_mid_run_resumes_following(page: Any, server: Server) -> None:
    run_id = server.start("held", {"gate": "reload"})
    page.goto(f"{server.url}/#/run/held/{run_id}")
    node(page, "hold").and_(page.locator('[data-status="running"]')).wait_for()
    before = log_sequence(page)
    assert before == [(0, "workflow-start"), (1, "workflow-step-start")]
    observes = [u for u in api_requests(page) if "/observe" in u]
    requests = api_requests(page)
    page.reload()
    node(page, "hold").and_(page.locator('[data-status="running"]')).wait_for()
    page.locator('.log-entry[data-seq="1"]').wait_for()
    assert log_sequence(page) == before
    observes = [u for u in requests if "/observe" in u]
    assert observes[0].endswith(f"runId={run_id}&offset=0")
    server.open_gate("reload")
    settled(page, "success")
    sequence = log_sequence(page)
    assert [seq for seq, _ in sequence] == list(range(6))
    assert sequence[-1] == (5, "workflow-finish")


def test_a_dropped_connection_is_followed_again_from_the_last_record(
    page: Any, server: Server
) -> None:
    run_id = server.start("held", {"gate": "dropped"})
    with Proxy(server.port) as proxy:
        requests = api_requests(page)
        page.goto(f"http://127.0.0.1:{proxy.port}/#/run/held/{run_id}")
        node(page, "hold").and_(page.locator('[data-status="running"]')).wait_for()
        page.locator('.log-entry[data-seq="1"]').wait_for()
        proxy.cut()
        page.locator('#follow-state[data-drops="1"][data-resume-from="2"]').wait_for()
        server.open_gate("dropped")
        settled(page, "success")
    observes = [u.split("?", 1)[1] for u in requests if "/observe" in u]
    assert observes[0] == f"runId={run_id}&offset=0"
    assert f"runId={run_id}&offset=2" in observes
    sequence = log_sequence(page)
    assert [seq for seq, _ in sequence] == list(range(6))
    assert sequence[-1] == (5, "workflow-finish")


def test_the_runs_page_filters_pages_and_updates_statuses(
    page: Any, server: Server, shots: Path
) -> None:
    run_id = server.start("held", {"gate": "runs-page"})
    page.goto(f"{server.url}/#/runs?workflow=held")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    row.and_(page.locator('[data-status="running"]')).wait_for()
    assert row.locator("td").nth(1).inner_text() == "held"
    server.open_gate("runs-page")
    # the page polls: the row's status changes without a reload
    row.and_(page.locator('[data-status="success"]')).wait_for()
    page.get_by_label("Status").select_option("suspended")
    page.wait_for_url(re.compile(r"status=suspended"))
    page.locator("tbody tr").first.wait_for()
    statuses = page.locator("tbody tr[data-status]").evaluate_all(
        "els => els.map(e => e.dataset.status)"
    )
    assert set(statuses) <= {"suspended"}
    page.goto(f"{server.url}/#/runs")
    page.locator("tbody tr[data-run-id]").first.wait_for()
    page.screenshot(path=shots / "runs.png", full_page=True)
    page.locator(f'tr[data-run-id="{run_id}"] a.run-link').click()
    page.wait_for_url(re.compile(rf"#/run/held/{run_id}"))
    settled(page, "success")


def test_runs_are_paged_and_filtered_by_date_and_counted_by_status(
    page: Any, server: Server
) -> None:
    api = f"{server.url}/api/workflows/chain"
    for value in range(23):
        run_id = httpx.post(f"{api}/create-run?", json={"resourceId": f"r{value}"}).json()
        done = httpx.post(
            f"{api}/start-async?runId={run_id['runId']}", json={"inputData": {"value": value}}
        )
        assert done.json()["status"] == "success"
    total = httpx.get(f"{api}/runs?limit=1").json()["total"]
    assert total >= 23
    page.goto(f"{server.url}/#/runs?workflow=chain")
    page.locator("tbody tr[data-run-id]").first.wait_for()
    assert page.locator("tbody tr[data-run-id]").count() == 20
    assert page.locator(".summary").inner_text() == f"Runs 1–20 of {total}"
    # newest first: the last run started is on top, with its resource id
    assert page.locator("tbody tr").first.locator("td").nth(5).inner_text() == "r22"
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r"page=1"))
    page.locator(".summary", has_text=f"Runs 21–{total} of {total}").wait_for()
    assert page.locator("tbody tr[data-run-id]").count() == total - 20
    page.get_by_role("link", name="← Newer").click()
    page.locator(".summary", has_text="Runs 1–20").wait_for()
    # a creation date in the future keeps nothing; today keeps them all
    today = page.evaluate("() => new Date().toLocaleDateString('en-CA')")
    tomorrow = page.evaluate("() => new Date(Date.now() + 86400000).toLocaleDateString('en-CA')")
    page.goto(f"{server.url}/#/runs?workflow=chain&from={tomorrow}")
    page.locator("tbody td", has_text="No runs match.").wait_for()
    page.goto(f"{server.url}/#/runs?workflow=chain&from={today}&to={today}")
    page.locator(".summary", has_text=f"of {total}").wait_for()
    # the workflows page counts runs by status with the same totals
    page.goto(f"{server.url}/#/workflows")
    count = page.locator('.workflow-card[data-workflow="chain"] .count[data-status="success"]')
    count.wait_for()
    assert count.inner_text().strip() == f"✓ success {total}"


def test_the_pages_work_from_the_keyboard(page: Any, server: Server) -> None:
    run_id = server.start("approval", {"value": 5})
    page.goto(f"{server.url}/#/run/approval/{run_id}")
    settled(page, "suspended")
    # the graph's steps are buttons: Tab reaches them, Enter opens the step's details
    approve = node(page, "approve")
    approve.focus()
    page.keyboard.press("Enter")
    details = page.locator('details[data-step="approve"]')
    assert details.get_attribute("open") is not None
    assert "need approval" in details.inner_text()
    # the resume form: fields reached and filled with the keyboard alone
    form = page.locator('.resume-form[data-step="approve"]')
    form.get_by_label("approved").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("by keyboard")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent")
    assert focused == "Resume approve"
    page.keyboard.press("Enter")
    settled(page, "success")
    record = httpx.get(f"{server.url}/api/workflows/approval/runs/{run_id}").json()
    assert record["steps"]["approve"]["resumePayload"] == {"approved": True, "note": "by keyboard"}
    # every form control has a label
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML)"""
    )
    assert unlabelled == []


CONTRAST = """() => {
  const lum = (c) => {
    const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const out = [];
  for (const e of document.querySelectorAll('.status, .node, nav a, button, .meta, label, td')) {
    if (!e.offsetParent) continue;
    const a = lum(getComputedStyle(e).color), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = e.className || e.tagName;
    if (ratio < 4.5) out.push([what, e.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
  }
  return out;
}"""


def test_text_has_enough_contrast_in_every_status(page: Any, server: Server) -> None:
    canceled = server.start("held", {"gate": "never-for-contrast"})
    httpx.post(f"{server.url}/api/workflows/held/runs/{canceled}/cancel")
    failed = server.start("broken", {"value": 1})
    suspended = server.start("approval", {"value": 1})
    page.goto(f"{server.url}/#/runs")
    page.locator(f'tr[data-run-id="{suspended}"]').wait_for()
    assert page.evaluate(CONTRAST) == []
    page.goto(f"{server.url}/#/run/approval/{suspended}")
    settled(page, "suspended")
    assert page.evaluate(CONTRAST) == []
    page.goto(f"{server.url}/#/run/held/{canceled}")
    settled(page, "canceled")
    assert page.evaluate(CONTRAST) == []
    page.goto(f"{server.url}/#/run/broken/{failed}")
    settled(page, "failed")
    kaboom = node(page, "kaboom")
    assert kaboom.get_attribute("data-status") == "failed"
    assert kaboom.locator(".symbol").inner_text() == "✗"
    kaboom.click()
    error = page.locator('details[data-step="kaboom"] .datum-error pre')
    assert json.loads(error.inner_text())["message"] == "kaboom"
    assert page.evaluate(CONTRAST) == []
