"""The end of a run on the command line: the result (stdout), or what went wrong, how to resume
or how far a canceled run got (stderr), and the exit code."""

from __future__ import annotations

import json
import shlex
from typing import Any

import attrs
from rich.console import Console

from ..results import WorkflowResult
from .exits import ExitCode, exit_code_for
from .render import format_ms, preview
from .tree import RunTree

__all__ = [
    "Outputs",
    "ResumeHint",
    "report_end",
    "report_result",
    "resume_commands",
    "stored_end",
]


@attrs.frozen
class Outputs:
    """Where the command writes: ``out`` (stdout: results, tables) and ``err`` (stderr: the
    live view, progress, messages). ``json``: stdout carries only event lines."""

    out: Console
    err: Console
    json: bool = False


@attrs.frozen
class ResumeHint:
    """What a later ``rxflow resume`` needs besides the run id: the workflow and the store."""

    workflow: str  # "--workflow MODULE:WORKFLOW" or "" when a registry finds it
    store: str  # " --db PATH", " --storage-url URL" or ""


def resume_commands(run_id: str, steps: list[str], hint: ResumeHint) -> list[str]:
    """One ``rxflow resume`` command line per suspended step."""
    where = f" {hint.workflow}" if hint.workflow else ""
    return [
        f"rxflow resume {run_id} --step {shlex.quote(step)} --data '<JSON>'{where}{hint.store}"
        for step in steps
    ] or [f"rxflow resume {run_id} --data '<JSON>'{where}{hint.store}"]


def report_result(
    result: WorkflowResult, tree: RunTree, outputs: Outputs, hint: ResumeHint, *, live: bool
) -> ExitCode:
    """Print how a run of this process ended; the exit code for it."""
    return report_end(result.to_dict(), tree, outputs, hint, live=live)


def stored_end(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The parts of a stored run's snapshot that say how it ended, as a result's wire form."""
    context = snapshot.get("context") or {}
    paths = [[key] for key in snapshot.get("suspendedPaths") or {}]
    tripwire = next(
        (
            wire["tripwire"]
            for wire in context.values()
            if isinstance(wire, dict) and wire.get("tripwire")
        ),
        None,
    )
    return {
        "status": snapshot.get("status"),
        "runId": snapshot.get("runId"),
        "result": snapshot.get("result"),
        "error": snapshot.get("error"),
        "suspended": paths,
        "suspendPayload": {p[0]: (context.get(p[0]) or {}).get("suspendPayload") for p in paths},
        "tripwire": tripwire,
    }


def report_end(
    end: dict[str, Any], tree: RunTree, outputs: Outputs, hint: ResumeHint, *, live: bool
) -> ExitCode:
    """Print how a run ended, from its result's wire form; the exit code for it."""
    status, run_id = str(end.get("status")), end.get("runId")
    err = outputs.err
    elapsed = _elapsed(tree)
    if status == "success":
        if not outputs.json:
            value = end.get("result")
            if outputs.out.is_terminal:
                outputs.out.print_json(json.dumps(value, default=str))
            else:
                outputs.out.file.write(json.dumps(value, indent=2, default=str) + "\n")
                outputs.out.file.flush()
        if not live and not outputs.json:
            err.print(f"run {run_id}: success{elapsed}")
    elif status == "failed":
        err.print(f"run {run_id} failed{elapsed}: {_error(end.get('error'), tree)}")
    elif status == "tripwire":
        info = end.get("tripwire") or {}
        reason = info.get("reason") or "a step raised TripWire"
        extra = f" {preview(info['metadata'])}" if info.get("metadata") else ""
        err.print(f"run {run_id} stopped by a tripwire: {reason}{extra}")
    elif status == "canceled":
        err.print(f"run {run_id} canceled{elapsed}: {_progress(tree)}")
    elif status == "suspended":
        _suspended(end, err, hint)
    elif status == "paused":
        where = f" {hint.workflow}" if hint.workflow else ""
        err.print(f"run {run_id} paused after one entry (step by step); run the next with:")
        err.print(f"  rxflow resume {run_id} --step-by-step{where}{hint.store}", markup=False)
        err.print(f"or the rest with:\n  rxflow resume {run_id}{where}{hint.store}", markup=False)
    else:
        err.print(f"run {run_id} is {status}")
    return exit_code_for(status)


def _suspended(end: dict[str, Any], err: Console, hint: ResumeHint) -> None:
    run_id = str(end.get("runId"))
    paths = [".".join(path) for path in end.get("suspended") or []]
    err.print(f"run {run_id} suspended at: {', '.join(paths) or '?'}")
    for step_id, payload in (end.get("suspendPayload") or {}).items():
        err.print(f"  {step_id} asks: {preview(payload, 200)}")
    err.print("resume it with:")
    for command in resume_commands(run_id, paths, hint):
        err.print(f"  {command}", markup=False)


def _elapsed(tree: RunTree) -> str:
    if tree.started_at is None or tree.ended_at is None:
        return ""
    return f" after {format_ms(tree.ended_at - tree.started_at)}"


def _error(error: Any, tree: RunTree) -> str:
    failed = [n for n in tree.by_key.values() if n.status == "failed"]
    where = f"step {failed[-1].key}: " if failed else ""
    if isinstance(error, BaseException):
        return f"{where}{type(error).__name__}: {error}"
    if isinstance(error, dict):
        return f"{where}{error.get('name', 'Error')}: {error.get('message')}"
    return f"{where}{error}"


def _progress(tree: RunTree) -> str:
    done = [n for n in tree.by_key.values() if n.status == "success" and not n.children]
    parts = [f"{len(done)} step{'s' if len(done) != 1 else ''} done"]
    for node in tree.by_key.values():
        if node.kind == "foreach" and node.total is not None and node.status != "success":
            parts.append(f"{node.key} {node.completed}/{node.total} items")
    return ", ".join(parts)
