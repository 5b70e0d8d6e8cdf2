"""Drawing a ``RunTree`` with Rich: the live view's frame, a stored run, a workflow's graph."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .tree import Node, RunTree, now_ms

__all__ = ["SYMBOLS", "format_ms", "frame", "graph_tree", "preview", "stored_tree"]

SYMBOLS: dict[str, tuple[str, str]] = {
    "pending": ("○", "dim"),
    "running": ("▶", "cyan"),
    "waiting": ("◷", "cyan"),
    "success": ("✓", "green"),
    "bailed": ("↩", "green"),
    "failed": ("✗", "red"),
    "tripwire": ("⚠", "magenta"),
    "suspended": ("⏸", "yellow"),
    "canceled": ("⊘", "yellow"),
    "skipped": ("–", "dim"),
}
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_KIND_WORDS = {"mapping": "map", "sleep": "sleep", "sleepUntil": "sleep", "loop": "", "step": ""}


def format_ms(ms: int | float | None) -> str:
    """A duration for people: ``12 ms``, ``1.2 s``, ``3m 04s``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def preview(value: Any, width: int = 60) -> str:
    """A value as one short line of JSON."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _symbol(status: str, spin: int | None) -> Text:
    char, style = SYMBOLS.get(status, ("?", ""))
    if status == "running" and spin is not None:
        char = _SPINNER[spin % len(_SPINNER)]
    return Text(char, style=style)


def _label(tree: RunTree, node: Node, now: int, spin: int | None) -> RenderableType:
    status = tree.status_of(node)
    text = Text.assemble(_symbol(status, spin), " ")
    word = _KIND_WORDS.get(node.kind, node.kind)
    if node.kind in ("parallel", "conditional"):
        text.append(node.name, style="bold")
    else:
        text.append(node.name, style="bold" if status == "running" else "")
        details = [d for d in (word, node.detail) if d]
        if details:
            text.append(f" ({', '.join(details)})", style="dim")
    if node.iteration:
        text.append(f"  iteration {node.iteration}", style="cyan")
    duration = node.duration_ms(now)
    if duration is not None and node.kind not in ("parallel", "conditional"):
        text.append(f"  {format_ms(duration)}", style="dim")
    if node.retried:
        of = f"/{node.retries}" if node.retries and node.kind != "foreach" else ""
        text.append(f"  retries {node.retried}{of}", style="yellow")
    if status in ("failed", "tripwire") and node.error:
        text.append(f"  {_error_line(node.error)}", style="red")
    if node.kind == "foreach" and node.total is not None:
        return _with_bar(text, node, now, status)
    return text


def _with_bar(label: Text, node: Node, now: int, status: str) -> RenderableType:
    total = node.total or 0
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        label,
        _bar(node.completed, total),
        Text(f"{node.completed}/{total}"),
        Text(_rate_and_eta(node, now) if status == "running" else "", style="dim"),
        Text(f"{node.failures} failed", style="red") if node.failures else Text(""),
    )
    return grid


def _bar(completed: int, total: int, width: int = 24) -> Text:
    """A bar that reads without colour too: heavy for what is done, light for the rest."""
    filled = width * completed // total if total else width
    return Text.assemble(("━" * filled, "green"), ("─" * (width - filled), "dim"))


def _rate_and_eta(node: Node, now: int) -> str:
    elapsed = (now - node.started_at) / 1000 if node.started_at is not None else 0
    if elapsed <= 0 or node.completed == 0 or node.total is None:
        return ""
    rate = node.completed / elapsed
    left = (node.total - node.completed) / rate
    minutes, seconds = divmod(int(left), 60)
    return f"{rate:,.1f}/s  ETA {minutes}:{seconds:02d}"


def _error_line(error: Any) -> str:
    if isinstance(error, dict):
        name, message = error.get("name"), error.get("message")
        return f"{name}: {message}" if name else str(message)
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def _branch(
    tree: RunTree, parent: Tree, nodes: list[Node], now: int, spin: int | None, details: bool
) -> None:
    for node in nodes:
        branch = parent.add(_label(tree, node, now, spin))
        if node.status == "running" and node.writes:
            for written in node.writes:
                branch.add(
                    Text(
                        f"› {written if isinstance(written, str) else preview(written)}",
                        style="dim",
                    )
                )
        if details:
            _details(branch, node)
        _branch(tree, branch, node.children, now, spin, details)


def _details(branch: Tree, node: Node) -> None:
    if node.status == "pending" or node.kind in ("parallel", "conditional"):
        return
    if node.payload is not None:
        branch.add(Text(f"input   {preview(node.payload)}", style="dim"))
    if node.output is not None:
        branch.add(Text(f"output  {preview(node.output)}", style="dim"))
    if node.status == "suspended":
        branch.add(Text(f"suspend payload  {preview(node.suspend_payload)}", style="yellow"))


def _header(tree: RunTree, now: int, spin: int | None) -> Text:
    status = tree.status
    header = Text.assemble(_symbol(status, spin), " ", (tree.workflow_id or "workflow", "bold"))
    if tree.run_id:
        header.append(f"  run {tree.run_id}", style="dim")
    header.append(f"  {status}", style=SYMBOLS.get(status, ("", ""))[1])
    if tree.started_at is not None:
        end = tree.ended_at if tree.ended_at is not None else now
        header.append(f"  {format_ms(end - tree.started_at)}", style="dim")
    return header


def frame(tree: RunTree, spin: int | None = None) -> RenderableType:
    """The live view now: the run's header, its tree, and the notes (``canceling...``)."""
    now = now_ms()
    root = Tree(_header(tree, now, spin), guide_style="dim")
    _branch(tree, root, tree.roots, now, spin, details=False)
    if not tree.notes:
        return root
    return Group(root, *(Text(note, style="yellow") for note in tree.notes))


def stored_tree(tree: RunTree, details: bool = True) -> RenderableType:
    """A stored run's tree, with input and output previews when ``details``."""
    now = now_ms()
    root = Tree(_header(tree, now, None), guide_style="dim")
    _branch(tree, root, tree.roots, now, None, details)
    return root


def graph_tree(tree: RunTree) -> Tree:
    """A workflow's graph: its entries, without statuses."""
    root = Tree(Text(f"workflow {tree.workflow_id}", style="bold"))

    def add(parent: Tree, nodes: list[Node]) -> None:
        for node in nodes:
            text = Text(node.name, style="bold" if node.children else "")
            details = [d for d in (_KIND_WORDS.get(node.kind, node.kind), node.detail) if d]
            if details and node.kind not in ("parallel", "conditional"):
                text.append(f" ({', '.join(details)})", style="dim")
            if node.retries:
                text.append(f" retries {node.retries}", style="dim")
            add(parent.add(text), node.children)

    add(root, tree.roots)
    return root
