"""Floor (a), raw asyncio: the cheapest way to get the same streamed events.

Plain async functions are awaited in sequence by one coroutine; every event is
a small Mastra-shaped dict put on an asyncio.Queue and read by the consumer.

W2 variants:
  asyncio     - 16 worker coroutines pull items from a shared iterator (the floor)
  asyncio-sem - one task per item gated by asyncio.Semaphore(16) + gather
                (the common idiom; shows what a task per item costs)
"""

from __future__ import annotations

import asyncio
import itertools

from common import End, chain_body, item_body

_ids = itertools.count()


def is_progress(ev) -> bool:
    return ev["type"] == "workflow-step-progress"


async def _drain(q: asyncio.Queue, probe) -> None:
    while True:
        ev = await q.get()
        if type(ev) is End:
            return
        probe(ev)


# ---- chain (W1, W1s, W3, W4) -----------------------------------------------
def build_chain(n: int, variant: str, yielding: bool = False):
    return [chain_body(yielding)] * n


async def _drive_chain(steps, x, put, run_id):
    try:
        put({"type": "workflow-start", "runId": run_id, "payload": x})
        for i, f in enumerate(steps):
            put({"type": "workflow-step-start", "runId": run_id, "stepId": i, "payload": x})
            x = await f(x)
            put({"type": "workflow-step-result", "runId": run_id, "stepId": i, "output": x})
        put({"type": "workflow-finish", "runId": run_id, "result": x})
        return x
    finally:
        put(End())


async def run_chain(steps, x, probe, variant):
    q: asyncio.Queue = asyncio.Queue()
    probe.start()
    task = asyncio.ensure_future(_drive_chain(steps, x, q.put_nowait, next(_ids)))
    await _drain(q, probe)
    return await task


# ---- fan-out (W2) -----------------------------------------------------------
def build_fanout(conc: int, variant: str):
    return None


async def _drive_fanout(n, conc, put, run_id, per_item_tasks):
    try:
        put({"type": "workflow-start", "runId": run_id, "payload": n})
        put({"type": "workflow-step-start", "runId": run_id, "stepId": "work"})
        results = [None] * n
        done = 0

        async def one(i):
            nonlocal done
            v = await item_body(i)
            results[i] = v
            done += 1
            put(
                {
                    "type": "workflow-step-progress",
                    "runId": run_id,
                    "stepId": "work",
                    "index": i,
                    "output": v,
                    "completed": done,
                    "total": n,
                }
            )

        if per_item_tasks:
            sem = asyncio.Semaphore(conc)

            async def gated(i):
                async with sem:
                    await one(i)

            await asyncio.gather(*[gated(i) for i in range(n)])
        else:
            it = iter(range(n))

            async def worker():
                for i in it:
                    await one(i)

            await asyncio.gather(*[worker() for _ in range(conc)])
        put({"type": "workflow-step-result", "runId": run_id, "stepId": "work"})
        put({"type": "workflow-finish", "runId": run_id, "result": results})
        return results
    finally:
        put(End())


async def run_fanout(obj, n, conc, probe, variant):
    q: asyncio.Queue = asyncio.Queue()
    probe.start()
    task = asyncio.ensure_future(
        _drive_fanout(n, conc, q.put_nowait, next(_ids), per_item_tasks=variant == "asyncio-sem")
    )
    await _drain(q, probe)
    return await task
