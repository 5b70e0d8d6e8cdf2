"""LlamaIndex Workflows peer (`li-internal`; package llama-index-workflows,
import `workflows`), streamed with handler.stream_events(expose_internal=True):
framework StepStateChanged events (RUNNING / NOT_RUNNING) per step, then the StopEvent.

Routing is by event type, so a chain of n steps needs n Event classes: they are
generated with type() and the free-function steps registered with
@step(workflow=W). Fan-out: a step returning list[Item] fans out, one taking
list[Done] collects, @step(num_workers=conc) bounds concurrency. The
"progress" event of an item is its `work` step going NOT_RUNNING.
"""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StepState, StepStateChanged, StopEvent

from common import chain_body, item_body


def is_progress(ev) -> bool:
    return (
        type(ev) is StepStateChanged
        and ev.name == "work"
        and ev.step_state is StepState.NOT_RUNNING
    )


async def _stream(handler, probe):
    async for ev in handler.stream_events(expose_internal=True):
        probe(ev)
    return await handler


# ---- chain (W1, W1s, W3, W4) -----------------------------------------------
def _chain_step(body, In, Out):
    async def f(ctx: Context, ev) -> Event:
        v = await body(ev.x)
        return StopEvent(result=v) if Out is StopEvent else Out(x=v)

    f.__annotations__ = {"ctx": Context, "ev": In, "return": Out}
    return f


def build_chain(n: int, variant: str, yielding: bool = False):
    body = chain_body(yielding)
    evs = [type(f"E{i}", (Event,), {"__annotations__": {"x": int}}) for i in range(1, n)]
    W = type(f"Chain{n}", (Workflow,), {})
    for i in range(n):
        f = _chain_step(
            body, StartEvent if i == 0 else evs[i - 1], StopEvent if i == n - 1 else evs[i]
        )
        f.__name__ = f.__qualname__ = f"s{i}"
        step(workflow=W)(f)
    return W(timeout=None)  # the default timeout is 45 s


async def run_chain(wf, x, probe, variant):
    probe.start()
    return await _stream(wf.run(x=x), probe)


# ---- fan-out (W2) -----------------------------------------------------------
class Item(Event):
    i: int


class Done(Event):
    v: int


def build_fanout(conc: int, variant: str):
    class FanOut(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Item]:
            return [Item(i=i) for i in range(ev.n)]

        @step(num_workers=conc)
        async def work(self, ev: Item) -> Done:
            return Done(v=await item_body(ev.i))

        @step
        async def gather(self, evs: list[Done]) -> StopEvent:
            return StopEvent(result=[e.v for e in evs])

    return FanOut(timeout=None)


async def run_fanout(wf, n, conc, probe, variant):
    probe.start()
    return await _stream(wf.run(n=n), probe)
