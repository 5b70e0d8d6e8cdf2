"""Steps: create_step and @step, sync and async bodies, step and condition contexts, the writer."""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from typing import Any, Literal

import attrs
import pytest
from _steps import Num, const, inc, wf_of
from conftest import collect, one, shape, types

import rxflow
from rxflow import (
    ConditionContext,
    RequestContext,
    StepContext,
    TracingContext,
    create_step,
    create_workflow,
    step,
)
from rxflow.events import CustomChunk, from_dict

# --- defining steps ---------------------------------------------------------------------------


def test_create_step_keyword_names() -> None:
    params = inspect.signature(create_step).parameters
    for name in [
        "id",
        "execute",
        "input_schema",
        "output_schema",
        "description",
        "resume_schema",
        "suspend_schema",
        "state_schema",
        "request_context_schema",
        "retries",
        "metadata",
    ]:
        assert name in params, name

    async def body(ctx: StepContext) -> int:
        return 1

    s = create_step(
        id="double",
        execute=body,
        input_schema=None,
        output_schema=None,
        description="d",
        resume_schema=None,
        suspend_schema=None,
        state_schema=None,
        request_context_schema=None,
        retries=None,
        metadata={"m": 1},
    )
    assert isinstance(s, rxflow.Step)


async def test_step_decorator_form() -> None:
    @step(id="double", input_schema=Num, output_schema=Num)
    async def double(ctx: StepContext) -> Num:
        return Num(ctx.input_data.value * 2)

    assert isinstance(double, rxflow.Step)
    result = await (await wf_of(double).create_run()).start(input_data={"value": 21})
    assert result.status == "success"
    assert result.result == Num(42)


def test_workflow_is_instance_of_step() -> None:
    assert isinstance(wf_of(inc("inner"), wid="child"), rxflow.Step)


async def test_workflow_is_a_step_nested() -> None:
    child = wf_of(inc("inner"), wid="child")
    parent = wf_of(child, inc("after"), wid="parent")
    result = await (await parent.create_run()).start(input_data=1)
    assert result.status == "success"
    assert result.result == 3
    assert result.steps["child"].output == 2


# --- sync and async bodies --------------------------------------------------------------------


async def test_sync_body_runs_in_a_worker_thread_async_on_loop_thread() -> None:
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen_var: list[str] = []

    def sync_body(ctx: StepContext) -> int:
        threads["sync"] = threading.get_ident()
        seen_var.append(var.get())
        return 1

    async def async_body(ctx: StepContext) -> int:
        threads["async"] = threading.get_ident()
        return 2

    wf = wf_of(create_step(id="s", execute=sync_body), create_step(id="a", execute=async_body))
    run = await wf.create_run()
    var.set("from-caller")
    event_threads: list[int] = []
    output = run.stream(input_data=None)
    output.events.subscribe(on_next=lambda c: event_threads.append(threading.get_ident()))
    await collect(output)
    assert threads["sync"] != loop_thread
    assert threads["async"] == loop_thread
    assert seen_var == ["from-caller"]
    assert event_threads and set(event_threads) == {loop_thread}


async def test_sync_body_may_set_state_record_usage_and_bail() -> None:
    def sync_body(ctx: StepContext) -> Any:
        ctx.set_state({"from_thread": True})
        ctx.record_usage(2, 3)
        return ctx.bail("bailed-from-thread")

    wf = wf_of(create_step(id="s", execute=sync_body), const("never", 0), wid="syncbail")
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "success"
    assert result.result == "bailed-from-thread"
    assert result.state == {"from_thread": True}
    assert "never" not in result.steps
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (2, 3, 5)
    assert one(chunks, "workflow-step-result", "s")["status"] == "bailed"


async def test_context_methods_sync_and_async_as_spec_says() -> None:
    seen: dict[str, Any] = {}

    async def body(ctx: StepContext) -> Any:
        seen["set_state_returns"] = ctx.set_state({"k": 1})
        seen["record_usage_returns"] = ctx.record_usage(1, 1)
        seen["suspend_async"] = inspect.iscoroutinefunction(ctx.suspend)
        seen["write_async"] = inspect.iscoroutinefunction(ctx.writer.write)
        seen["custom_async"] = inspect.iscoroutinefunction(ctx.writer.custom)
        seen["abort_async"] = inspect.iscoroutinefunction(ctx.abort)
        seen["bail_async"] = inspect.iscoroutinefunction(ctx.bail)
        return 1

    await (await wf_of(create_step(id="s", execute=body)).create_run()).start(input_data=None)
    assert not inspect.isawaitable(seen["set_state_returns"])
    assert not inspect.isawaitable(seen["record_usage_returns"])
    assert seen["suspend_async"] and seen["write_async"] and seen["custom_async"]
    assert not seen["abort_async"] and not seen["bail_async"]


# --- the step context -------------------------------------------------------------------------


async def test_step_context_attributes_on_first_invocation() -> None:
    seen: dict[str, Any] = {}
    first = const("first", {"x": 1})

    async def probe(ctx: StepContext) -> Any:
        seen.update(
            input_data=ctx.input_data,
            resume_data=ctx.resume_data,
            suspend_data=ctx.suspend_data,
            init=ctx.get_init_data(),
            by_step=ctx.get_step_result(first),
            by_id=ctx.get_step_result("first"),
            unknown=ctx.get_step_result("nope"),
            run_id=ctx.run_id,
            workflow_id=ctx.workflow_id,
            resource_id=ctx.resource_id,
            retry_count=ctx.retry_count,
            tracing_context=ctx.tracing_context,
            request_context=ctx.request_context,
            state=ctx.state,
            aborted=ctx.abort_signal.aborted,
        )
        return None

    wf = wf_of(first, create_step(id="probe", execute=probe), wid="attrs")
    run = await wf.create_run(resource_id="res-1")
    result = await run.start(
        input_data="init", initial_state={"s": 1}, request_context={"user": "ada"}
    )
    assert result.status == "success"
    assert seen["input_data"] == {"x": 1}
    assert seen["resume_data"] is None and seen["suspend_data"] is None
    assert seen["init"] == "init"
    assert seen["by_step"] == {"x": 1} and seen["by_id"] == {"x": 1}
    assert seen["unknown"] is None
    assert seen["run_id"] == run.run_id
    assert seen["workflow_id"] == "attrs"
    assert seen["resource_id"] == "res-1"
    assert seen["retry_count"] == 0
    assert isinstance(seen["tracing_context"], TracingContext)
    assert isinstance(seen["request_context"], RequestContext)
    assert seen["request_context"].get("user") == "ada"
    assert seen["state"] == {"s": 1}
    assert seen["aborted"] is False


def test_step_context_is_attrs() -> None:
    assert attrs.has(StepContext)


async def test_get_step_result_is_none_for_a_failed_step() -> None:
    seen: list[Any] = []

    async def boom(ctx: StepContext) -> Any:
        raise ValueError("x")

    async def after(ctx: StepContext) -> Any:
        seen.append(ctx.get_step_result("boom"))
        seen.append(ctx.get_step_result("ok"))
        return None

    wf = (
        create_workflow(id="gsr")
        .parallel([create_step(id="boom", execute=boom), const("ok", 5)], allow_failure=True)
        .then(create_step(id="after", execute=after))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    assert seen == [None, 5]


async def test_resume_sets_resume_data_and_suspend_data() -> None:
    seen: list[tuple[Any, Any]] = []

    async def body(ctx: StepContext) -> Any:
        seen.append((ctx.resume_data, ctx.suspend_data))
        if ctx.resume_data is None:
            return await ctx.suspend({"q": "ok?"})
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=body)).create_run()
    first = await run.start(input_data=None)
    assert first.status == "suspended"
    done = await run.resume(resume_data="yes")
    assert done.status == "success" and done.result == "yes"
    assert seen == [(None, None), ("yes", {"q": "ok?"})]


# --- the writer -------------------------------------------------------------------------------


async def test_writer_custom_emits_custom_chunk_with_data_and_extra_keys() -> None:
    errors: list[Exception] = []

    async def body(ctx: StepContext) -> Any:
        await ctx.writer.custom({"type": "data-progress", "data": {"pct": 50}, "extra": "kept"})
        try:
            await ctx.writer.custom({"type": "progress", "data": 1})
        except ValueError as error:
            errors.append(error)
        return 1

    run = await wf_of(create_step(id="w", execute=body)).create_run()
    chunks = await collect(run.stream(input_data=None))
    customs = [c for c in chunks if c.type == "data-progress"]
    assert len(customs) == 1
    chunk = customs[0]
    assert isinstance(chunk, CustomChunk)
    assert chunk.run_id == run.run_id
    assert chunk.data == {"pct": 50}
    d = chunk.to_dict()
    assert d["type"] == "data-progress"
    assert d["runId"] == run.run_id
    assert "from" in d
    assert d["data"] == {"pct": 50}
    assert d["extra"] == "kept"
    assert "payload" not in d
    back = from_dict(d)
    assert isinstance(back, CustomChunk)
    assert back.to_dict() == d
    assert len(errors) == 1
    # the custom chunk sits between the step's start and result
    s = shape(chunks)
    assert s.index(("workflow-step-start", "w")) < s.index(("data-progress", None))
    assert s.index(("data-progress", None)) < s.index(("workflow-step-result", "w"))


async def test_writer_write_emits_step_output_from_user() -> None:
    async def body(ctx: StepContext) -> Any:
        await ctx.writer.write({"someKey": 1, "snake_key": 2})
        return 1

    run = await wf_of(create_step(id="w", execute=body)).create_run()
    chunks = await collect(run.stream(input_data=None))
    outs = [c for c in chunks if c.type == "workflow-step-output"]
    assert len(outs) == 1
    assert outs[0].from_ == "USER"
    assert outs[0].to_dict() == {
        "type": "workflow-step-output",
        "runId": run.run_id,
        "from": "USER",
        "payload": {
            "stepName": "w",
            "runId": run.run_id,
            "output": {"someKey": 1, "snake_key": 2},
        },
    }
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-finish",
    ]


# --- the condition context --------------------------------------------------------------------


async def test_condition_context_has_no_suspend_or_set_state() -> None:
    seen: dict[str, Any] = {}

    def cond(ctx: ConditionContext) -> bool:
        seen["ctx"] = ctx
        seen["has_suspend"] = hasattr(ctx, "suspend")
        seen["has_set_state"] = hasattr(ctx, "set_state")
        seen["input"] = ctx.input_data
        seen["state"] = ctx.state
        seen["init"] = ctx.get_init_data()
        return True

    wf = create_workflow(id="cctx").branch([(cond, const("x", 1))]).commit()
    await (await wf.create_run()).start(input_data=7, initial_state={"s": 1})
    assert isinstance(seen["ctx"], ConditionContext)
    assert seen["has_suspend"] is False
    assert seen["has_set_state"] is False
    assert seen["input"] == 7
    assert seen["state"] == {"s": 1}
    assert seen["init"] == 7


async def test_condition_context_helpers() -> None:
    seen: dict[str, Any] = {}

    async def cond(ctx: ConditionContext) -> bool:
        seen["prev"] = ctx.get_step_result("first")
        seen["rc"] = ctx.request_context.get("k")
        return True

    wf = (
        create_workflow(id="cctx2")
        .then(const("first", "F"))
        .branch([(cond, const("x", 1))])
        .commit()
    )
    await (await wf.create_run()).start(input_data=None, request_context={"k": "v"})
    assert seen == {"prev": "F", "rc": "v"}


# --- state ------------------------------------------------------------------------------------


async def test_set_state_partials_merge_in_call_order_and_apply_on_success() -> None:
    seen: list[Any] = []

    async def writer(ctx: StepContext) -> Any:
        ctx.set_state({"a": 1, "b": 1})
        ctx.set_state({"b": 2, "c": 3})
        seen.append(dict(ctx.state))  # state at step start, not yet merged
        return None

    async def reader(ctx: StepContext) -> Any:
        seen.append(dict(ctx.state))
        return None

    wf = wf_of(create_step(id="writer", execute=writer), create_step(id="reader", execute=reader))
    result = await (await wf.create_run()).start(input_data=None, initial_state={"z": 0})
    assert seen[0] == {"z": 0}
    assert seen[1] == {"z": 0, "a": 1, "b": 2, "c": 3}
    assert result.state == {"z": 0, "a": 1, "b": 2, "c": 3}


async def test_set_state_not_applied_when_step_fails() -> None:
    async def boom(ctx: StepContext) -> Any:
        ctx.set_state({"lost": True})
        raise ValueError("x")

    result = await (await wf_of(create_step(id="b", execute=boom)).create_run()).start(
        input_data=None, initial_state={"kept": 1}
    )
    assert result.status == "failed"
    assert result.state == {"kept": 1}


async def test_set_state_before_suspend_is_kept() -> None:
    seen: list[Any] = []

    async def body(ctx: StepContext) -> Any:
        seen.append(dict(ctx.state))
        if ctx.resume_data is None:
            ctx.set_state({"asked": True})
            return await ctx.suspend({})
        return "done"

    run = await wf_of(create_step(id="ask", execute=body)).create_run()
    first = await run.start(input_data=None)
    assert first.status == "suspended"
    assert first.state == {"asked": True}
    second = await run.resume(resume_data=1)
    assert second.status == "success"
    assert seen == [{}, {"asked": True}]
    assert second.state == {"asked": True}


async def test_set_state_applied_when_bailing() -> None:
    async def body(ctx: StepContext) -> Any:
        ctx.set_state({"b": 1})
        return ctx.bail("x")

    result = await (await wf_of(create_step(id="b", execute=body)).create_run()).start(
        input_data=None
    )
    assert result.status == "success"
    assert result.state == {"b": 1}


# --- bad definitions are refused when the step is made, naming the parameter ------------------

STEP_SCHEMAS = [
    "input_schema",
    "output_schema",
    "resume_schema",
    "suspend_schema",
    "state_schema",
    "request_context_schema",
]


async def _body(ctx: StepContext) -> Any:
    return ctx.input_data


@pytest.mark.parametrize("name", STEP_SCHEMAS)
def test_a_schema_that_is_not_a_type_is_refused_at_create_step(name: str) -> None:
    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        create_step(id="s", execute=_body, **{name: 42})
    assert str(caught.value) == (
        f"step 's': {name} must be a type (a class, or a typing form such as list[int]), got 42"
    )


@pytest.mark.parametrize("name", STEP_SCHEMAS)
def test_a_schema_that_is_not_a_type_is_refused_by_the_decorator(name: str) -> None:
    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        step(**{name: "Point"})(_body)
    assert str(caught.value) == (
        f"step '_body': {name} must be a type (a class, or a typing form such as list[int]), "
        "got 'Point'"
    )


@pytest.mark.parametrize(
    "schema", [int, Num, list[int], dict[str, float], int | None, Literal["a", "b"], Any]
)
def test_types_and_typing_forms_are_schemas(schema: Any) -> None:
    assert create_step(id="s", execute=_body, input_schema=schema).input_schema == schema


def test_a_body_that_cannot_take_the_context_is_refused() -> None:
    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        create_step(id="s", execute=lambda: 1)
    assert str(caught.value) == (
        "step 's': execute must take one positional argument (the step context), "
        "but <lambda>() does not"
    )

    def two(ctx: Any, extra: Any) -> None: ...

    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        create_step(id="t", execute=two)
    assert str(caught.value) == (
        "step 't': execute must take one positional argument (the step context), "
        "but two(ctx, extra) does not"
    )


def test_bodies_that_take_the_context_are_accepted() -> None:
    def with_default(ctx: Any, scale: int = 2) -> None: ...

    def star(*args: Any) -> None: ...

    for body in [
        lambda ctx: 1,
        with_default,
        star,
        functools.partial(with_default, scale=3),
        print,
    ]:
        assert create_step(id="s", execute=body).execute is body


def test_a_body_that_is_not_callable_is_refused() -> None:
    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        create_step(id="s", execute=42)  # type: ignore[arg-type]
    assert str(caught.value) == "step 's': execute must be callable, got 42"


def test_metadata_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(rxflow.WorkflowDefinitionError) as caught:
        create_step(id="s", execute=_body, metadata="str")  # type: ignore[arg-type]
    assert str(caught.value) == "step 's': metadata must be a mapping or None, got 'str'"
    assert create_step(id="s", execute=_body, metadata={"team": "a"}).metadata == {"team": "a"}
