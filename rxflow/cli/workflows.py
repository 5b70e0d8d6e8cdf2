"""The workflow object a stored run needs (resume, restart, replay, cancel): ``--workflow`` or a
registry (``--app`` / ``RXFLOW_APP``), matched by the run's workflow id; and a run's tree."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import attrs

from ..graph import WorkflowGraph, entry_steps
from ..run import Run
from ..storage import RunRecord, Storage
from ..workflow import Workflow
from .exits import UsageProblem
from .loading import find_in_registry, load_registry, load_workflow
from .stores import find_run
from .tree import RunTree

__all__ = ["StoredRun", "durability_option", "open_stored_run", "tree_for", "workflow_for_run"]


def workflow_for_run(
    record: RunRecord, workflow: str | None, app: str | None, *, needed_for: str
) -> tuple[Workflow, str]:
    """The workflow of the stored run, and how to name it again on a command line."""
    if workflow is not None:
        found = load_workflow(workflow, "--workflow")
        if found.id != record.workflow_id:
            raise UsageProblem(
                f"--workflow {workflow!r} is workflow {found.id!r}, but run {record.run_id} "
                f"belongs to workflow {record.workflow_id!r}"
            )
        return found, f"--workflow {workflow}"
    registry, option = (app, "--app") if app is not None else (os.environ.get("RXFLOW_APP"), "")
    if not registry:
        raise UsageProblem(
            f"{needed_for} run {record.run_id} needs its workflow {record.workflow_id!r}: "
            "name it with --workflow MODULE:WORKFLOW, or a registry with --app MODULE:ATTR "
            "(or the RXFLOW_APP environment variable)"
        )
    option = option or "RXFLOW_APP"
    found = find_in_registry(load_registry(registry, option), record.workflow_id, option)
    return found, (f"--app {registry}" if option == "--app" else "")


@attrs.frozen
class StoredRun:
    """A stored run ready to go on from the command line: its record, the run on its
    workflow (using the store), how to name that workflow again, and its tree as stored."""

    record: RunRecord
    run: Run
    named: str
    tree: RunTree


async def open_stored_run(
    store: Storage,
    run_id: str,
    workflow: str | None,
    app: str | None,
    *,
    needed_for: str,
    check: Callable[[RunRecord], None] | None = None,
) -> StoredRun:
    """The stored run ``run_id`` of ``store`` with its workflow; ``check`` may refuse the
    record before anything is done with it (the same steps for resume, restart and replay)."""
    record = await find_run(store, run_id)
    found, named = workflow_for_run(record, workflow, app, needed_for=needed_for)
    if check is not None:
        check(record)
    found.use_storage(store)
    run = await found.get_run(record.run_id)
    assert run is not None  # found in this store a moment ago
    tree = tree_for(found)
    if record.snapshot is not None:
        tree.apply_snapshot(record.snapshot)
    return StoredRun(record, run, named, tree)


def tree_for(workflow: Workflow) -> RunTree:
    """The tree of a run of ``workflow``: its entries, with each step's retry budget."""
    tree = RunTree(workflow.graph.serialized, workflow.id)
    tree.set_retries(_retry_budgets(workflow.graph, ""))
    return tree


def _retry_budgets(graph: WorkflowGraph, prefix: str) -> dict[str, int]:
    budgets: dict[str, int] = {}
    for entry in graph.entries:
        for step in entry_steps(entry):
            if isinstance(step, WorkflowGraph):
                budgets.update(_retry_budgets(step, f"{prefix}{step.id}."))
                continue
            retries = step.retries if step.retries is not None else graph.retry_config.attempts
            if retries:
                budgets[prefix + step.id] = retries
    return budgets


def durability_option(method: Callable[..., Any], value: str | None) -> dict[str, Any]:
    """``{"durability": value}`` for a run method that takes it; a usage error when this
    rxflow's runs have no checkpoint modes."""
    if value is None:
        return {}
    if "durability" not in inspect.signature(method).parameters:
        raise UsageProblem(
            f"--durability {value}: this version of rxflow does not support checkpoint modes "
            "(its runs take no durability setting); leave the option out"
        )
    return {"durability": value}
