"""``rxflow runs``, ``show``, ``resume``, ``watch``, ``cancel`` and ``restart`` against a
SQLite file made by earlier ``rxflow run`` commands."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path

import pytest
from _cli import GUARD, cli_env, json_lines, rxflow, start, stored_runs, wait_for
from cli_fixtures.flows import greet_body

from rxflow import SQLiteStorage, create_step, create_workflow


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def filled(store_dir: Path) -> dict[str, str]:
    """runs.db with a success (resource u1), a failure and a suspension; their run ids.
    Shared by the tests of this module that only read it."""
    for target, given, extra in [
        ("greet", '{"name": "ada"}', ["--resource-id", "u1"]),
        ("failing", "3", []),
        ("approval", '"spec"', []),
    ]:
        done = rxflow(
            store_dir,
            "run",
            f"cli_fixtures.flows:{target}",
            "--input",
            given,
            "--db",
            "runs.db",
            *extra,
        )
        assert done.returncode in (0, 1, 3), done.stderr
    return {r["workflowId"]: r["runId"] for r in stored_runs(store_dir)}


def test_runs_lists_newest_first_with_filters(store_dir: Path, filled: dict[str, str]) -> None:
    listed = stored_runs(store_dir)
    assert [(r["workflowId"], r["status"]) for r in listed] == [
        ("approval", "suspended"),
        ("failing", "failed"),
        ("greet", "success"),
    ]
    assert listed[2]["resourceId"] == "u1"
    by_status = rxflow(store_dir, "runs", "--db", "runs.db", "--json", "--status", "failed")
    assert [r["runId"] for r in json_lines(by_status.stdout)] == [filled["failing"]]
    by_workflow = rxflow(store_dir, "runs", "--db", "runs.db", "--json", "--workflow", "greet")
    assert [r["runId"] for r in json_lines(by_workflow.stdout)] == [filled["greet"]]
    limited = rxflow(store_dir, "runs", "--db", "runs.db", "--json", "--limit", "2")
    assert len(json_lines(limited.stdout)) == 2
    recent = rxflow(store_dir, "runs", "--db", "runs.db", "--json", "--since", "1h")
    assert len(json_lines(recent.stdout)) == 3
    future = rxflow(store_dir, "runs", "--db", "runs.db", "--json", "--since", "2999-01-01")
    assert future.stdout == ""


def test_runs_table_off_a_terminal(store_dir: Path, filled: dict[str, str]) -> None:
    done = rxflow(store_dir, "runs", "--db", "runs.db")
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "RUN",
        "ID",
        "WORKFLOW",
        "STATUS",
        "STARTED",
        "DURATION",
        "RESOURCE",
    ]
    assert lines[1].split()[:3] == [filled["approval"], "approval", "suspended"]
    assert lines[3].split()[-1] == "u1"
    assert "\x1b" not in done.stdout


def test_runs_usage_errors(tmp_path: Path) -> None:
    missing = rxflow(tmp_path, "runs", "--db", "none.db")
    assert missing.returncode == 2
    assert "--db none.db: no such file" in missing.stderr
    rxflow(tmp_path, "run", "cli_fixtures.flows:greet", "--input", "{}", "--db", "runs.db")
    bad_since = rxflow(tmp_path, "runs", "--db", "runs.db", "--since", "yesterday")
    assert bad_since.returncode == 2
    assert "--since 'yesterday': expected an age like 30m" in bad_since.stderr
    bad_status = rxflow(tmp_path, "runs", "--db", "runs.db", "--status", "great")
    assert bad_status.returncode == 2
    assert "Invalid value for '--status'" in bad_status.stderr


def test_show_a_finished_run(store_dir: Path, filled: dict[str, str]) -> None:
    done = rxflow(store_dir, "show", filled["greet"][:8], "--db", "runs.db")  # a prefix will do
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"run       {filled['greet']}" in text
    assert "workflow  greet" in text and "status    success" in text and "resource  u1" in text
    assert "├── ✓ greet" in text and "└── ✓ shout" in text
    assert 'output  {"greeting": "HELLO ADA", "state": {}}' in text
    assert "\x1b" not in text


def test_show_a_failed_and_a_suspended_run(store_dir: Path, filled: dict[str, str]) -> None:
    failed = rxflow(store_dir, "show", filled["failing"], "--db", "runs.db").stdout
    assert "✗ explode" in failed and "ValueError: cannot handle 3" in failed
    suspended = rxflow(store_dir, "show", filled["approval"], "--db", "runs.db").stdout
    assert 'suspend payload  {"question": "approve draft of spec?"}' in suspended
    assert (
        f"rxflow resume {filled['approval']} --step review --data '<JSON>' "
        "--workflow MODULE:WORKFLOW --db runs.db"
    ) in suspended
    as_json = json.loads(
        rxflow(store_dir, "show", filled["approval"], "--db", "runs.db", "--json").stdout
    )
    assert as_json["status"] == "suspended"
    assert as_json["snapshot"]["suspendedPaths"] == {"review": [1]}


def test_show_unknown_or_ambiguous_ids(store_dir: Path, filled: dict[str, str]) -> None:
    unknown = rxflow(store_dir, "show", "zzz", "--db", "runs.db")
    assert unknown.returncode == 2
    assert "RUN_ID 'zzz': no stored run has this id" in unknown.stderr
    everything = rxflow(store_dir, "show", "", "--db", "runs.db")
    assert everything.returncode == 2 and "is ambiguous" in everything.stderr


def _resume_command(stderr: str, data: str) -> list[str]:
    line = stderr.splitlines()[-1].strip()
    assert line.startswith("rxflow resume ")
    return shlex.split(line.replace("'<JSON>'", shlex.quote(data)))[1:]


def test_the_printed_resume_command_resumes_the_run(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path, "run", "cli_fixtures.flows:approval", "--input", '"spec"', "--db", "runs.db"
    )
    assert done.returncode == 3
    resumed = rxflow(tmp_path, *_resume_command(done.stderr, '{"approved": true}'))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == {"document": "draft of spec", "approved": True}
    assert [r["status"] for r in stored_runs(tmp_path)] == ["success"]
    again = rxflow(tmp_path, *_resume_command(done.stderr, "{}"))
    assert again.returncode == 2
    assert "is success, not suspended: there is nothing to resume" in again.stderr


@pytest.mark.parametrize("how", ["--app", "RXFLOW_APP", "module"])
def test_resume_finds_the_workflow_in_a_registry(tmp_path: Path, how: str) -> None:
    rxflow(tmp_path, "run", "cli_fixtures.flows:approval", "--input", '"x"', "--db", "runs.db")
    run_id = stored_runs(tmp_path)[0]["runId"]
    args = ["resume", run_id, "--data", '{"approved": false}', "--db", "runs.db"]
    env = cli_env(tmp_path)
    if how == "--app":
        args += ["--app", "cli_fixtures.flows:registry"]
    elif how == "RXFLOW_APP":
        env["RXFLOW_APP"] = "cli_fixtures.flows:registry"
    else:
        args += ["--app", "cli_fixtures.flows"]  # every workflow of the module
    done = rxflow(tmp_path, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"document": "draft of x", "approved": False}


def test_resume_usage_errors(store_dir: Path, filled: dict[str, str]) -> None:
    run_id = filled["approval"]
    no_workflow = rxflow(store_dir, "resume", run_id, "--db", "runs.db")
    assert no_workflow.returncode == 2
    assert "needs its workflow 'approval': name it with --workflow" in no_workflow.stderr
    wrong = rxflow(
        store_dir, "resume", run_id, "--db", "runs.db", "--workflow", "cli_fixtures.flows:greet"
    )
    assert wrong.returncode == 2
    assert "is workflow 'greet', but run" in wrong.stderr
    bad_step = rxflow(
        store_dir,
        "resume",
        run_id,
        "--db",
        "runs.db",
        "--step",
        "draft",
        "--workflow",
        "cli_fixtures.flows:approval",
    )
    assert bad_step.returncode == 2 and "cannot resume:" in bad_step.stderr
    registry = rxflow(
        store_dir, "resume", run_id, "--db", "runs.db", "--app", "cli_fixtures.flows:small"
    )
    assert registry.returncode == 2
    assert "--app: no workflow with id 'approval' (it has: small)" in registry.stderr
    assert [r["status"] for r in stored_runs(store_dir)][0] == "suspended"


def test_watch_follows_a_run_of_another_process(tmp_path: Path) -> None:
    runner = start(
        tmp_path, "run", "cli_fixtures.flows:slow_items", "--input", "4", "--db", "runs.db"
    )
    try:
        wait_for(lambda: (tmp_path / "started.0").exists(), "the foreach to start")
        run_id = stored_runs(tmp_path)[0]["runId"]
        watcher = start(tmp_path, "watch", run_id, "--db", "runs.db", "--interval", "0.1")
        wait_for(lambda: watcher.poll() is None, "the watcher")
        (tmp_path / "allow").write_text("4")
        out, err = watcher.communicate(timeout=GUARD)
        assert runner.wait(timeout=GUARD) == 0
    finally:
        runner.kill()
    assert watcher.returncode == 0, err
    assert json.loads(out) == 60
    assert f"watching run {run_id} of workflow slow_items" in err
    assert "total: success" in err
    assert "\x1b" not in out + err


def test_cancel_through_the_workflow_cancels_a_suspended_run(tmp_path: Path) -> None:
    rxflow(tmp_path, "run", "cli_fixtures.flows:approval", "--input", '"x"', "--db", "runs.db")
    run_id = stored_runs(tmp_path)[0]["runId"]
    done = rxflow(
        tmp_path, "cancel", run_id, "--db", "runs.db", "--workflow", "cli_fixtures.flows:approval"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"run {run_id}: run.cancel() returned; stored status: canceled\n"
    finished = rxflow(tmp_path, "cancel", run_id, "--db", "runs.db")
    assert finished.returncode == 1
    assert "has already ended (canceled)" in finished.stderr


def test_cancel_through_the_store_reports_what_it_says(tmp_path: Path) -> None:
    runner = start(
        tmp_path, "run", "cli_fixtures.flows:slow_items", "--input", "4", "--db", "runs.db"
    )
    try:
        wait_for(lambda: (tmp_path / "started.0").exists(), "the foreach to start")
        run_id = stored_runs(tmp_path)[0]["runId"]
        done = rxflow(tmp_path, "cancel", run_id, "--db", "runs.db")
    finally:
        (tmp_path / "allow").write_text("4")
        runner.communicate(timeout=GUARD)
    assert done.returncode == 0, done.stderr
    said = done.stderr.strip()
    assert said.startswith(f"run {run_id}: the store says: ")
    assert said.split("the store says: ")[1].split(";")[0] in ("requested", "canceled")


def test_restart_continues_a_run_whose_process_died(tmp_path: Path) -> None:
    runner = start(
        tmp_path, "run", "cli_fixtures.flows:slow_items", "--input", "3", "--db", "runs.db"
    )
    wait_for(lambda: (tmp_path / "started.0").exists(), "the foreach to start")
    wait_for(lambda: stored_runs(tmp_path)[0]["status"] == "running", "status running stored")
    runner.kill()
    runner.communicate(timeout=GUARD)
    run_id = stored_runs(tmp_path)[0]["runId"]
    (tmp_path / "allow").write_text("3")
    done = rxflow(
        tmp_path,
        "restart",
        run_id,
        "--db",
        "runs.db",
        "--workflow",
        "cli_fixtures.flows:slow_items",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 30
    assert [r["status"] for r in stored_runs(tmp_path)] == ["success"]


async def _logged_run(db: Path) -> str:
    """A greet run whose chunks were written to the store's event log (as the server does)."""
    store = SQLiteStorage(db)
    workflow = create_workflow(id="greet").then(create_step(id="greet", execute=greet_body))
    workflow.commit().use_storage(store)
    run = await workflow.create_run()
    chunks = [chunk.to_dict() async for chunk in run.stream(input_data={"name": "log"})]
    await store.append_events("greet", run.run_id, 0, chunks)
    await store.close()
    return run.run_id


def test_watch_replays_the_event_log_when_the_store_keeps_one(tmp_path: Path) -> None:
    run_id = asyncio.run(_logged_run(tmp_path / "runs.db"))
    done = rxflow(tmp_path, "watch", run_id, "--db", "runs.db")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"greeting": "hello log"}
    lines = done.stderr.splitlines()
    assert lines[:3] == [
        f"run {run_id} of workflow greet: running",
        "greet: running",
        "greet> greeting log",  # writer output: only the event log has it
    ]


def _suspended_run(work: Path) -> str | None:
    """The id of the suspended run in runs.db, once the other process has stored it."""
    listed = rxflow(work, "runs", "--db", "runs.db", "--json", "--status", "suspended")
    if listed.returncode != 0 or not listed.stdout:  # no file, or not written yet
        return None
    return str(json_lines(listed.stdout)[0]["runId"])


def test_no_close_on_suspend_follows_the_run_until_it_is_resumed_elsewhere(
    tmp_path: Path,
) -> None:
    runner = start(
        tmp_path,
        "run",
        "cli_fixtures.flows:approval",
        "--input",
        '"x"',
        "--db",
        "runs.db",
        "--no-close-on-suspend",
    )
    try:
        run_id = wait_for(lambda: _suspended_run(tmp_path), "the run to suspend")
        resumed = rxflow(
            tmp_path,
            "resume",
            run_id,
            "--data",
            '{"approved": true}',
            "--workflow",
            "cli_fixtures.flows:approval",
            "--db",
            "runs.db",
        )
        assert resumed.returncode == 0, resumed.stderr
        out, err = runner.communicate(timeout=GUARD)
    finally:
        runner.kill()
    assert runner.returncode == 0, err
    assert json.loads(out) == {"document": "draft of x", "approved": True}
    assert "following the run until it is resumed and ends..." in err
    assert "review: success" in err
