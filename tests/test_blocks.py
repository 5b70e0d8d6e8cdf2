"""parallel, branch, map and nested workflows: event order, outputs and failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import collect, kinds

from rxflow import (
    ConditionContext,
    RequestContext,
    StepContext,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)


def const(step_id: str, value: Any) -> Any:
    async def body(ctx: StepContext) -> Any:
        return value

    return create_step(id=step_id, execute=body)


def echo(step_id: str) -> Any:
    async def body(ctx: StepContext) -> Any:
        return ctx.input_data

    return create_step(id=step_id, execute=body)


def gated(step_id: str, gate: asyncio.Event, value: Any) -> Any:
    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return value

    return create_step(id=step_id, execute=body)


def boom(step_id: str, message: str = "boom") -> Any:
    async def body(ctx: StepContext) -> Any:
        raise RuntimeError(message)

    return create_step(id=step_id, execute=body)


# -- parallel --------------------------------------------------------------------------------


async def test_parallel_starts_first_then_results_in_completion_order() -> None:
    gate_slow = asyncio.Event()
    fast_done = asyncio.Event()

    async def fast_body(ctx: StepContext) -> dict[str, int]:
        fast_done.set()
        return {"f": ctx.input_data["x"]}

    async def slow_body(ctx: StepContext) -> dict[str, int]:
        await fast_done.wait()
        await gate_slow.wait()
        return {"s": 1}

    async def join_body(ctx: StepContext) -> Any:
        return ctx.input_data

    wf = (
        create_workflow(id="par")
        .then(const("prep", {"x": 1}))
        .parallel(
            [create_step(id="slow", execute=slow_body), create_step(id="fast", execute=fast_body)]
        )
        .then(create_step(id="join", execute=join_body))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await fast_done.wait()
    gate_slow.set()
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "prep"),
        ("workflow-step-result", "prep"),
        ("workflow-step-start", "slow"),
        ("workflow-step-start", "fast"),
        ("workflow-step-result", "fast"),
        ("workflow-step-result", "slow"),
        ("workflow-step-start", "join"),
        ("workflow-step-result", "join"),
        ("workflow-finish", None),
    ]
    assert chunks[3].payload.payload == {"x": 1} == chunks[4].payload.payload
    assert chunks[7].payload.payload == {"slow": {"s": 1}, "fast": {"f": 1}}
    result = await output.result
    assert result.result == {"slow": {"s": 1}, "fast": {"f": 1}}


async def test_parallel_starts_precede_results_even_without_awaits() -> None:
    wf = (
        create_workflow(id="sync-par")
        .parallel([const("a", 1), const("b", 2), const("c", 3)])
        .commit()
    )
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=0))
    types = [c.type for c in chunks[1:-1]]
    assert types[:3] == ["workflow-step-start"] * 3
    assert [c.payload.id for c in chunks[1:4]] == ["a", "b", "c"]
    assert types[3:] == ["workflow-step-result"] * 3


async def test_parallel_failure_fails_block_after_all_siblings_finish() -> None:
    wf = (
        create_workflow(id="par-fail")
        .parallel([boom("bad"), const("good", 1)])
        .then(const("never", 0))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=0)
    chunks = await collect(output)
    ids = [(c.type, getattr(c.payload, "id", None)) for c in chunks]
    assert ("workflow-step-start", "never") not in ids
    results = {c.payload.id: c.payload.status for c in chunks if c.type == "workflow-step-result"}
    assert results == {"bad": "failed", "good": "success"}
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "boom"
    assert chunks[-1].to_dict()["payload"]["metadata"] == {
        "error": {"message": "boom", "name": "RuntimeError"},
        "errorMessage": "boom",
    }
    assert output.status == "failed"


async def test_parallel_allow_failure_gives_none_slot() -> None:
    wf = (
        create_workflow(id="par-allow")
        .parallel([boom("bad"), const("good", 1)], allow_failure=True)
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data=0)
    assert result.status == "success"
    assert result.result == {"bad": None, "good": 1}
    assert result.steps["bad"].status == "failed"


# -- branch ----------------------------------------------------------------------------------


async def test_branch_runs_every_true_condition() -> None:
    seen: list[tuple[Any, Any]] = []

    def is_big(ctx: ConditionContext) -> bool:
        seen.append((ctx.input_data, ctx.iteration_count))
        return bool(ctx.input_data > 10)

    async def is_even(ctx: ConditionContext) -> bool:
        return bool(ctx.input_data % 2 == 0)

    def never(ctx: ConditionContext) -> bool:
        return False

    wf = (
        create_workflow(id="br")
        .branch([(is_big, echo("big")), (is_even, echo("even")), (never, echo("nope"))])
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=12)
    chunks = await collect(output)
    assert kinds(chunks)[1:3] == [("workflow-step-start", "big"), ("workflow-step-start", "even")]
    assert {c.payload.id for c in chunks if c.type == "workflow-step-result"} == {"big", "even"}
    result = await output.result
    assert result.result == {"big": 12, "even": 12}
    assert "nope" not in result.steps
    assert seen == [(12, None)]


async def test_branch_none_true_gives_empty_output() -> None:
    wf = (
        create_workflow(id="br-none")
        .branch([(lambda ctx: False, echo("x"))])
        .then(echo("after"))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=1)
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "after"),
        ("workflow-step-result", "after"),
        ("workflow-finish", None),
    ]
    assert chunks[1].payload.payload == {}


async def test_branch_condition_that_raises_fails_the_block() -> None:
    def broken(ctx: ConditionContext) -> bool:
        raise ValueError("bad condition")

    wf = create_workflow(id="br-raise").branch([(broken, echo("x"))]).commit()
    result = await (await wf.create_run()).start(input_data=1)
    assert result.status == "failed"
    assert isinstance(result.error, ValueError) and str(result.error) == "bad condition"


# -- map -------------------------------------------------------------------------------------


async def test_map_function_and_default_ids() -> None:
    wf = (
        create_workflow(id="mp")
        .then(const("a", {"n": 2}))
        .map(lambda ctx: {"twice": ctx.input_data["n"] * 2})
        .map(lambda ctx: ctx.input_data["twice"] + 1)
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert kinds(chunks)[3:7] == [
        ("workflow-step-start", "mapping_mp_0"),
        ("workflow-step-result", "mapping_mp_0"),
        ("workflow-step-start", "mapping_mp_1"),
        ("workflow-step-result", "mapping_mp_1"),
    ]
    assert (await output.result).result == 5


async def test_map_dict_sources() -> None:
    a = const("a", {"user": {"name": "ada"}, "n": 1})
    wf = (
        create_workflow(id="mpd")
        .then(a)
        .then(const("b", 7))
        .map(
            {
                "name": {"step": a, "path": "user.name"},
                "whole": {"step": a, "path": "."},
                "fixed": {"value": 42},
                "city": {"init_data": True, "path": "city"},
                "uid": {"request_context_path": "user.id"},
            }
        )
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(
        input_data={"city": "Paris"}, request_context=RequestContext({"user": {"id": "u1"}})
    )
    assert result.result == {
        "name": "ada",
        "whole": {"user": {"name": "ada"}, "n": 1},
        "fixed": 42,
        "city": "Paris",
        "uid": "u1",
    }


def test_map_bad_spec_is_a_definition_error() -> None:
    with pytest.raises(WorkflowDefinitionError, match="map key 'x'"):
        create_workflow(id="bad").map({"x": {"nonsense": 1}})


# -- nested workflows ------------------------------------------------------------------------


async def test_nested_workflow_relays_events_with_prefixed_ids() -> None:
    async def inner_body(ctx: StepContext) -> int:
        await ctx.writer.write("inner says hi")
        return ctx.input_data + 1

    child = (
        create_workflow(id="child")
        .then(create_step(id="inner", execute=inner_body))
        .then(echo("inner2"))
        .commit()
    )
    parent = (
        create_workflow(id="parent").then(const("first", 1)).then(child).then(echo("last")).commit()
    )
    run = await parent.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "first"),
        ("workflow-step-result", "first"),
        ("workflow-step-start", "child"),
        ("workflow-step-start", "child.inner"),
        ("workflow-step-output", "inner"),
        ("workflow-step-result", "child.inner"),
        ("workflow-step-start", "child.inner2"),
        ("workflow-step-result", "child.inner2"),
        ("workflow-step-result", "child"),
        ("workflow-step-start", "last"),
        ("workflow-step-result", "last"),
        ("workflow-finish", None),
    ]
    assert chunks[4].payload.step_name == "child.inner"
    assert all(c.run_id == run.run_id for c in chunks)
    result = await output.result
    assert result.result == 2
    assert list(result.steps) == ["first", "child", "last"]


async def test_nested_failure_fails_parent_step() -> None:
    child = create_workflow(id="kid").then(boom("explode", "kid failed")).commit()
    parent = create_workflow(id="mom").then(child).commit()
    result = await (await parent.create_run()).start(input_data=1)
    assert result.status == "failed"
    assert str(result.error) == "kid failed"
    assert result.steps["kid"].status == "failed"


async def test_fifty_deep_nested_workflow() -> None:
    wf = create_workflow(id="level0").then(echo("leaf")).commit()
    for depth in range(1, 50):
        wf = create_workflow(id=f"level{depth}").then(wf).commit()
    run = await wf.create_run()
    output = run.stream(input_data="deep")
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success" and result.result == "deep"
    leaf = [c for c in chunks if c.type == "workflow-step-start"][-1]
    assert leaf.payload.id == ".".join(f"level{d}" for d in range(48, -1, -1)) + ".leaf"


async def test_nested_state_flows_back() -> None:
    async def setter(ctx: StepContext) -> int:
        ctx.set_state({"inner": ctx.state.get("outer", 0) + 1})
        return 0

    child = create_workflow(id="c").then(create_step(id="set", execute=setter)).commit()
    parent = create_workflow(id="p").then(child).commit()
    result = await (await parent.create_run()).start(input_data=0, initial_state={"outer": 41})
    assert result.state == {"outer": 41, "inner": 42}
