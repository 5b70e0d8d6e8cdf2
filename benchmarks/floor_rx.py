"""Floor (b), raw reactivex (`rx-bus`): what being "on top of Rx" costs at least.

Chains: a plain coroutine awaits the steps; a Subject is the event bus, bridged
to the async consumer by an asyncio.Queue.
Fan-out: rx.from_iterable(items) | ops.map(deferred from_future(task))
| ops.merge(max_concurrent=16); reactivex 6.1's flat_map has no concurrency bound.
"""

from __future__ import annotations

import asyncio
import itertools

import reactivex as rx
from reactivex import operators as ops
from reactivex.subject import Subject

from common import End, chain_body, item_body

_ids = itertools.count()


def is_progress(ev) -> bool:
    return ev["type"] == "workflow-step-progress"


def _bridge():
    """Subject -> asyncio.Queue bridge; returns (subject, queue)."""
    q: asyncio.Queue = asyncio.Queue()
    subj: Subject = Subject()
    subj.subscribe(
        on_next=q.put_nowait,
        on_error=lambda e: q.put_nowait(End(e)),
        on_completed=lambda: q.put_nowait(End()),
    )
    return subj, q


async def _drain(q: asyncio.Queue, probe) -> None:
    while True:
        ev = await q.get()
        if type(ev) is End:
            if ev.error is not None:
                raise ev.error
            return
        probe(ev)


# ---- chain (W1, W1s, W3, W4) -----------------------------------------------
def build_chain(n: int, variant: str, yielding: bool = False):
    return [chain_body(yielding)] * n


async def _drive_chain(steps, x, subj, run_id):
    emit = subj.on_next
    try:
        emit({"type": "workflow-start", "runId": run_id, "payload": x})
        for i, f in enumerate(steps):
            emit({"type": "workflow-step-start", "runId": run_id, "stepId": i, "payload": x})
            x = await f(x)
            emit({"type": "workflow-step-result", "runId": run_id, "stepId": i, "output": x})
        emit({"type": "workflow-finish", "runId": run_id, "result": x})
        subj.on_completed()
        return x
    except Exception as e:
        subj.on_error(e)
        raise


async def run_chain(steps, x, probe, variant):
    subj, q = _bridge()
    probe.start()
    task = asyncio.ensure_future(_drive_chain(steps, x, subj, next(_ids)))
    await _drain(q, probe)
    return await task


# ---- fan-out (W2) -----------------------------------------------------------
def build_fanout(conc: int, variant: str):
    return None


async def _pair(i):
    return i, await item_body(i)


async def run_fanout(obj, n, conc, probe, variant):
    subj, q = _bridge()
    run_id = next(_ids)
    loop = asyncio.get_running_loop()
    emit = subj.on_next
    results = [None] * n
    done = 0

    def item(i):
        return rx.defer(lambda _scheduler=None: rx.from_future(loop.create_task(_pair(i))))

    def on_result(pair):
        nonlocal done
        i, v = pair
        results[i] = v
        done += 1
        emit(
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

    def on_completed():
        emit({"type": "workflow-step-result", "runId": run_id, "stepId": "work"})
        emit({"type": "workflow-finish", "runId": run_id, "result": results})
        subj.on_completed()

    probe.start()
    emit({"type": "workflow-start", "runId": run_id, "payload": n})
    emit({"type": "workflow-step-start", "runId": run_id, "stepId": "work"})
    rx.from_iterable(range(n)).pipe(
        ops.map(item),
        ops.merge(max_concurrent=conc),
    ).subscribe(on_next=on_result, on_error=subj.on_error, on_completed=on_completed)
    await _drain(q, probe)
    return results
