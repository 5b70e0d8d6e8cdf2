"""``rxflow replay RUN_ID --from STEP`` and ``rxflow run --step-by-step`` as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from _cli import json_lines, rxflow, stored_runs

GREET = "cli_fixtures.flows:greet"


def test_replay_reruns_from_a_step_with_a_new_input(tmp_path: Path) -> None:
    first = rxflow(tmp_path, "run", GREET, "--input", '{"name": "ada"}', "--db", "runs.db")
    assert first.returncode == 0, first.stderr
    run_id = stored_runs(tmp_path)[0]["runId"]
    done = rxflow(
        tmp_path,
        "replay",
        run_id,
        "--from",
        "shout",
        "--input",
        '{"greeting": "hi there"}',
        "--workflow",
        GREET,
        "--db",
        "runs.db",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    events = json_lines(done.stdout)
    assert [(e["type"], (e.get("payload") or {}).get("id")) for e in events] == [
        ("workflow-start", None),
        ("workflow-step-start", "shout"),
        ("workflow-step-result", "shout"),
        ("workflow-finish", None),
    ]
    assert events[-1]["payload"]["finalWorkflowResult"] == {"greeting": "HI THERE", "state": {}}
    again = rxflow(
        tmp_path, "replay", run_id, "--from", "shout", "--workflow", GREET, "--db", "runs.db"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"greeting": "HELLO ADA", "state": {}}
    lines = again.stderr.splitlines()
    assert "shout: running" in lines
    assert "greet: running" not in lines  # the first step was not run again
    [run] = stored_runs(tmp_path)
    assert run["status"] == "success"


def test_replay_of_an_unknown_step_is_a_usage_error(tmp_path: Path) -> None:
    rxflow(tmp_path, "run", GREET, "--input", '{"name": "ada"}', "--db", "runs.db")
    run_id = stored_runs(tmp_path)[0]["runId"]
    done = rxflow(
        tmp_path, "replay", run_id, "--from", "nope", "--workflow", GREET, "--db", "runs.db"
    )
    assert done.returncode == 2
    assert "cannot replay: step 'nope' is not a step of workflow 'greet'" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_step_by_step_pauses_and_resume_continues(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path, "run", GREET, "--input", '{"name": "ada"}', "--db", "runs.db", "--step-by-step"
    )
    assert done.returncode == 6, done.stderr
    assert done.stdout == ""
    [run] = stored_runs(tmp_path)
    assert run["status"] == "paused"
    assert f"run {run['runId']} paused after one entry" in done.stderr
    assert (
        f"rxflow resume {run['runId']} --step-by-step --workflow {GREET} --db runs.db"
        in done.stderr
    )
    rest = rxflow(tmp_path, "resume", run["runId"], "--workflow", GREET, "--db", "runs.db")
    assert rest.returncode == 0, rest.stderr
    assert json.loads(rest.stdout) == {"greeting": "HELLO ADA", "state": {}}
    assert stored_runs(tmp_path)[0]["status"] == "success"
