"""``rxflow replay RUN_ID --from STEP``: time-travel a stored run from one step, shown live."""

from __future__ import annotations

from typing import Any

import click

from ..run import Run
from .app import cli, outputs_for, run_async, store_choice, store_options
from .inputs import parse_json_option, parse_object_option
from .live import follow
from .report import ResumeHint, report_result
from .run_commands import (
    app_option,
    checkpoint_option,
    is_live,
    make_view,
    shown,
    view_options,
    workflow_option,
)
from .stores import open_store
from .workflows import durability_option, open_stored_run

__all__ = ["replay_command"]


@cli.command("replay")
@click.argument("run_id")
@click.option(
    "--from",
    "from_step",
    required=True,
    metavar="STEP",
    help="The step to run again (a dotted path inside nested workflows); the steps before it "
    "keep their stored results.",
)
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="The step's input: JSON, @file.json or - for stdin (default: what the stored "
    "results give it).",
)
@click.option("--for-each-index", type=click.IntRange(min=0), help="Re-run one foreach item.")
@click.option("--request-context", metavar="JSON", help="Request context values (a JSON object).")
@workflow_option
@app_option
@checkpoint_option
@click.option(
    "--step-by-step", is_flag=True, help="Run only the step's entry, then leave the run paused."
)
@view_options
@store_options
def replay_command(run_id: str, **options: Any) -> int:
    """Run RUN_ID again from step STEP (time travel) and show it live until it ends."""
    return run_async(_replay(run_id, **options))


async def _replay(
    run_id: str,
    *,
    from_step: str,
    input_text: str | None,
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
        "step": from_step,
        "input_data": parse_json_option("--input", input_text) if input_text else None,
        "for_each_index": for_each_index,
        "request_context": parse_object_option("--request-context", request_context),
        "per_step": step_by_step,
        **durability_option(Run.time_travel_stream, durability),
    }
    outputs = outputs_for(json_lines)
    store = open_store(choice, must_exist=True)
    try:
        stored = await open_stored_run(store, run_id, workflow_target, app, needed_for="replaying")
        run, tree = stored.run, stored.tree
        output = run.time_travel_stream(**arguments)
        result = await shown(follow(output, make_view(tree, outputs, plain), run.cancel), "replay")
        hint = ResumeHint(stored.named, choice.describe())
        return report_result(result, tree, outputs, hint, live=is_live(outputs, plain))
    finally:
        await store.close()
