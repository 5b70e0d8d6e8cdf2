"""LangGraph in the durability benchmark: the same chain as a StateGraph of one async node per
step, without a checkpointer or with its SQLite (AsyncSqliteSaver) or PostgreSQL
(AsyncPostgresSaver) checkpointer, streamed with `astream(stream_mode="tasks",
durability=mode)`. Every run is a new thread id, as every rxflow run is a new run.

The SQLite connection gets `synchronous=NORMAL`, rxflow's setting (both use WAL), so the two
pay the same price per commit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from durability_common import next_output


class S(TypedDict):
    x: dict


async def _node(state: S) -> dict:
    return {"x": next_output(state["x"])}


def _graph(steps: int) -> StateGraph:
    g = StateGraph(S)
    prev = START
    for i in range(steps):
        g.add_node(f"s{i}", _node)
        g.add_edge(prev, f"s{i}")
        prev = f"s{i}"
    g.add_edge(prev, END)
    return g


@asynccontextmanager
async def _saver(db: str, where: str, dsn: str | None) -> AsyncIterator[Any]:
    if db == "none":
        yield None
    elif db == "sqlite":
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with aiosqlite.connect(os.path.join(where, "langgraph.db")) as conn:
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            yield saver
    elif db == "pg":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(dsn) as saver:
            await saver.setup()
            yield saver
    else:
        raise ValueError(f"unknown database {db!r}")


@asynccontextmanager
async def chain(
    steps: int, db: str, mode: str | None, where: str, dsn: str | None = None
) -> AsyncIterator[Callable[[dict[str, Any], Any], Awaitable[Any]]]:
    """Yield `run(input, probe)`: one streamed run of the chain, returning its final state's x.
    `db` "none" runs without a checkpointer (then `mode` must be None)."""
    async with _saver(db, where, dsn) as saver:
        graph = _graph(steps).compile(checkpointer=saver)
        extra = {"durability": mode} if mode is not None else {}

        async def run(input_data: dict[str, Any], probe: Any) -> Any:
            # The default recursion_limit (25) aborts a chain longer than 25 nodes.
            config = {"recursion_limit": steps + 10}
            if saver is not None:
                config["configurable"] = {"thread_id": uuid.uuid4().hex}
            last = None
            probe.start()
            async for ev in graph.astream({"x": input_data}, config, stream_mode="tasks", **extra):
                probe(ev)
                if "result" in ev:
                    last = ev["result"]["x"]
            return last

        yield run
