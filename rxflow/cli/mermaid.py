"""A workflow's serialized graph as a Mermaid flowchart (``rxflow graph --mermaid``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["mermaid"]


_RESERVED = frozenset({"end", "graph", "subgraph", "flowchart", "style", "class", "click"})


class _Chart:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._ids: set[str] = set()

    def node_id(self, key: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", key) or "node"
        if base.lower() in _RESERVED:  # words Mermaid reads as syntax
            base += "_"
        node_id, n = base, 1
        while node_id in self._ids:
            n += 1
            node_id = f"{base}_{n}"
        self._ids.add(node_id)
        return node_id

    def add(self, indent: str, line: str) -> None:
        self.lines.append(indent + line)

    def edges(self, indent: str, tails: list[str], head: str, label: str = "") -> None:
        arrow = f"-->|{label}|" if label else "-->"
        for tail in tails:
            self.add(indent, f"{tail} {arrow} {head}")


def mermaid(graph: list[dict[str, Any]], workflow_id: str) -> str:
    """``flowchart TD`` text: one node per step, blocks fanning out and in, loops as a labelled
    edge back to their step, nested workflows as subgraphs."""
    chart = _Chart()
    chart.add("", "flowchart TD")
    start, end = chart.node_id("start"), chart.node_id("finish")
    chart.add("  ", f'{start}(["{_text(workflow_id)}"])')
    tails = _entries(chart, graph, [start], "", "  ")
    chart.add("  ", f"{end}([end])")
    chart.edges("  ", tails, end)
    return "\n".join(chart.lines) + "\n"


def _entries(
    chart: _Chart, graph: list[dict[str, Any]], tails: list[str], prefix: str, indent: str
) -> list[str]:
    for entry in graph:
        tails = _entry(chart, entry, tails, prefix, indent)
    return tails


def _entry(
    chart: _Chart, entry: Mapping[str, Any], tails: list[str], prefix: str, indent: str
) -> list[str]:
    kind = entry.get("type", "step")
    if kind in ("parallel", "conditional"):
        conditions = entry.get("serializedConditions") or []
        heads: list[str] = []
        for index, item in enumerate(entry.get("steps") or []):
            label = ""
            if kind == "conditional":
                fn = conditions[index].get("fn", "") if index < len(conditions) else ""
                label = _text(fn) if fn and not fn.startswith("<") else "when"
            heads += _step(chart, item.get("step", {}), tails, prefix, indent, label, "step")
        return heads
    if kind in ("sleep", "sleepUntil"):
        node = chart.node_id(prefix + entry["id"])
        when = entry.get("duration") if kind == "sleep" else entry.get("date")
        what = f"sleep {when} ms" if kind == "sleep" else f"sleep until {when}"
        chart.add(indent, f'{node}(["{_text(entry["id"])}: {_text(what if when else "sleep")}"])')
        chart.edges(indent, tails, node)
        return [node]
    heads = _step(chart, entry.get("step", {}), tails, prefix, indent, "", kind)
    if kind == "loop":
        chart.edges(indent, heads, heads[0], _text(entry.get("loopType", "loop")))
    return heads


def _step(
    chart: _Chart,
    info: Mapping[str, Any],
    tails: list[str],
    prefix: str,
    indent: str,
    label: str,
    kind: str,
) -> list[str]:
    step_id = str(info.get("id", "?"))
    node = chart.node_id(prefix + step_id)
    if info.get("component") == "WORKFLOW":
        chart.add(indent, f'subgraph {node}["{_text(step_id)} (workflow)"]')
        inner_start = chart.node_id(f"{prefix}{step_id}.start")
        chart.add(indent + "  ", f"{inner_start}(( ))")
        inner = info.get("serializedStepFlow") or []
        _entries(chart, inner, [inner_start], f"{prefix}{step_id}.", indent + "  ")
        chart.add(indent, "end")
        chart.edges(indent, tails, node, label)
        return [node]
    shapes = {
        "foreach": f'{node}[["{_text(step_id)} (foreach)"]]',
        "mapping": f'{node}[/"{_text(step_id)}"/]',
    }
    chart.add(indent, shapes.get(kind, f'{node}["{_text(step_id)}"]'))
    chart.edges(indent, tails, node, label)
    return [node]


def _text(text: str) -> str:
    """Text safe inside a Mermaid label (quotes and angle brackets as entities)."""
    return (
        str(text)
        .replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "&#124;")
    )
