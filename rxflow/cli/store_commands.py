"""``rxflow runs``, ``show``, ``watch`` and ``cancel``: stored runs, read from the store."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..storage import RunRecord, Storage
from ..storage.records import FINISHED_STATUSES
from .app import cli, outputs_for, run_async, store_choice, store_options
from .exits import ExitCode, UsageProblem
from .render import SYMBOLS, format_ms, stored_tree
from .report import Outputs, ResumeHint, resume_commands, stored_end
from .stores import find_run, open_store
from .watching import stored_tree_of, watch_run
from .workflows import workflow_for_run

__all__ = ["parse_since"]

_STATUSES = [
    "pending",
    "running",
    "restarting",
    "waiting",
    "suspended",
    "success",
    "failed",
    "canceled",
    "tripwire",
    "bailed",
    "paused",
]


def parse_since(text: str, now: datetime | None = None) -> int:
    """``--since``: ``30s``, ``15m``, ``2h``, ``7d`` ago, or an ISO date/time; epoch ms."""
    now = now or datetime.now().astimezone()
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        moment = now - timedelta(**{unit: int(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageProblem(
                f"--since {text!r}: expected an age like 30m, 2h, 7d or an ISO date like "
                "2025-01-31 or 2025-01-31T14:00"
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _took(record: RunRecord) -> str:
    if record.status in FINISHED_STATUSES or record.status == "suspended":
        return format_ms(record.updated_at - record.created_at)
    return ""


@cli.command("runs")
@click.option("--status", type=click.Choice(_STATUSES), help="Only runs with this status.")
@click.option("--workflow", "workflow_id", metavar="ID", help="Only runs of this workflow id.")
@click.option("--since", metavar="AGE|DATE", help="Only runs started since: 30m, 2h, 7d or a date.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most this many runs, newest first.",
)
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per run.")
@store_options
def runs_command(**options: Any) -> int:
    """List stored runs, newest first."""
    return run_async(_runs(**options))


async def _runs(
    *,
    status: Any,
    workflow_id: str | None,
    since: str | None,
    limit: int,
    json_lines: bool,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    after = parse_since(since) if since is not None else None
    outputs = outputs_for(json_lines)
    store = open_store(store_choice(db, storage_url), must_exist=True)
    try:
        found = await _listed(store, workflow_id, status, after, limit)
    finally:
        await store.close()
    if json_lines:
        for record in found:
            outputs.out.file.write(json.dumps(_summary(record)) + "\n")
        return ExitCode.SUCCESS
    _runs_table(found, outputs)
    return ExitCode.SUCCESS


async def _listed(
    store: Storage, workflow_id: str | None, status: Any, after: int | None, limit: int
) -> list[RunRecord]:
    found: list[RunRecord] = []
    offset = 0
    while len(found) < limit:
        page = await store.list_runs(workflow_id, status=status, limit=limit, offset=offset)
        for record in page.runs:
            if after is not None and record.created_at < after:
                return found  # newest first: the rest are older still
            found.append(record)
        offset += len(page.runs)
        if not page.runs or offset >= page.total:
            break
    return found[:limit]


def _summary(record: RunRecord) -> dict[str, Any]:
    return {
        "runId": record.run_id,
        "workflowId": record.workflow_id,
        "status": record.status,
        "resourceId": record.resource_id,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    }


def _runs_table(found: list[RunRecord], outputs: Outputs) -> None:
    headers = ("RUN ID", "WORKFLOW", "STATUS", "STARTED", "DURATION", "RESOURCE")
    rows = [
        (r.run_id, r.workflow_id, r.status, _when(r.created_at), _took(r), r.resource_id or "")
        for r in found
    ]
    out = outputs.out
    if not out.is_terminal:  # aligned plain columns, easy to cut and grep
        widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(6)]
        for row in [headers, *rows]:
            cells = zip(row, widths, strict=True)
            line = "  ".join(str(cell).ljust(width) for cell, width in cells)
            out.file.write(line.rstrip() + "\n")
        return
    table = Table(*headers, box=None, header_style="bold")
    for row in rows:
        table.add_row(*row[:2], Text(row[2], style=SYMBOLS.get(row[2], ("", ""))[1]), *row[3:])
    out.print(table)
    if not rows:
        out.print("no runs")


@cli.command("show")
@click.argument("run_id")
@click.option("--json", "json_lines", is_flag=True, help="The stored run as one JSON object.")
@store_options
def show_command(run_id: str, **options: Any) -> int:
    """Show a stored run: its steps with status, timing, input and output, error, suspension."""
    return run_async(_show(run_id, **options))


async def _show(
    run_id: str, *, json_lines: bool, db: str | None, storage_url: str | None, debug: bool
) -> int:
    choice = store_choice(db, storage_url)
    outputs = outputs_for(json_lines)
    store = open_store(choice, must_exist=True)
    try:
        record = await find_run(store, run_id)
    finally:
        await store.close()
    if json_lines:
        outputs.out.file.write(json.dumps({**_summary(record), "snapshot": record.snapshot}) + "\n")
        return ExitCode.SUCCESS
    tree = stored_tree_of(record)
    out = outputs.out
    out.print(f"run       {record.run_id}")
    out.print(f"workflow  {record.workflow_id}")
    out.print(f"status    {record.status}")
    if record.resource_id:
        out.print(f"resource  {record.resource_id}")
    out.print(f"started   {_when(record.created_at)}")
    out.print(
        f"updated   {_when(record.updated_at)}" + (f"  ({_took(record)})" if _took(record) else "")
    )
    out.print(stored_tree(tree, details=True))
    end = stored_end(record.snapshot or {})
    if record.status == "failed" and end["error"]:
        error = end["error"]
        text = f"{error.get('name')}: {error.get('message')}" if isinstance(error, dict) else error
        out.print(f"error     {text}")
    if record.status == "suspended":
        hint = ResumeHint(
            "" if os.environ.get("RXFLOW_APP") else "--workflow MODULE:WORKFLOW", choice.describe()
        )
        paths = [".".join(p) for p in end["suspended"]]
        out.print("resume it with:")
        for command in resume_commands(record.run_id, paths, hint):
            out.print(f"  {command}")
    return ExitCode.SUCCESS


@cli.command("watch")
@click.argument("run_id")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Seconds between two reads of the store.",
)
@click.option("--plain", is_flag=True, help="Plain lines even in a terminal (no live view).")
@store_options
def watch_command(run_id: str, **options: Any) -> int:
    """Follow a run executing in another process until it ends (from its event log where the
    store keeps one, else from its stored snapshots)."""
    return run_async(_watch(run_id, **options))


async def _watch(
    run_id: str,
    *,
    interval: float,
    plain: bool,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    choice = store_choice(db, storage_url)
    store = open_store(choice, must_exist=True)
    try:
        record = await find_run(store, run_id)
        hint = ResumeHint(
            "" if os.environ.get("RXFLOW_APP") else "--workflow MODULE:WORKFLOW", choice.describe()
        )
        outputs = outputs_for(False)
        return await watch_run(
            store, record.workflow_id, record.run_id, outputs, plain, hint, interval
        )
    finally:
        await store.close()


@cli.command("cancel")
@click.argument("run_id")
@click.option(
    "--workflow",
    "workflow_target",
    metavar="MODULE:WORKFLOW",
    help="Cancel through the run's workflow (run.cancel()).",
)
@click.option("--app", metavar="MODULE:ATTR", help="A registry of workflows.")
@store_options
def cancel_command(run_id: str, **options: Any) -> int:
    """Cancel a run; without a workflow, ask its owner through the store (request_cancel)."""
    return run_async(_cancel(run_id, **options))


async def _cancel(
    run_id: str,
    *,
    workflow_target: str | None,
    app: str | None,
    db: str | None,
    storage_url: str | None,
    debug: bool,
) -> int:
    store = open_store(store_choice(db, storage_url), must_exist=True)
    outputs = outputs_for(False)
    try:
        record = await find_run(store, run_id)
        if record.status in FINISHED_STATUSES:
            outputs.err.print(f"run {record.run_id} has already ended ({record.status})")
            return ExitCode.FAILED
        if workflow_target is not None or app is not None:
            workflow, _ = workflow_for_run(record, workflow_target, app, needed_for="canceling")
            workflow.use_storage(store)
            run = await workflow.get_run(record.run_id)
            if run is not None:
                await run.cancel()
            said = "run.cancel() returned"
        else:
            outcome = await store.request_cancel(record.workflow_id, record.run_id)
            said = f"the store says: {outcome}"
        after = await store.get_run(record.workflow_id, record.run_id)
    finally:
        await store.close()
    status = after.status if after is not None else "deleted"
    outputs.err.print(f"run {record.run_id}: {said}; stored status: {status}")
    taken = status == "canceled" or said.endswith("requested")
    return ExitCode.SUCCESS if taken else ExitCode.FAILED
