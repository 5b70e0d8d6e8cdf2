"""The live view of a run for your own programs: ``await rxflow.progress.show(output)`` (needs
the ``cli`` extra: Rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from .cli.live import LiveView, PlainView, View, follow
from .cli.tree import RunTree
from .output import WorkflowRunOutput
from .results import WorkflowResult

__all__ = ["show"]


async def show(
    output: WorkflowRunOutput,
    *,
    workflow: Any = None,
    run: Any = None,
    console: Console | None = None,
    refresh_per_second: float = 8,
    transient: bool = False,
) -> WorkflowResult:
    """Show ``output`` (from ``run.stream()`` or ``run.resume_stream()``) until it ends and
    return its ``WorkflowResult``.

    On a terminal it draws the step tree, a progress bar per running ``foreach`` and the writer
    output of running steps, redrawn a few times a second; anywhere else (a pipe, a log file, a
    notebook without ipywidgets) it prints one plain line per step change.

    :param workflow: the run's workflow: its steps are listed before they start.
    :param run: the run itself: its steps' retries are counted too (a retry has no event).
    :param console: where to draw (a ``rich.console.Console``; by default one on stderr).
    :param refresh_per_second: at most this many redraws a second, however many events come.
    :param transient: erase the live view when the run ends.
    """
    if workflow is not None:
        from .cli.workflows import tree_for

        tree = tree_for(workflow)
    else:
        tree = RunTree(None, output.workflow_id)
    console = console or Console(stderr=True)
    view: View
    if console.is_terminal or (console.is_jupyter and _has_widgets()):
        view = LiveView(tree, console, refresh_per_second=refresh_per_second, transient=transient)
    else:
        view = PlainView(tree, console.file)
    return await follow(output, view, run=run)


def _has_widgets() -> bool:
    """Rich draws live in a notebook through ipywidgets; without them, plain lines."""
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None
