"""Each entry's operator form means what the driver does: piping a program's entries over a fresh
execution gives the status, value, step results and events that driving the program gives."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import reactivex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxflow import RequestContext, StepContext, Workflow, create_step, create_workflow
from rxflow.engine.state import ExecutionState, RunScope
from rxflow.step import Step

# -- generated workflows ---------------------------------------------------------------------------
# A spec is a list of entries; an entry is a tuple naming its kind, and a nested workflow's entry
# holds a spec of its own. Step bodies are deterministic: a kind of body per step.

BODIES = ["ok", "ok", "yield", "fail", "suspend", "bail"]
body = st.sampled_from(BODIES)
plain_entry = st.one_of(
    st.tuples(st.just("then"), body),
    st.tuples(st.just("parallel"), st.lists(body, min_size=1, max_size=3)),
    st.tuples(st.just("branch"), st.lists(st.tuples(st.booleans(), body), min_size=1, max_size=3)),
    st.tuples(st.sampled_from(["dowhile", "dountil"]), body, st.integers(1, 3)),
    st.tuples(st.just("foreach"), body, st.integers(0, 3), st.integers(1, 3)),
    st.tuples(st.just("map"), st.integers(0, 2)),
    st.tuples(st.just("sleep")),
)
entry = st.recursive(
    plain_entry,
    lambda inner: st.tuples(st.just("nested"), st.lists(inner, min_size=1, max_size=3)),
    max_leaves=6,
)
spec = st.lists(entry, min_size=1, max_size=4)


def number(value: Any) -> int:
    """Any value flowing between entries, read as a number (dicts and lists: their sum)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return sum(number(v) for v in value.values())
    if isinstance(value, list):
        return sum(number(v) for v in value)
    return 0


def make_step(kind: str, ids: itertools.count[int]) -> Step:
    step_id = f"s{next(ids)}"

    async def execute(ctx: StepContext) -> Any:
        n = number(ctx.input_data)
        if kind == "yield":
            await asyncio.sleep(0)
        elif kind == "fail":
            raise ValueError(f"{step_id} failed on {n}")
        elif kind == "suspend":
            return await ctx.suspend({"step": step_id, "on": n})
        elif kind == "bail":
            return ctx.bail(n * 10)
        return n + 1

    return create_step(id=step_id, execute=execute)


def build(entries: list[Any], ids: itertools.count[int]) -> Workflow:
    wf = create_workflow(id=f"w{next(ids)}")
    for kind, *args in entries:
        if kind == "then":
            wf = wf.then(make_step(args[0], ids))
        elif kind == "parallel":
            wf = wf.parallel([make_step(k, ids) for k in args[0]])
        elif kind == "branch":
            wf = wf.branch(
                [((lambda ctx, taken=taken: taken), make_step(k, ids)) for taken, k in args[0]]
            )
        elif kind == "dowhile":
            times = args[1]
            wf = wf.dowhile(make_step(args[0], ids), lambda ctx, t=times: ctx.iteration_count < t)
        elif kind == "dountil":
            times = args[1]
            wf = wf.dountil(make_step(args[0], ids), lambda ctx, t=times: ctx.iteration_count >= t)
        elif kind == "foreach":
            size, concurrency = args[1], args[2]
            wf = wf.map(lambda ctx, n=size: [number(ctx.input_data) + i for i in range(n)])
            wf = wf.foreach(make_step(args[0], ids), concurrency=concurrency)
        elif kind == "map":
            wf = wf.map(lambda ctx, k=args[0]: number(ctx.input_data) * k)
        elif kind == "sleep":
            wf = wf.sleep(0)
        else:
            wf = wf.then(build(args[0], ids))
    return wf.commit()


# -- running both forms ----------------------------------------------------------------------------


def execution(wf: Workflow, events: list[Any]) -> ExecutionState:
    scope = RunScope(
        run_id="run",
        workflow_id=wf.id,
        resource_id=None,
        emit=events.append,
        request_context=RequestContext(),
        loop=asyncio.get_running_loop(),
        on_abort_request=lambda: None,
    )
    return ExecutionState(scope=scope, program=wf.program, run_id="run", input=1)


def outcome(ex: ExecutionState, events: list[Any]) -> dict[str, Any]:
    """What must match: everything but timestamps and ids made per run."""
    return {
        "status": ex.status,
        "value": ex.value,
        "error": repr(ex.error),
        "steps": {
            step_id: (r.status, r.payload, r.output, repr(r.error), r.suspend_payload)
            for step_id, r in ex.step_results.items()
        },
        "path": ex.execution_path,
        "suspended": ex.suspended,
        "entry": ex.entry_index,
        "events": [(e.type, getattr(getattr(e, "payload", None), "id", None)) for e in events],
    }


async def driven(wf: Workflow) -> dict[str, Any]:
    events: list[Any] = []
    ex = execution(wf, events)
    await wf.program.drive(ex)
    return outcome(ex, events)


async def piped(wf: Workflow) -> dict[str, Any]:
    events: list[Any] = []
    ex = execution(wf, events)
    done: asyncio.Future[list[ExecutionState]] = asyncio.get_running_loop().create_future()
    out: list[ExecutionState] = []
    reactivex.of(ex).pipe(*wf.program.entries).subscribe(
        out.append, done.set_exception, lambda: done.set_result(out)
    )
    assert await asyncio.wait_for(done, 5) == [ex]
    return outcome(ex, events)


async def both(entries: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    wf = build(entries, itertools.count())
    return await driven(wf), await piped(wf)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec)
def test_piped_entries_mean_what_the_driver_does(entries: list[Any]) -> None:
    by_driver, by_operators = asyncio.run(both(entries))
    assert by_operators == by_driver


def test_the_generated_workflows_reach_every_ending() -> None:
    """The generator is not idle: the example specs end in every status a run can reach."""
    cases: dict[str, list[Any]] = {
        "success": [("then", "ok"), ("foreach", "yield", 3, 2)],
        "failed": [("parallel", ["ok", "fail"]), ("then", "ok")],
        "suspended": [("nested", [("then", "ok"), ("then", "suspend")]), ("sleep",)],
        "bailed": [("dowhile", "bail", 2), ("then", "ok")],
    }
    for status, entries in cases.items():
        by_driver, by_operators = asyncio.run(both(entries))
        assert by_operators == by_driver
        assert by_driver["status"] == status
