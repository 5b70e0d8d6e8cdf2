"""parallel, branch, map and nested workflows: event order, outputs and failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _steps import add_one, const, inc
from conftest import collect, kinds, of, one, types

from rxflow import (
    ConditionContext,
    RequestContext,
    StepContext,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)


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


# --- parallel ---------------------------------------------------------------------------------


async def test_parallel_output_and_same_input() -> None:
    inputs: list[Any] = []

    def rec(sid: str, value: Any) -> Any:
        async def body(ctx: StepContext) -> Any:
            inputs.append(ctx.input_data)
            return value

        return create_step(id=sid, execute=body)

    wf = create_workflow(id="par").parallel([rec("b", "B"), rec("c", "C")]).commit()
    result = await (await wf.create_run()).start(input_data={"in": 1})
    assert result.status == "success"
    assert result.result == {"b": "B", "c": "C"}
    assert inputs == [{"in": 1}, {"in": 1}]


async def test_parallel_sibling_failure_does_not_cancel_sibling() -> None:
    gate = asyncio.Event()
    finished: list[str] = []

    async def slow(ctx: StepContext) -> Any:
        await gate.wait()
        finished.append("slow")
        return "slow-done"

    async def boom(ctx: StepContext) -> Any:
        gate.set()
        raise ValueError("sibling failed")

    wf = (
        create_workflow(id="parfail")
        .parallel([create_step(id="slow", execute=slow), create_step(id="boom", execute=boom)])
        .then(const("never", 0))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "sibling failed"
    assert finished == ["slow"]
    assert one(chunks, "workflow-step-result", "slow")["status"] == "success"
    assert one(chunks, "workflow-step-result", "boom")["status"] == "failed"
    assert "never" not in result.steps


async def test_parallel_allow_failure_failed_step_slot_is_none() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("x")

    wf = (
        create_workflow(id="allow")
        .parallel([const("ok", 1), create_step(id="boom", execute=boom)], allow_failure=True)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    assert result.result == {"ok": 1, "boom": None}


async def test_parallel_failure_wins_over_suspension() -> None:
    gate = asyncio.Event()

    async def ask(ctx: StepContext) -> Any:
        await gate.wait()
        return await ctx.suspend({})

    async def boom(ctx: StepContext) -> Any:
        gate.set()
        raise ValueError("x")

    wf = (
        create_workflow(id="failsusp")
        .parallel([create_step(id="ask", execute=ask), create_step(id="boom", execute=boom)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"


async def test_parallel_starts_all_before_any_result_even_without_awaits() -> None:
    async def a(ctx: StepContext) -> Any:
        return "a"

    async def b(ctx: StepContext) -> Any:
        return "b"

    async def c(ctx: StepContext) -> Any:
        return "c"

    wf = (
        create_workflow(id="order")
        .parallel(
            [
                create_step(id="a", execute=a),
                create_step(id="b", execute=b),
                create_step(id="c", execute=c),
            ]
        )
        .commit()
    )
    chunks = await collect((await wf.create_run()).stream(input_data=None))
    kinds = types(chunks)
    starts = [i for i, t in enumerate(kinds) if t == "workflow-step-start"]
    results = [i for i, t in enumerate(kinds) if t == "workflow-step-result"]
    assert len(starts) == 3 and len(results) == 3
    assert max(starts) < min(results)


async def test_parallel_results_in_completion_order() -> None:
    gate_a = asyncio.Event()

    async def a(ctx: StepContext) -> Any:
        await gate_a.wait()
        return "a"

    async def b(ctx: StepContext) -> Any:
        gate_a.set()
        return "b"

    wf = (
        create_workflow(id="compl")
        .parallel([create_step(id="a", execute=a), create_step(id="b", execute=b)])
        .commit()
    )
    chunks = await collect((await wf.create_run()).stream(input_data=None))
    result_ids = [p["id"] for p in of(chunks, "workflow-step-result")]
    assert result_ids == ["b", "a"]


# --- branch -----------------------------------------------------------------------------------


async def test_branch_starts_every_true_condition_before_any_result() -> None:
    async def async_true(ctx: ConditionContext) -> bool:
        return True

    wf = (
        create_workflow(id="br")
        .branch(
            [
                (lambda ctx: ctx.input_data > 0, const("pos", "P")),
                (async_true, const("always", "A")),
                (lambda ctx: False, const("never", "N")),
            ]
        )
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=5)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success"
    assert result.result == {"pos": "P", "always": "A"}
    assert "never" not in result.steps
    kinds = types(chunks)
    starts = [i for i, t in enumerate(kinds) if t == "workflow-step-start"]
    results = [i for i, t in enumerate(kinds) if t == "workflow-step-result"]
    assert len(starts) == 2 and max(starts) < min(results)


async def test_branch_none_true_gives_empty_dict() -> None:
    wf = create_workflow(id="brnone").branch([(lambda ctx: False, const("x", 1))]).commit()
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", {})


async def test_branch_condition_that_raises_fails_block() -> None:
    def bad(ctx: ConditionContext) -> bool:
        raise RuntimeError("condition broke")

    wf = (
        create_workflow(id="brraise")
        .branch([(bad, const("x", 1)), (lambda ctx: True, const("y", 2))])
        .then(const("never", 0))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, RuntimeError)
    assert str(result.error) == "condition broke"
    assert "never" not in result.steps


async def test_a_condition_that_raises_fails_its_block_with_that_error() -> None:
    raised = LookupError("no such key")

    def cond(ctx: Any) -> bool:
        raise raised

    for build in (
        lambda b: b.branch([(cond, create_step(id="x", execute=add_one))]),
        lambda b: b.dowhile(create_step(id="x", execute=add_one), cond),
    ):
        wf = build(create_workflow(id="cond")).commit()
        result = await (await wf.create_run()).start(input_data=1)
        assert result.status == "failed"
        assert result.error is raised
        assert result.to_dict()["error"] == {"message": "no such key", "name": "LookupError"}


# --- map --------------------------------------------------------------------------------------


async def test_map_function_ids_and_outputs() -> None:
    async def amap(ctx: Any) -> Any:
        return ctx.input_data * 3

    wf = (
        create_workflow(id="mp")
        .then(inc("a"))
        .map(lambda ctx: ctx.input_data + 100)
        .map(amap)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.result == 303
    assert result.steps["mapping_mp_0"].output == 101
    assert result.steps["mapping_mp_1"].output == 303
    assert result.step_execution_path == ["a", "mapping_mp_0", "mapping_mp_1"]


async def test_map_dict_forms() -> None:
    fetch = const("fetch", {"user": {"name": "ada"}, "n": 3})
    wf = (
        create_workflow(id="mpd")
        .then(fetch)
        .then(inc_n := create_step(id="score", execute=lambda ctx: ctx.input_data["n"] * 10))
        .map(
            {
                "name": {"step": fetch, "path": "user.name"},
                "whole": {"step": inc_n, "path": "."},
                "asked": {"init_data": True, "path": "."},
                "asked_a": {"init_data": True, "path": "a"},
                "user_id": {"request_context_path": "user.id"},
                "source": {"value": "api"},
            }
        )
        .commit()
    )
    result = await (await wf.create_run()).start(
        input_data={"a": 1}, request_context={"user": {"id": 7}}
    )
    assert result.status == "success", result.error
    assert result.result == {
        "name": "ada",
        "whole": 30,
        "asked": {"a": 1},
        "asked_a": 1,
        "user_id": 7,
        "source": "api",
    }


async def test_map_step_emits_step_events() -> None:
    wf = create_workflow(id="mapev").map(lambda ctx: {"v": ctx.input_data}).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=1))
    start = one(chunks, "workflow-step-start", "mapping_mapev_0")
    result = one(chunks, "workflow-step-result", "mapping_mapev_0")
    assert start["stepName"] == "mapping_mapev_0"
    assert result["output"] == {"v": 1}
