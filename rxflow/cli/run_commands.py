"""``rxflow run``, ``rxflow resume`` and ``rxflow restart``: a run shown live to its end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from ..errors import ResumeAlreadyClaimedError, ResumeError, RxflowError, ValidationError
from ..results import WorkflowResult
from ..run import Run
from ..storage import RunRecord
from .app import cli, outputs_for, run_async, store_choice, store_options
from .exits import ExitCode, UsageProblem
from .inputs import parse_json_option, parse_object_option, read_input
from .live import JsonView, LiveView, PlainView, View, follow, follow_events
from .loading import load_workflow
from .report import Outputs, ResumeHint, report_result
from .stores import open_store
from .tree import RunTree
from .watching import watch_run
from .workflows import durability_option, open_stored_run, tree_for

__all__ = [
    "app_option",
    "checkpoint_option",
    "is_live",
    "make_view",
    "shown",
    "view_options",
    "workflow_option",
]


def view_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--plain", is_flag=True, help="Plain lines even in a terminal (no live view)."
    )(command)
    return click.option(
        "--json",
        "json_lines",
        is_flag=True,
        help="Print each event as one line of JSON (its wire form) on stdout, nothing else.",
    )(command)


def make_view(tree: RunTree, outputs: Outputs, plain: bool) -> View:
    """JSON lines with ``--json``; the live view on a terminal; plain lines otherwise."""
    if outputs.json:
        return JsonView(tree, outputs.out.file)
    if outputs.err.is_terminal and not plain:
        return LiveView(tree, outputs.err)
    return PlainView(tree, outputs.err.file)


# The checkpoint mode option of the verbs that run a workflow (run, resume, replay).
checkpoint_option = click.option(
    "--durability",
    type=click.Choice(["sync", "async", "exit"]),
    help="When checkpoints are written (default: the workflow's own, sync on a durable store).",
)
# Where the verbs that go on with a stored run (resume, restart, replay) find its workflow.
workflow_option = click.option(
    "--workflow", "workflow_target", metavar="MODULE:WORKFLOW", help="The run's workflow."
)
app_option = click.option(
    "--app", metavar="MODULE:ATTR", help="A registry of workflows (default: $RXFLOW_APP)."
)


@cli.command("run")
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="The input: JSON, @file.json, or - for stdin (default: stdin when piped).",
)
@click.option("--run-id", help="The new run's id (default: a random UUID).")
@click.option("--resource-id", help="The resource (user, thread...) the run belongs to.")
@click.option("--request-context", metavar="JSON", help="Request context values (a JSON object).")
@click.option("--state", metavar="JSON", help="The initial run state (a JSON object).")
@checkpoint_option
@click.option(
    "--step-by-step",
    is_flag=True,
    help="Run only the first entry, then leave the run paused (rxflow resume runs the next).",
)
@click.option(
    "--close-on-suspend/--no-close-on-suspend",
    default=True,
    show_default=True,
    help="At a suspension, stop; or keep following the run until it is resumed elsewhere and ends.",
)
@view_options
@store_options
def run_command(target: str, **options: Any) -> int:
    """Start a run of MODULE:WORKFLOW and show it live until it ends."""
    return run_async(_run(target, **options))


async def _run(
    target: str,
    *,
    input_text: str | None,
    run_id: str | None,
    resource_id: str | None,
    request_context: str | None,
    state: str | None,
    durability: str | None,
    step_by_step: bool,
    close_on_suspend: bool,
    json_lines: bool,
    plain: bool,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    choice = store_choice(db, storage_url)
    workflow = load_workflow(target)
    arguments = {
        "input_data": read_input(input_text),
        "initial_state": parse_object_option("--state", state),
        "request_context": parse_object_option("--request-context", request_context),
        **durability_option(Run.stream, durability),
    }
    if step_by_step:
        arguments["per_step"] = True
    outputs = outputs_for(json_lines)
    store = open_store(choice)
    try:
        workflow.use_storage(store)
        run = await workflow.create_run(run_id=run_id, resource_id=resource_id)
        if run.status != "pending":
            raise UsageProblem(
                f"--run-id {run_id}: a run with this id exists already (status {run.status}); "
                "choose another id"
            )
        tree = tree_for(workflow)
        output = run.stream(**arguments)
        result = await shown(
            follow(output, make_view(tree, outputs, plain), run.cancel, run=run), "run"
        )
        hint = ResumeHint(f"--workflow {target}", choice.describe())
        code: int = report_result(result, tree, outputs, hint, live=is_live(outputs, plain))
        if code == ExitCode.SUSPENDED and not close_on_suspend:
            outputs.err.print("following the run until it is resumed and ends...")
            code = await watch_run(
                store, workflow.id, run.run_id, outputs, plain, hint, through_suspensions=True
            )
        return code
    finally:
        await store.close()


def is_live(outputs: Outputs, plain: bool) -> bool:
    return outputs.err.is_terminal and not plain and not outputs.json


async def shown(going: Awaitable[WorkflowResult], verb: str) -> WorkflowResult:
    """A run's result; errors the run reports before executing are usage errors."""
    try:
        return await going
    except ValidationError as error:
        raise UsageProblem(f"cannot {verb}: {error}") from error
    except ResumeAlreadyClaimedError:
        raise
    except ResumeError as error:
        raise UsageProblem(f"cannot {verb}: {error}") from error


@cli.command("resume")
@click.argument("run_id")
@click.option(
    "--step",
    metavar="ID",
    help="The suspended step (a dotted path inside nested "
    "workflows); needed when several are suspended.",
)
@click.option("--label", help="Resume the step suspended under this label.")
@click.option("--data", metavar="JSON", help="The resume data: JSON, @file.json or - for stdin.")
@click.option("--for-each-index", type=click.IntRange(min=0), help="The foreach item to resume.")
@click.option("--request-context", metavar="JSON", help="Request context values (a JSON object).")
@workflow_option
@click.option(
    "--app",
    metavar="MODULE:ATTR",
    help="A registry of workflows (default: "
    "$RXFLOW_APP): a mapping of them, one, or a module's workflows.",
)
@checkpoint_option
@click.option(
    "--step-by-step", is_flag=True, help="Run only the next entry, then leave the run paused."
)
@view_options
@store_options
def resume_command(run_id: str, **options: Any) -> int:
    """Resume the suspended (or paused) run RUN_ID and show it live until it ends (or suspends
    or pauses again)."""
    return run_async(_resume(run_id, **options))


async def _resume(
    run_id: str,
    *,
    step: str | None,
    label: str | None,
    data: str | None,
    for_each_index: int | None,
    request_context: str | None,
    workflow_target: str | None,
    app: str | None,
    durability: str | None,
    step_by_step: bool,
    json_lines: bool,
    plain: bool,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    choice = store_choice(db, storage_url)
    arguments = {
        "per_step": step_by_step,
        "step": step,
        "label": label,
        "resume_data": parse_json_option("--data", data) if data is not None else None,
        "for_each_index": for_each_index,
        "request_context": parse_object_option("--request-context", request_context),
        **durability_option(Run.resume_stream, durability),
    }
    outputs = outputs_for(json_lines)
    store = open_store(choice, must_exist=True)
    try:
        stored = await open_stored_run(
            store, run_id, workflow_target, app, needed_for="resuming", check=_resumable
        )
        run, tree = stored.run, stored.tree
        output = run.resume_stream(**arguments)
        view = make_view(tree, outputs, plain)
        result = await shown(follow(output, view, run.cancel, run=run), "resume")
        hint = ResumeHint(stored.named, choice.describe())
        return report_result(result, tree, outputs, hint, live=is_live(outputs, plain))
    finally:
        await store.close()


def _resumable(record: RunRecord) -> None:
    if record.status not in ("suspended", "paused"):
        raise UsageProblem(
            f"run {record.run_id} is {record.status}, not suspended: there is nothing to resume"
        )


@cli.command("restart")
@click.argument("run_id")
@workflow_option
@app_option
@view_options
@store_options
def restart_command(run_id: str, **options: Any) -> int:
    """Continue RUN_ID, left running by a process that is gone, and show it to its end."""
    return run_async(_restart(run_id, **options))


async def _restart(
    run_id: str,
    *,
    workflow_target: str | None,
    app: str | None,
    json_lines: bool,
    plain: bool,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    choice = store_choice(db, storage_url)
    outputs = outputs_for(json_lines)
    store = open_store(choice, must_exist=True)
    try:
        stored = await open_stored_run(store, run_id, workflow_target, app, needed_for="restarting")
        run, tree = stored.run, stored.tree
        tree.status = "running"
        view = make_view(tree, outputs, plain)
        try:
            result = await follow_events(run, view, run.restart)
        except ResumeAlreadyClaimedError:
            raise
        except RxflowError as error:
            raise UsageProblem(f"cannot restart: {error}") from error
        tree.status = result.status
        hint = ResumeHint(stored.named, choice.describe())
        return report_result(result, tree, outputs, hint, live=is_live(outputs, plain))
    finally:
        await store.close()
