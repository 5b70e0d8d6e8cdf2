"""``rxflow graph``: a workflow's steps as a tree, or as Mermaid text for docs."""

from __future__ import annotations

import click

from .app import cli, outputs_for
from .exits import ExitCode
from .loading import load_workflow
from .mermaid import mermaid
from .render import graph_tree
from .workflows import tree_for

__all__: list[str] = []


@cli.command("graph")
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.option("--mermaid", "as_mermaid", is_flag=True, help="Mermaid flowchart text instead.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def graph_command(target: str, as_mermaid: bool, debug: bool) -> int:
    """Show the steps of MODULE:WORKFLOW: blocks, loops, foreach, nested workflows."""
    workflow = load_workflow(target)
    outputs = outputs_for()
    if as_mermaid:
        outputs.out.file.write(mermaid(workflow.graph.serialized, workflow.id))
    else:
        outputs.out.print(graph_tree(tree_for(workflow)))
    return ExitCode.SUCCESS
