"""LangGraph peer (`lg-tasks`): StateGraph streamed with astream(stream_mode="tasks"),
which yields a task-start and a task-result event per node.

Chains: one async node per step and linear edges. Fan-out: Send from a
conditional edge, results gathered by an `operator.add` reducer, concurrency
bounded by config["max_concurrency"]. LangGraph has no completed/total progress
event; the "progress" event of an item is its task result.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from common import chain_body, item_body


def is_progress(ev) -> bool:
    return ev.get("name") == "work" and "result" in ev


# ---- chain (W1, W1s, W3, W4) -----------------------------------------------
class S(TypedDict):
    x: int


def _node(body):
    async def node(state: S) -> dict:
        return {"x": await body(state["x"])}

    return node


def build_chain(n: int, variant: str, yielding: bool = False):
    g = StateGraph(S)
    node = _node(chain_body(yielding))
    prev = START
    for i in range(n):
        g.add_node(f"s{i}", node)
        g.add_edge(prev, f"s{i}")
        prev = f"s{i}"
    g.add_edge(prev, END)
    # The default recursion_limit (25) aborts a chain longer than 25 nodes.
    return g.compile(), {"recursion_limit": n + 10}


async def run_chain(obj, x, probe, variant):
    g, config = obj
    result = None
    probe.start()
    async for ev in g.astream({"x": x}, config, stream_mode="tasks"):
        probe(ev)
        if "result" in ev:
            result = ev["result"]["x"]
    return result


# ---- fan-out (W2) -----------------------------------------------------------
class FS(TypedDict):
    n: int
    results: Annotated[list, operator.add]


class Item(TypedDict):
    item: int


async def _work(s: Item) -> dict:
    return {"results": [await item_body(s["item"])]}


def _fan(s: FS):
    return [Send("work", {"item": i}) for i in range(s["n"])]


def build_fanout(conc: int, variant: str):
    g = StateGraph(FS)
    g.add_node("work", _work)
    g.add_conditional_edges(START, _fan, ["work"])
    g.add_edge("work", END)
    return g.compile()


async def run_fanout(g, n, conc, probe, variant):
    results = []
    probe.start()
    async for ev in g.astream(
        {"n": n, "results": []}, {"max_concurrency": conc}, stream_mode="tasks"
    ):
        probe(ev)
        if ev.get("name") == "work" and "result" in ev:
            results.extend(ev["result"]["results"])
    return results
