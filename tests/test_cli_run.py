"""``rxflow run``, run as a real subprocess: an exit code per outcome, ``--json`` lines equal
to the in-process stream, usage errors that name the bad argument, Ctrl-C cancelling."""

from __future__ import annotations

import inspect
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli import GUARD, cli_env, json_lines, rxflow, start, stored_runs, wait_for, without_ids

from rxflow import Run

# --- an exit code for every outcome ------------------------------------------------------------


def test_success_prints_the_result_and_exits_0(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path,
        "run",
        "cli_fixtures.flows:greet",
        "--input",
        '{"name": "ada"}',
        "--state",
        '{"k": 1}',
        "--db",
        "runs.db",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"greeting": "HELLO ADA", "state": {"k": 1}}
    assert "greet> greeting ada" in done.stderr  # the step's writer output, as a plain line
    assert "shout: success" in done.stderr
    assert [r["status"] for r in stored_runs(tmp_path)] == ["success"]


def test_retries_of_a_step_are_shown(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:flaky", "--input", "{}", "--db", "runs.db")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": "xy", "attempts": 3}
    assert re.search(r"^load: success \(\d+ ms, 2 retries\)$", done.stderr, re.MULTILINE)


def test_default_store_is_rxflow_db_in_the_current_directory(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:greet", "--input", '{"name": "b"}')
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rxflow.db").is_file()
    listed = rxflow(tmp_path, "runs", "--json")
    assert [r["workflowId"] for r in json_lines(listed.stdout)] == ["greet"]


def test_input_from_stdin_and_from_a_file(tmp_path: Path) -> None:
    piped = rxflow(tmp_path, "run", "cli_fixtures.flows:greet", stdin='{"name": "pipe"}')
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["greeting"] == "HELLO PIPE"
    (tmp_path / "in.json").write_text('{"name": "file"}')
    from_file = rxflow(tmp_path, "run", "cli_fixtures.flows:greet", "--input", "@in.json")
    assert json.loads(from_file.stdout)["greeting"] == "HELLO FILE"


def test_failed_run_exits_1_naming_the_step_and_error(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:failing", "--input", "3")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "failed" in done.stderr
    assert "step explode: ValueError: cannot handle 3" in done.stderr
    assert "Traceback" not in done.stderr


def test_suspended_run_exits_3_and_prints_the_resume_command(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path, "run", "cli_fixtures.flows:approval", "--input", '"spec"', "--db", "runs.db"
    )
    assert done.returncode == 3, done.stderr
    run_id = stored_runs(tmp_path)[0]["runId"]
    assert 'review asks: {"question": "approve draft of spec?"}' in done.stderr
    expected = (
        f"rxflow resume {run_id} --step review --data '<JSON>' "
        "--workflow cli_fixtures.flows:approval --db runs.db"
    )
    assert expected in done.stderr.splitlines()[-1]


def test_tripwire_exits_5_with_its_reason(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:guarded")
    assert done.returncode == 5
    assert 'stopped by a tripwire: content flagged {"rule": "no-spam"}' in done.stderr


def test_sigint_cancels_the_run_stores_canceled_and_exits_4(tmp_path: Path) -> None:
    process = start(
        tmp_path, "run", "cli_fixtures.flows:slow_items", "--input", "10", "--db", "runs.db"
    )
    try:
        wait_for(lambda: (tmp_path / "started.1").exists(), "the foreach's first items")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=GUARD)
    finally:
        process.kill()
    assert process.returncode == 4, err
    assert (tmp_path / "cancelled.marker").read_text().startswith("item ")
    assert "Canceling the run..." in err
    assert "canceled after" in err and "process 0/10 items" in err
    assert [r["status"] for r in stored_runs(tmp_path)] == ["canceled"]


# --- --json: the wire form of every event, nothing else --------------------------------------


_IN_PROCESS = """
import asyncio, json, sys
from cli_fixtures import flows

async def main():
    run = await getattr(flows, sys.argv[1]).create_run()
    async for chunk in run.stream(input_data=json.loads(sys.argv[2])):
        print(json.dumps(chunk.to_dict()))

asyncio.run(main())
"""


def _in_process(work: Path, target: str, input_data: Any) -> list[dict[str, Any]]:
    """The stream of the same workflow and input, read with ``async for`` in a Python process
    of its own (a run kept alive by a module-level workflow stays out of this one)."""
    done = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, target, json.dumps(input_data)],
        cwd=work,
        env=cli_env(work),
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


@pytest.mark.parametrize(
    ("target", "input_data", "code"),
    [
        ("greet", {"name": "ada"}, 0),
        ("failing", 3, 1),
        ("approval", "spec", 3),
        ("guarded", None, 5),
    ],
)
def test_json_lines_equal_the_in_process_stream(
    tmp_path: Path, target: str, input_data: Any, code: int
) -> None:
    done = rxflow(
        tmp_path, "run", f"cli_fixtures.flows:{target}", "--json", "--input", json.dumps(input_data)
    )
    assert done.returncode == code, done.stderr
    lines = done.stdout.splitlines()
    assert all(line == json.dumps(json.loads(line)) for line in lines)  # exactly json.dumps
    expected = _in_process(tmp_path, target, input_data)
    assert [without_ids(e) for e in json_lines(done.stdout)] == [without_ids(e) for e in expected]


# --- usage errors: exit 2, the bad argument named, no traceback ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["cli_fixtures.flows:greet", "--input", '{"name": "ada",}'],
            "--input: invalid JSON at line 1, column 16: Expecting property name",
        ),
        (
            ["cli_fixtures.flows:greet", "--state", "[1, 2]"],
            "--state must be a JSON object, got [1, 2]",
        ),
        (
            ["cli_fixtures.nowhere:greet"],
            "MODULE:WORKFLOW 'cli_fixtures.nowhere:greet': cannot import module "
            "'cli_fixtures.nowhere'",
        ),
        (
            ["cli_fixtures.flows:missing"],
            "MODULE:WORKFLOW 'cli_fixtures.flows:missing': module 'cli_fixtures.flows' has no "
            "attribute 'missing'",
        ),
        (
            ["cli_fixtures.flows:not_a_workflow"],
            "MODULE:WORKFLOW 'cli_fixtures.flows:not_a_workflow' is not a workflow: it is 42, of "
            "type int",
        ),
        (["cli_fixtures.flows:uncommitted"], "workflow 'uncommitted' is not committed"),
        (["cli_fixtures.flows"], "name the workflow after a colon"),
        (
            ["cli_fixtures.flows:greet", "--input", "@nothing.json"],
            "--input @nothing.json: cannot read 'nothing.json'",
        ),
        (
            ["cli_fixtures.flows:greet", "--input", "[1, 2]"],
            "cannot run: input of workflow 'greet'\n$: expected dict, got [1, 2]",
        ),
    ],
)
def test_usage_errors_name_the_argument_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = rxflow(tmp_path, "run", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_json_shows_where(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:greet", "--input", '{"name": 1')
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "rxflow: error: --input: invalid JSON at line 1, column 11: Expecting ',' delimiter",
        '  {"name": 1',
        "            ^",
    ]


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:greet", "--bogus")
    assert done.returncode == 2
    assert "No such option '--bogus'" in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "run", "cli_fixtures.flows:missing", "--debug")
    assert done.returncode == 2
    assert "Traceback" in done.stderr


def test_an_existing_run_id_is_refused(tmp_path: Path) -> None:
    first = rxflow(
        tmp_path, "run", "cli_fixtures.flows:greet", "--input", '{"name": "a"}', "--run-id", "r-1"
    )
    assert first.returncode == 0
    again = rxflow(
        tmp_path, "run", "cli_fixtures.flows:greet", "--input", '{"name": "a"}', "--run-id", "r-1"
    )
    assert again.returncode == 2
    assert "--run-id r-1: a run with this id exists already (status success)" in again.stderr


def test_durability_is_passed_through_or_refused(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path,
        "run",
        "cli_fixtures.flows:greet",
        "--input",
        '{"name": "a"}',
        "--durability",
        "sync",
    )
    if "durability" in inspect.signature(Run.stream).parameters:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 2
        assert "--durability sync: this version of rxflow does not support" in done.stderr


# --- not a terminal: plain text ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["greet", "failing", "approval", "guarded"])
def test_output_off_a_terminal_has_no_escape_codes(tmp_path: Path, target: str) -> None:
    env_done = rxflow(tmp_path, "run", f"cli_fixtures.flows:{target}", "--input", '{"name": "x"}')
    assert env_done.returncode in (0, 1, 3, 5)
    assert "\x1b" not in env_done.stdout + env_done.stderr
    assert env_done.stderr  # it did say something


def test_resource_id_and_request_context_reach_the_run(tmp_path: Path) -> None:
    done = rxflow(
        tmp_path,
        "run",
        "cli_fixtures.flows:greet",
        "--input",
        '{"name": "a"}',
        "--resource-id",
        "user-7",
        "--request-context",
        '{"tenant": "t1"}',
        "--db",
        "runs.db",
    )
    assert done.returncode == 0, done.stderr
    assert stored_runs(tmp_path)[0]["resourceId"] == "user-7"
    shown = rxflow(tmp_path, "show", stored_runs(tmp_path)[0]["runId"], "--json", "--db", "runs.db")
    assert json.loads(shown.stdout)["snapshot"]["requestContext"] == {"tenant": "t1"}
