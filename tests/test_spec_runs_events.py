"""Acceptance tests for steps, workflows, runs, run outputs and events, derived from SPEC.md.

Covers SPEC sections 2 (steps), 3 (workflows), 4 (runs), 5 (WorkflowRunOutput), 6 (events) and
the parts of section 16 about names and modules, events and output, control flow and state,
wire details, and errors reported by ``stream()`` / ``resume_stream()``.

Only the public API is used. Tests are deterministic: they coordinate through asyncio events
and counters. The only timed waits are short ``sleep()`` / ``sleep_until()`` entries and a retry
delay where that wait itself is under test, and a thread body polling its abort signal;
``asyncio.wait_for`` guards make a wrong behaviour fail instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import reactivex
from reactivex import operators as ops

import rxflow
import rxflow.errors
import rxflow.events
import rxflow.operators
import rxflow.storage
from rxflow import (
    ConditionContext,
    InMemoryStorage,
    NonRetryableError,
    RequestContext,
    ResumeAlreadyClaimedError,
    ResumeError,
    RetryConfig,
    RxflowError,
    StepContext,
    TracingContext,
    TripWire,
    ValidationError,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
    step,
)
from rxflow.events import CustomChunk, from_dict

GUARD = 10  # seconds; a guard against hangs, never a pacing delay

USAGE_KEYS = {
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "reasoningTokens",
    "cachedInputTokens",
    "cacheCreationInputTokens",
}


# --- helpers ---------------------------------------------------------------------------------


async def collect(output: Any) -> list[Any]:
    async def read() -> list[Any]:
        return [chunk async for chunk in output]

    return await asyncio.wait_for(read(), GUARD)


def types(chunks: list[Any]) -> list[str]:
    return [c.type for c in chunks]


def shape(chunks: list[Any]) -> list[tuple[str, Any]]:
    out = []
    for c in chunks:
        d = c.to_dict()
        payload = d.get("payload") or {}
        out.append((c.type, payload.get("id") if isinstance(payload, dict) else None))
    return out


def wire(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in chunks]


def of(chunks: list[Any], kind: str, ident: str | None = None) -> list[dict[str, Any]]:
    """Wire payloads of the chunks of one type (and step id)."""
    found = []
    for c in chunks:
        if c.type != kind:
            continue
        d = c.to_dict()
        if ident is not None and d["payload"].get("id") != ident:
            continue
        found.append(d["payload"])
    return found


def one(chunks: list[Any], kind: str, ident: str | None = None) -> dict[str, Any]:
    found = of(chunks, kind, ident)
    assert len(found) == 1, (kind, ident, shape(chunks))
    return found[0]


def finish(chunks: list[Any]) -> dict[str, Any]:
    assert chunks[-1].type == "workflow-finish", shape(chunks)
    return chunks[-1].to_dict()["payload"]


def wf_of(*steps: Any, wid: str = "wf", **kwargs: Any) -> Any:
    builder = create_workflow(id=wid, **kwargs)
    for s in steps:
        builder = builder.then(s)
    return builder.commit()


def const(sid: str, value: Any) -> Any:
    async def body(ctx: StepContext) -> Any:
        return value

    return create_step(id=sid, execute=body)


def inc(sid: str) -> Any:
    async def body(ctx: StepContext) -> Any:
        return ctx.input_data + 1

    return create_step(id=sid, execute=body)


def asker(sid: str, label: str | None = None, calls: list[Any] | None = None) -> Any:
    async def body(ctx: StepContext) -> Any:
        if calls is not None:
            calls.append((ctx.input_data, ctx.resume_data))
        if ctx.resume_data is None:
            return await ctx.suspend({"asked": sid}, resume_label=label)
        return ctx.resume_data

    return create_step(id=sid, execute=body)


async def wait_until(predicate: Any) -> None:
    """Yield to the loop until ``predicate()`` holds (bounded; no timing sleeps)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


def now_ms() -> int:
    return int(time.time() * 1000)


# =============================================================================================
# SPEC §16 "Names and modules"
# =============================================================================================

TOP_LEVEL = [
    "create_step",
    "step",
    "StepContext",
    "ConditionContext",
    "create_workflow",
    "Workflow",
    "Step",
    "Run",
    "WorkflowRunOutput",
    "RetryConfig",
    "RequestContext",
    "TracingContext",
    "TracingOptions",
    "Usage",
    "WorkflowResult",
    "StepResult",
    "InMemoryStorage",
    "SQLiteStorage",
    "Storage",
    "RunRecord",
    "RunList",
]

ERRORS = [
    "RxflowError",
    "ValidationError",
    "WorkflowDefinitionError",
    "ResumeError",
    "ResumeAlreadyClaimedError",
    "StorageError",
    "NonRetryableError",
    "TripWire",
]


@pytest.mark.parametrize("name", TOP_LEVEL + ERRORS)
def test_public_names_importable_from_top_level(name: str) -> None:
    assert hasattr(rxflow, name), name


@pytest.mark.parametrize("name", ERRORS)
def test_error_classes_in_errors_module_are_the_top_level_ones(name: str) -> None:
    assert getattr(rxflow.errors, name) is getattr(rxflow, name)
    cls = getattr(rxflow, name)
    assert issubclass(cls, Exception)
    assert issubclass(cls, RxflowError)


def test_error_hierarchy() -> None:
    assert issubclass(ResumeAlreadyClaimedError, ResumeError)


def test_events_module_exposes_custom_chunk_and_from_dict() -> None:
    assert rxflow.events.CustomChunk is CustomChunk
    assert callable(rxflow.events.from_dict)
    # the other submodules exist
    assert hasattr(rxflow.operators, "run_workflow")
    assert hasattr(rxflow.operators, "stream_workflow")
    assert rxflow.storage is not None


async def test_run_has_run_id_workflow_id_resource_id() -> None:
    wf = wf_of(const("a", 1), wid="ids")
    run = await wf.create_run(run_id="r-ids", resource_id="user-1")
    assert run.run_id == "r-ids"
    assert run.workflow_id == "ids"
    assert run.resource_id == "user-1"
    anon = await wf.create_run()
    assert isinstance(anon.run_id, str) and anon.run_id
    assert anon.resource_id is None


def test_request_context_constructor_and_get() -> None:
    rc = RequestContext(initial={"user": "ada"})
    assert rc.get("user") == "ada"
    assert rc.get("missing") is None
    assert rc.get("missing", 5) == 5
    assert RequestContext().get("x") is None


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


# =============================================================================================
# SPEC §2 Steps
# =============================================================================================


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


@attrs.frozen
class Num:
    value: int


async def test_step_decorator_form() -> None:
    @step(id="double", input_schema=Num, output_schema=Num)
    async def double(ctx: StepContext) -> Num:
        return Num(ctx.input_data.value * 2)

    assert isinstance(double, rxflow.Step)
    result = await (await wf_of(double).create_run()).start(input_data={"value": 21})
    assert result.status == "success"
    assert result.result == Num(42)


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


def test_workflow_is_instance_of_step() -> None:
    assert isinstance(wf_of(inc("inner"), wid="child"), rxflow.Step)


async def test_workflow_is_a_step_nested() -> None:
    child = wf_of(inc("inner"), wid="child")
    parent = wf_of(child, inc("after"), wid="parent")
    result = await (await parent.create_run()).start(input_data=1)
    assert result.status == "success"
    assert result.result == 3
    assert result.steps["child"].output == 2


# --- retries, NonRetryableError, TripWire, bail ----------------------------------------------


def failing(sid: str, attempts: list[int], exc: type[Exception] = ValueError, **kw: Any) -> Any:
    async def body(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        raise exc("boom")

    return create_step(id=sid, execute=body, **kw)


async def test_step_retries_override_and_retry_count() -> None:
    attempts: list[int] = []
    wf = wf_of(
        failing("f", attempts, retries=2),
        wid="retry",
        retry_config=RetryConfig(attempts=5, delay=0),
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert attempts == [0, 1, 2]
    # no events per attempt
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "f"),
        ("workflow-step-result", "f"),
        ("workflow-finish", None),
    ]


async def test_retries_none_falls_back_to_workflow_retry_config() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts), wid="fallback", retry_config=RetryConfig(attempts=1))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0, 1]


async def test_retries_zero_means_no_retry() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts, retries=0), wid="zero", retry_config=RetryConfig(attempts=3))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0]


async def test_retry_then_success() -> None:
    attempts: list[int] = []

    async def flaky(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise ValueError("not yet")
        return "ok"

    wf = wf_of(create_step(id="flaky", execute=flaky, retries=3), wid="flaky")
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "ok")
    assert attempts == [0, 1, 2]


async def test_non_retryable_error_stops_at_once() -> None:
    attempts: list[int] = []
    wf = wf_of(failing("f", attempts, exc=NonRetryableError, retries=3), wid="nre")
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == [0]
    assert isinstance(result.error, NonRetryableError)


async def test_tripwire_ends_run_with_status_tripwire_and_is_never_retried() -> None:
    attempts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        attempts.append(ctx.retry_count)
        raise TripWire("blocked", retry=True, metadata={"k": 1}, processor_id="p1")

    wf = wf_of(create_step(id="tw", execute=body, retries=3), const("never", 0), wid="trip")
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert attempts == [0]
    assert result.status == "tripwire"
    assert output.status == "tripwire"
    assert result.tripwire is not None
    assert result.tripwire.reason == "blocked"
    assert result.tripwire.processor_id == "p1"
    assert "never" not in result.steps
    step_result = one(chunks, "workflow-step-result", "tw")
    assert step_result["status"] == "failed"
    assert "tripwire" in step_result
    assert step_result["tripwire"]["reason"] == "blocked"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "tripwire"
    assert fin["metadata"] == {}
    assert "tripwire" in fin and fin["tripwire"]["reason"] == "blocked"
    assert "finalWorkflowResult" not in fin


async def test_bail_ends_workflow_successfully() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail({"early": True})

    async def later(ctx: StepContext) -> Any:
        after.append(1)
        return None

    wf = wf_of(
        create_step(id="bailer", execute=bailer),
        create_step(id="later", execute=later),
        wid="bail",
    )
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert after == []
    assert result.status == "success"
    assert result.result == {"early": True}
    event = one(chunks, "workflow-step-result", "bailer")
    assert event["status"] == "bailed"
    assert event["output"] == {"early": True}
    assert result.to_dict()["steps"]["bailer"]["status"] == "success"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "success"
    assert fin["finalWorkflowResult"] == {"early": True}
    assert output.status == "success"


async def test_exception_fails_run_and_later_entries_do_not_run() -> None:
    after: list[int] = []

    async def boom(ctx: StepContext) -> Any:
        raise KeyError("missing")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = wf_of(create_step(id="boom", execute=boom), create_step(id="later", execute=later))
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, KeyError)
    assert after == []


# --- state -----------------------------------------------------------------------------------


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


# =============================================================================================
# SPEC §3 Workflows
# =============================================================================================


def test_create_workflow_keyword_names() -> None:
    params = inspect.signature(create_workflow).parameters
    for name in [
        "id",
        "input_schema",
        "output_schema",
        "state_schema",
        "request_context_schema",
        "retry_config",
        "storage",
        "executor",
        "description",
        "metadata",
    ]:
        assert name in params, name
    wf = create_workflow(
        id="wf",
        input_schema=None,
        output_schema=None,
        state_schema=None,
        request_context_schema=None,
        retry_config=RetryConfig(attempts=0, delay=0),
        storage=None,
        executor=None,
        description="d",
        metadata={"m": 1},
    )
    assert isinstance(wf, rxflow.Workflow)


def test_builder_method_keyword_names() -> None:
    wf = create_workflow(id="kw")
    assert "allow_failure" in inspect.signature(wf.parallel).parameters
    assert "concurrency" in inspect.signature(wf.foreach).parameters


async def test_then_chains_outputs() -> None:
    result = await (await wf_of(inc("a"), inc("b"), inc("c")).create_run()).start(input_data=0)
    assert result.result == 3
    assert result.step_execution_path == ["a", "b", "c"]


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


async def test_parallel_allow_failure_gives_none_slot() -> None:
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


async def test_branch_runs_every_true_condition() -> None:
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


async def test_dowhile_and_dountil() -> None:
    calls: list[tuple[int, Any]] = []

    def below_three(ctx: ConditionContext) -> bool:
        calls.append((ctx.iteration_count, ctx.input_data))
        return ctx.input_data < 3

    wf = (
        create_workflow(id="loops")
        .dowhile(inc("inc"), below_three)
        .dountil(
            create_step(id="double", execute=lambda ctx: ctx.input_data * 2),
            lambda ctx: ctx.input_data >= 20,
        )
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=0)
    assert result.result == 24
    assert calls == [(1, 1), (2, 2), (3, 3)]
    assert result.step_execution_path == ["inc", "inc", "inc", "double", "double", "double"]


async def test_loop_retry_count_restarts_each_iteration() -> None:
    counts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        counts.append(ctx.retry_count)
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopretry")
        .dowhile(create_step(id="it", execute=body), lambda ctx: ctx.input_data < 3)
        .commit()
    )
    await (await wf.create_run()).start(input_data=0)
    assert counts == [0, 0, 0]


async def test_loop_condition_that_raises_fails_block() -> None:
    def bad(ctx: ConditionContext) -> bool:
        raise RuntimeError("loop cond broke")

    wf = create_workflow(id="loopraise").dowhile(inc("it"), bad).commit()
    result = await (await wf.create_run()).start(input_data=0)
    assert result.status == "failed"
    assert str(result.error) == "loop cond broke"


# --- foreach ---------------------------------------------------------------------------------


async def test_foreach_output_in_input_order_progress_in_completion_order() -> None:
    gates = [asyncio.Event() for _ in range(3)]
    started = [asyncio.Event() for _ in range(3)]

    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        started[i].set()
        await gates[i].wait()
        return i * 10

    wf = (
        create_workflow(id="fe").foreach(create_step(id="it", execute=item), concurrency=3).commit()
    )
    output = (await wf.create_run()).stream(input_data=[0, 1, 2])

    settled: list[int] = []
    output.events.subscribe(
        on_next=lambda c: settled.append(1) if c.type == "workflow-step-progress" else None
    )

    async def release() -> None:
        for e in started:
            await e.wait()
        for n, i in enumerate((2, 0, 1), start=1):
            gates[i].set()
            await wait_until(lambda n=n: len(settled) == n)  # one completion at a time

    releaser = asyncio.create_task(release())
    chunks = await collect(output)
    await releaser
    result = await output.result
    assert result.result == [0, 10, 20]
    progress = of(chunks, "workflow-step-progress", "it")
    assert [p["currentIndex"] for p in progress] == [2, 0, 1]
    assert [p["completedCount"] for p in progress] == [1, 2, 3]
    assert all(p["totalCount"] == 3 for p in progress)
    assert all(p["iterationStatus"] == "success" for p in progress)
    assert [p["iterationOutput"] for p in progress] == [20, 0, 10]
    assert all(p["stepName"] == "it" for p in progress)
    assert len(of(chunks, "workflow-step-start", "it")) == 1
    assert len(of(chunks, "workflow-step-result", "it")) == 1
    assert progress[0] is not None
    s = shape(chunks)
    assert s.index(("workflow-step-start", "it")) < s.index(("workflow-step-progress", "it"))
    assert s[-2] == ("workflow-step-result", "it")


async def test_foreach_sliding_window_not_batches() -> None:
    gate0 = asyncio.Event()
    in_flight = 0
    max_in_flight = 0
    started: list[int] = []

    async def item(ctx: StepContext) -> Any:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        started.append(ctx.input_data)
        try:
            if ctx.input_data == 0:
                await gate0.wait()
            if ctx.input_data == 2:
                # item 2 can only start while item 0 is still in flight with a sliding window
                gate0.set()
            await asyncio.sleep(0)
            return ctx.input_data
        finally:
            in_flight -= 1

    wf = (
        create_workflow(id="win")
        .foreach(create_step(id="it", execute=item), concurrency=2)
        .commit()
    )
    result = await asyncio.wait_for((await wf.create_run()).start(input_data=[0, 1, 2, 3]), GUARD)
    assert result.result == [0, 1, 2, 3]
    assert max_in_flight == 2
    assert started.index(2) < 4 and started[:2] == [0, 1]


async def test_foreach_first_failure_stops_queued_items_in_flight_finish() -> None:
    started: list[int] = []
    one_started = asyncio.Event()
    release_one = asyncio.Event()

    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        started.append(i)
        if i == 0:
            await one_started.wait()
            release_one.set()
            raise ValueError("item 0 is bad")
        if i == 1:
            one_started.set()
            await release_one.wait()
            await asyncio.sleep(0)
            return 1
        return i

    wf = (
        create_workflow(id="fefail")
        .foreach(create_step(id="it", execute=item), concurrency=2)
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=list(range(6)))
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "item 0 is bad"
    assert started == [0, 1]
    progress = of(chunks, "workflow-step-progress", "it")
    by_index = {p["currentIndex"]: p for p in progress}
    assert by_index[0]["iterationStatus"] == "failed"
    assert "iterationOutput" not in by_index[0]
    assert by_index[1]["iterationStatus"] == "success"
    assert sorted(p["completedCount"] for p in progress) == [1, 2]
    res = one(chunks, "workflow-step-result", "it")
    assert res["status"] == "failed"
    assert res["error"] == {"message": "item 0 is bad", "name": "ValueError"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "2", None])
def test_foreach_concurrency_must_be_positive_int(bad: Any) -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="bad").foreach(const("s", 1), concurrency=bad)


def test_foreach_concurrency_true_is_rejected() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="bad").foreach(const("s", 1), concurrency=True)


async def test_foreach_progress_of_suspended_items_does_not_count_as_completed() -> None:
    async def item(ctx: StepContext) -> Any:
        if ctx.input_data % 2 == 1 and ctx.resume_data is None:
            return await ctx.suspend({"item": ctx.input_data})
        return ctx.input_data if ctx.resume_data is None else ctx.resume_data

    wf = (
        create_workflow(id="fesusp")
        .foreach(create_step(id="it", execute=item), concurrency=4)
        .commit()
    )
    output = (await wf.create_run()).stream(input_data=[0, 1, 2, 3])
    chunks = await collect(output)
    progress = of(chunks, "workflow-step-progress", "it")
    assert len(progress) == 4
    settled = 0
    for p in progress:
        if p["iterationStatus"] in ("success", "failed"):
            settled += 1
        else:
            assert p["iterationStatus"] == "suspended"
            assert "iterationOutput" not in p
        assert p["completedCount"] == settled
    assert finish(chunks)["workflowStatus"] == "suspended"


# --- map -------------------------------------------------------------------------------------


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


# --- sleep / sleep_until ---------------------------------------------------------------------


async def test_sleep_passes_input_through_and_emits_waiting_then_result() -> None:
    wf = create_workflow(id="slp").then(inc("a")).sleep(5).sleep(lambda ctx: 1).commit()
    run = await wf.create_run()
    output = run.stream(input_data=1)
    chunks = await collect(output)
    result = await output.result
    assert result.result == 2
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "a"),
        ("workflow-step-result", "a"),
        ("workflow-step-waiting", "sleep_slp_0"),
        ("workflow-step-result", "sleep_slp_0"),
        ("workflow-step-waiting", "sleep_slp_1"),
        ("workflow-step-result", "sleep_slp_1"),
        ("workflow-finish", None),
    ]
    waiting = one(chunks, "workflow-step-waiting", "sleep_slp_0")
    assert set(waiting) == {"id", "stepName", "payload", "startedAt", "status"}
    assert waiting["status"] == "waiting"
    assert waiting["payload"] == 2
    assert waiting["stepName"] == "sleep_slp_0"
    res = one(chunks, "workflow-step-result", "sleep_slp_0")
    assert set(res) == {"id", "stepName", "status", "output", "endedAt"}
    assert res["status"] == "success" and res["output"] == 2


async def test_sleep_until_aware_datetime_and_function() -> None:
    t0 = datetime.now(UTC)
    wf = (
        create_workflow(id="slu")
        .sleep_until(t0 + timedelta(milliseconds=20))
        .sleep_until(lambda ctx: datetime.now(UTC) + timedelta(milliseconds=5))
        .commit()
    )
    output = (await wf.create_run()).stream(input_data="x")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", "x")
    assert datetime.now(UTC) >= t0 + timedelta(milliseconds=20)
    assert types(chunks).count("workflow-step-waiting") == 2


async def test_sleep_until_naive_datetime_is_local_time() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"  # UTC+9: a naive value read as UTC would be 9 h away
    time.tzset()
    try:
        when = datetime.now() + timedelta(milliseconds=20)
        assert when.tzinfo is None
        wf = create_workflow(id="naive").sleep_until(when).commit()
        result = await asyncio.wait_for((await wf.create_run()).start(input_data=1), GUARD)
        assert result.status == "success"
        assert time.time() >= when.timestamp()
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# --- commit ----------------------------------------------------------------------------------


def test_building_on_committed_workflow_raises() -> None:
    wf = wf_of(const("a", 1))
    with pytest.raises(WorkflowDefinitionError):
        wf.then(const("b", 2))
    with pytest.raises(WorkflowDefinitionError):
        wf.sleep(1)


async def test_create_run_on_uncommitted_raises() -> None:
    wf = create_workflow(id="unc").then(const("a", 1))
    with pytest.raises(WorkflowDefinitionError):
        await wf.create_run()


def test_empty_workflow_rejected_at_commit() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="empty").commit()


def test_duplicate_step_ids_rejected_at_commit() -> None:
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="dup").then(const("x", 1)).then(const("x", 2)).commit()
    with pytest.raises(WorkflowDefinitionError):
        create_workflow(id="dup2").parallel([const("x", 1), const("x", 2)]).commit()


# =============================================================================================
# SPEC §4 Runs
# =============================================================================================


def test_run_method_keyword_names() -> None:
    def names(fn: Any) -> set[str]:
        return set(inspect.signature(fn).parameters)

    assert {"run_id", "resource_id"} <= names(rxflow.Workflow.create_run)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
    } <= names(rxflow.Run.start)
    assert {
        "input_data",
        "initial_state",
        "request_context",
        "tracing_context",
        "tracing_options",
        "close_on_suspend",
        "history_limit",
    } <= names(rxflow.Run.stream)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
    } <= names(rxflow.Run.resume)
    assert {
        "step",
        "resume_data",
        "request_context",
        "for_each_index",
        "label",
        "tracing_options",
        "history_limit",
    } <= names(rxflow.Run.resume_stream)
    assert inspect.signature(rxflow.Run.stream).parameters["close_on_suspend"].default is True
    for name in ("cancel", "observe_stream", "watch", "restart"):
        assert callable(getattr(rxflow.Run, name))


async def test_stream_starts_eagerly_and_returns_same_output_twice() -> None:
    ran = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        ran.set()
        return 1

    run = await wf_of(create_step(id="s", execute=body)).create_run()
    output = run.stream(input_data=None)
    assert output.status == "running"
    await asyncio.wait_for(ran.wait(), GUARD)  # nobody has read the output yet
    assert run.stream(input_data=None) is output
    assert (await output.result).status == "success"


async def test_create_run_with_live_id_returns_same_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    wf = wf_of(create_step(id="s", execute=body))
    run = await wf.create_run(run_id="live-1")
    output = run.stream(input_data=None)
    again = await wf.create_run(run_id="live-1")
    assert again is run
    gate.set()
    assert (await output.result).status == "success"


async def test_create_run_attaches_to_stored_run_and_resumes_without_rerunning() -> None:
    storage = InMemoryStorage()
    calls: list[str] = []

    def build() -> Any:
        async def first(ctx: StepContext) -> Any:
            calls.append("first")
            return "f"

        async def ask(ctx: StepContext) -> Any:
            calls.append("ask")
            if ctx.resume_data is None:
                return await ctx.suspend({})
            return ctx.input_data + ctx.resume_data

        return wf_of(
            create_step(id="first", execute=first),
            create_step(id="ask", execute=ask),
            wid="stored",
            storage=storage,
        )

    run = await build().create_run(run_id="stored-1")
    assert (await run.start(input_data=None)).status == "suspended"
    other = await build().create_run(run_id="stored-1")
    assert other.status == "suspended"
    result = await other.resume(resume_data="!")
    assert (result.status, result.result) == ("success", "f!")
    assert calls == ["first", "ask", "ask"]


async def test_validation_errors_raised_at_start_name_the_field() -> None:
    wf = wf_of(const("a", 1), wid="valid", input_schema=Num)
    run = await wf.create_run()
    with pytest.raises(ValidationError) as info:
        await run.start(input_data={"value": "3"})
    assert "$.value" in str(info.value)


async def test_invalid_initial_state_raises_at_start() -> None:
    wf = wf_of(const("a", 1), wid="vstate", state_schema=dict[str, int])
    with pytest.raises(ValidationError):
        await (await wf.create_run()).start(input_data=None, initial_state={"k": "x"})


async def test_invalid_request_context_raises_at_start() -> None:
    @attrs.frozen
    class Ctx:
        user: str

    wf = wf_of(const("a", 1), wid="vrc", request_context_schema=Ctx)
    with pytest.raises(ValidationError):
        await (await wf.create_run()).start(input_data=None, request_context={"user": 5})


# --- resume selection ------------------------------------------------------------------------


def two_askers(wid: str) -> tuple[Any, Any, Any]:
    a = asker("ask_a", label="la")
    b = asker("ask_b", label="lb")
    wf = create_workflow(id=wid).parallel([a, b]).commit()
    return wf, a, b


async def test_resume_without_step_with_several_suspended_names_them() -> None:
    wf, _, _ = two_askers("sev")
    run = await wf.create_run()
    first = await run.start(input_data=None)
    assert first.status == "suspended"
    assert sorted(first.suspended) == [["ask_a"], ["ask_b"]]
    assert first.suspend_payload == {"ask_a": {"asked": "ask_a"}, "ask_b": {"asked": "ask_b"}}
    with pytest.raises(ResumeError) as info:
        await run.resume(resume_data=1)
    assert "ask_a" in str(info.value) and "ask_b" in str(info.value)
    assert run.status == "suspended"


async def test_resume_by_step_object_then_by_id() -> None:
    wf, a, _ = two_askers("byobj")
    run = await wf.create_run()
    await run.start(input_data=None)
    mid = await run.resume(step=a, resume_data="A")
    assert mid.status == "suspended"
    assert mid.suspended == [["ask_b"]]
    done = await run.resume(step="ask_b", resume_data="B")
    assert done.status == "success"
    assert done.result == {"ask_a": "A", "ask_b": "B"}


async def test_resume_by_label() -> None:
    wf, _, _ = two_askers("bylabel")
    run = await wf.create_run()
    await run.start(input_data=None)
    mid = await run.resume(label="lb", resume_data="B")
    assert mid.suspended == [["ask_a"]]
    done = await run.resume(label="la", resume_data="A")
    assert done.result == {"ask_a": "A", "ask_b": "B"}


async def test_resume_unknown_label_is_rejected_and_run_stays_resumable() -> None:
    run = await wf_of(asker("ask", label="x")).create_run()
    await run.start(input_data=None)
    with pytest.raises(ResumeError):
        await run.resume(label="nope", resume_data=1)
    assert run.status == "suspended"
    assert (await run.resume(resume_data=1)).status == "success"


async def test_resume_nested_by_dotted_path_and_list() -> None:
    for selector in ("child.ask", ["child", "ask"]):
        child = wf_of(asker("ask"), wid="child")
        parent = wf_of(
            child,
            inc_after := create_step(id="after", execute=lambda ctx: f"after:{ctx.input_data}"),
            wid="nestres",
        )
        assert inc_after is not None
        run = await parent.create_run()
        output = run.stream(input_data=None)
        chunks = await collect(output)
        first = await output.result
        assert first.status == "suspended"
        assert first.suspended == [["child", "ask"]]
        assert one(chunks, "workflow-step-suspended", "child.ask")["stepName"] == "child.ask"
        done = await run.resume(step=selector, resume_data="yes")
        assert (done.status, done.result) == ("success", "after:yes"), selector


async def test_resume_of_step_that_is_not_suspended_is_rejected() -> None:
    run = await wf_of(const("first", 1), asker("ask")).create_run()
    await run.start(input_data=None)
    with pytest.raises(ResumeError):
        await run.resume(step="first", resume_data=1)
    assert run.status == "suspended"
    assert (await run.resume(step="ask", resume_data=1)).status == "success"


async def test_resume_of_run_that_is_not_suspended_is_rejected() -> None:
    run = await wf_of(const("a", 1)).create_run()
    await run.start(input_data=None)
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_resume_of_unknown_run_is_rejected() -> None:
    wf = wf_of(asker("ask"))
    run = await wf.create_run(run_id="never-started")
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_resume_data_validated_and_rejection_keeps_suspension() -> None:
    @attrs.frozen
    class Decision:
        approved: bool

    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data.approved

    run = await wf_of(create_step(id="ask", execute=body, resume_schema=Decision)).create_run()
    await run.start(input_data=None)
    with pytest.raises(ValidationError) as info:
        await run.resume(resume_data={"approved": "yes"})
    assert "$.approved" in str(info.value)
    assert run.status == "suspended"
    done = await run.resume(resume_data={"approved": True})
    assert (done.status, done.result) == ("success", True)


async def test_resume_retry_count_starts_again_at_zero() -> None:
    counts: list[int] = []

    async def body(ctx: StepContext) -> Any:
        counts.append(ctx.retry_count)
        if ctx.retry_count == 0 and ctx.resume_data is None:
            raise ValueError("retry me")
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return "ok"

    run = await wf_of(create_step(id="s", execute=body, retries=2)).create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    assert (await run.resume(resume_data=1)).status == "success"
    assert counts == [0, 1, 0]


async def test_concurrent_resume_second_gets_already_claimed() -> None:
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=body)).create_run()
    await run.start(input_data=None)
    winner = asyncio.create_task(run.resume(resume_data="first"))
    await asyncio.wait_for(entered.wait(), GUARD)
    with pytest.raises(ResumeAlreadyClaimedError):
        await run.resume(resume_data="second")
    loser = run.resume_stream(resume_data="third")
    chunks = await collect(loser)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "failed"
    with pytest.raises(ResumeAlreadyClaimedError):
        await loser.result
    gate.set()
    result = await asyncio.wait_for(winner, GUARD)
    assert (result.status, result.result) == ("success", "first")


# --- foreach resume --------------------------------------------------------------------------


def suspending_items(calls: dict[int, int]) -> Any:
    async def item(ctx: StepContext) -> Any:
        i = ctx.input_data
        calls[i] = calls.get(i, 0) + 1
        if i % 2 == 1 and ctx.resume_data is None:
            return await ctx.suspend({"item": i})
        return i if ctx.resume_data is None else f"{i}:{ctx.resume_data}"

    return create_step(id="it", execute=item)


async def test_foreach_resume_by_index_then_rest() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feres").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    first = await run.start(input_data=[0, 1, 2, 3])
    assert first.status == "suspended"
    mid = await run.resume(for_each_index=1, resume_data="x")
    assert mid.status == "suspended"
    assert calls == {0: 1, 1: 2, 2: 1, 3: 1}
    done = await run.resume(for_each_index=3, resume_data="y")
    assert done.status == "success"
    assert done.result == [0, "1:x", 2, "3:y"]
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2}


async def test_foreach_resume_without_index_resumes_every_suspended_item() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feall").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    await run.start(input_data=[0, 1, 2, 3])
    done = await run.resume(resume_data="z")
    assert done.status == "success"
    assert done.result == [0, "1:z", 2, "3:z"]
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2}


# --- cancel ----------------------------------------------------------------------------------


async def test_cancel_interrupts_async_body_and_persists_canceled() -> None:
    storage = InMemoryStorage()
    entered = asyncio.Event()
    saw_cancel: list[bool] = []

    async def body(ctx: StepContext) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.append(True)
            raise

    wf = wf_of(create_step(id="blocks", execute=body), const("after", 1), wid="cx", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await asyncio.wait_for(run.cancel(), GUARD)
    record = await storage.get_run("cx", run.run_id)
    assert record is not None and record.status == "canceled"
    chunks = await collect(output)
    assert saw_cancel == [True]
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "blocks"),
        ("workflow-step-result", "blocks"),
        ("workflow-canceled", None),
        ("workflow-finish", None),
    ]
    assert one(chunks, "workflow-step-result", "blocks")["status"] == "canceled"
    assert chunks[3].to_dict() == {
        "type": "workflow-canceled",
        "runId": run.run_id,
        "from": "WORKFLOW",
        "payload": {},
    }
    fin = finish(chunks)
    assert fin["workflowStatus"] == "canceled"
    assert fin["metadata"] == {}
    assert "finalWorkflowResult" not in fin
    result = await output.result
    assert result.status == "canceled"
    assert output.status == "canceled"


async def test_cancel_interrupts_sleep_at_once() -> None:
    wf = create_workflow(id="cxs").sleep(600_000).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-waiting":
                await run.cancel()

    await asyncio.wait_for(read(), GUARD)
    assert seen[-2:] == ["workflow-canceled", "workflow-finish"]
    assert (await output.result).status == "canceled"


async def test_cancel_interrupts_sleep_until() -> None:
    far = datetime.now(UTC) + timedelta(hours=1)
    wf = create_workflow(id="cxsu").sleep_until(far).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)

    async def read() -> list[str]:
        seen = []
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-waiting":
                await run.cancel()
        return seen

    seen = await asyncio.wait_for(read(), GUARD)
    assert seen[-1] == "workflow-finish"
    assert (await output.result).status == "canceled"


async def test_cancel_stops_queued_foreach_items() -> None:
    started: list[int] = []
    entered = asyncio.Event()

    async def item(ctx: StepContext) -> Any:
        started.append(ctx.input_data)
        entered.set()
        await asyncio.Event().wait()

    wf = (
        create_workflow(id="cxfe")
        .foreach(create_step(id="it", execute=item), concurrency=1)
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=[0, 1, 2, 3])
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    await collect(output)
    assert started == [0]
    assert (await output.result).status == "canceled"


async def test_abort_from_inside_cancels_run() -> None:
    after: list[int] = []

    async def body(ctx: StepContext) -> Any:
        ctx.abort()
        await asyncio.Event().wait()

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = wf_of(create_step(id="ab", execute=body), create_step(id="later", execute=later))
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    assert (await output.result).status == "canceled"
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert after == []


async def test_abort_signal_seen_by_thread_body_and_result_discarded() -> None:
    entered = threading.Event()
    saw_abort: list[bool] = []

    left = threading.Event()

    def body(ctx: StepContext) -> Any:
        entered.set()
        deadline = time.monotonic() + GUARD
        while not ctx.abort_signal.aborted and time.monotonic() < deadline:
            time.sleep(0.001)
        saw_abort.append(ctx.abort_signal.aborted)
        left.set()
        return "should be discarded"

    wf = wf_of(create_step(id="th", execute=body), const("after", 1), wid="cxth")
    run = await wf.create_run()
    output = run.stream(input_data=None)
    assert await asyncio.to_thread(entered.wait, GUARD)
    await run.cancel()
    chunks = await collect(output)
    result = await output.result
    assert result.status == "canceled"
    assert result.result is None
    assert "after" not in result.steps
    for p in of(chunks, "workflow-step-result", "th"):
        assert p.get("output") != "should be discarded"
    assert await asyncio.to_thread(left.wait, GUARD)  # the thread polls the signal
    assert saw_abort == [True]


async def test_abort_signal_wait_in_async_body() -> None:
    waited: list[bool] = []
    entered = asyncio.Event()

    async def watcher(ctx: StepContext) -> Any:
        entered.set()
        try:
            await ctx.abort_signal.wait()
            waited.append(ctx.abort_signal.aborted)
        except asyncio.CancelledError:
            waited.append(ctx.abort_signal.aborted)
            raise

    run = await wf_of(create_step(id="w", execute=watcher)).create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    await collect(output)
    assert waited == [True]


async def test_cancel_of_finished_run_is_a_noop() -> None:
    storage = InMemoryStorage()
    wf = wf_of(const("a", 1), wid="cxdone", storage=storage)
    run = await wf.create_run()
    result = await run.start(input_data=None)
    assert result.status == "success"
    await run.cancel()
    assert run.status == "success"
    record = await storage.get_run("cxdone", run.run_id)
    assert record is not None and record.status == "success"


async def test_cancel_of_suspended_run_persists_canceled() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxsusp0", storage=storage)
    run = await wf.create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    await run.cancel()
    record = await storage.get_run("cxsusp0", run.run_id)
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_cancel_of_suspended_run_ends_kept_open_output() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxsusp", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    await run.cancel()
    record = await storage.get_run("cxsusp", run.run_id)
    assert record is not None and record.status == "canceled"
    chunks = await collect(output)
    assert types(chunks)[-3:] == ["workflow-step-suspended", "workflow-canceled", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "canceled"
    assert output.status == "canceled"
    assert (await output.result).status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_cancel_when_suspended_event_arrives_kept_open() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxrace", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                await run.cancel()
                record = await storage.get_run("cxrace", run.run_id)
                assert record is not None and record.status == "canceled"

    await asyncio.wait_for(read(), GUARD)
    assert seen[-2:] == ["workflow-canceled", "workflow-finish"]
    assert output.status == "canceled"


async def test_cancel_when_suspended_event_arrives_closing_stream() -> None:
    storage = InMemoryStorage()
    wf = wf_of(asker("ask"), wid="cxrace2", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    async for chunk in output:
        if chunk.type == "workflow-step-suspended":
            await run.cancel()
            break
    record = await storage.get_run("cxrace2", run.run_id)
    assert record is not None and record.status == "canceled"
    assert run.status == "canceled"
    with pytest.raises(ResumeError):
        await run.resume(resume_data=1)


async def test_disposing_events_subscription_never_cancels_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return "done"

    run = await wf_of(create_step(id="s", execute=body)).create_run()
    output = run.stream(input_data=None)
    seen: list[str] = []
    disposable = output.events.subscribe(on_next=lambda c: seen.append(c.type))
    disposable.dispose()
    gate.set()
    result = await asyncio.wait_for(output.result, GUARD)
    assert (result.status, result.result) == ("success", "done")


# =============================================================================================
# SPEC §5 WorkflowRunOutput
# =============================================================================================


async def test_output_attributes() -> None:
    run = await wf_of(const("a", 1), wid="outattrs").create_run()
    output = run.stream(input_data=None)
    assert output.run_id == run.run_id
    assert output.workflow_id == "outattrs"
    assert isinstance(output, rxflow.WorkflowRunOutput)
    await collect(output)


async def test_iterating_output_twice_replays_from_first_event() -> None:
    run = await wf_of(inc("a"), inc("b")).create_run()
    output = run.stream(input_data=0)
    first = await collect(output)
    second = await collect(output)
    assert wire(first) == wire(second)
    assert first[0].type == "workflow-start" and first[-1].type == "workflow-finish"


async def test_late_reader_misses_nothing() -> None:
    run = await wf_of(inc("a"), inc("b")).create_run()
    output = run.stream(input_data=0)
    await output.result
    await output.usage
    chunks = await collect(output)
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]


async def test_full_stream_many_concurrent_consumers_see_whole_sequence() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    run = await wf_of(const("a", 0), create_step(id="b", execute=body)).create_run()
    output = run.stream(input_data=None)

    async def consume() -> list[dict[str, Any]]:
        return [c.to_dict() async for c in output.full_stream]

    tasks = [asyncio.create_task(consume()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    lists = await asyncio.wait_for(asyncio.gather(*tasks), GUARD)
    late = [c.to_dict() async for c in output.full_stream]
    assert lists[0] == lists[1] == lists[2] == late
    assert lists[0][0]["type"] == "workflow-start"
    assert lists[0][-1]["type"] == "workflow-finish"


async def test_events_observable_replays_and_completes() -> None:
    run = await wf_of(inc("a")).create_run()
    output = run.stream(input_data=1)
    await collect(output)
    got: list[str] = []
    completed = asyncio.Event()
    output.events.pipe(ops.map(lambda c: c.type)).subscribe(
        on_next=got.append, on_completed=completed.set
    )
    await asyncio.wait_for(completed.wait(), GUARD)
    assert got == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert isinstance(output.events, reactivex.Observable)


async def test_failed_step_result_resolves_not_rejects() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("bad")

    output = (await wf_of(create_step(id="b", execute=boom)).create_run()).stream(input_data=None)
    result = await output.result
    assert result.status == "failed"
    assert output.status == "failed"
    await collect(output)


async def test_usage_resolves_with_totals() -> None:
    async def body(ctx: StepContext) -> Any:
        ctx.record_usage(3, 4)
        ctx.record_usage(input_tokens=1, output_tokens=1, reasoning_tokens=2)
        return None

    output = (await wf_of(create_step(id="u", execute=body)).create_run()).stream(input_data=None)
    chunks = await collect(output)
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (4, 5, 9)
    assert usage.reasoning_tokens == 2
    assert usage.cached_input_tokens is None
    wire_usage = finish(chunks)["output"]["usage"]
    assert set(wire_usage) == USAGE_KEYS
    assert wire_usage["inputTokens"] == 4 and wire_usage["totalTokens"] == 9
    assert wire_usage["reasoningTokens"] == 2 and wire_usage["cachedInputTokens"] == 0
    assert all(isinstance(v, int) for v in wire_usage.values())


async def test_status_starts_running_and_ends_at_final_status() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    output = (await wf_of(create_step(id="s", execute=body)).create_run()).stream(input_data=None)
    assert output.status == "running"
    gate.set()
    await collect(output)
    assert output.status == "success"


# --- close_on_suspend ------------------------------------------------------------------------


async def test_close_on_suspend_true_ends_stream_and_resume_stream_is_new_segment() -> None:
    run = await wf_of(const("a", 1), asker("ask"), inc("after"), wid="cos").create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert output.status == "suspended"
    fin = finish(chunks)
    assert fin["workflowStatus"] == "suspended"
    assert fin["metadata"] == {}
    assert "finalWorkflowResult" not in fin
    assert (await output.result).status == "suspended"
    second = run.resume_stream(resume_data=41)
    assert second is not output
    chunks2 = await collect(second)
    assert shape(chunks2) == [
        ("workflow-start", None),
        ("workflow-step-start", "ask"),
        ("workflow-step-result", "ask"),
        ("workflow-step-start", "after"),
        ("workflow-step-result", "after"),
        ("workflow-finish", None),
    ]
    assert finish(chunks2)["workflowStatus"] == "success"
    assert finish(chunks2)["finalWorkflowResult"] == 42
    assert second.status == "success"
    assert (await second.result).result == 42
    # the first output stays closed and unchanged
    assert wire(await collect(output)) == wire(chunks)


async def test_close_on_suspend_false_fed_by_resume_ends_at_final_status() -> None:
    gate = asyncio.Event()
    resumed_entered = asyncio.Event()

    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"q": 1})
        resumed_entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=ask), wid="open").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    suspended = asyncio.Event()

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                suspended.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(suspended.wait(), GUARD)
    assert output.status == "suspended"
    assert "workflow-finish" not in seen
    resume_task = asyncio.create_task(run.resume(resume_data="yes"))
    await asyncio.wait_for(resumed_entered.wait(), GUARD)
    assert output.status == "running"
    gate.set()
    resumed = await asyncio.wait_for(resume_task, GUARD)
    await asyncio.wait_for(reader, GUARD)
    assert resumed.status == "success"
    assert seen.count("workflow-start") == 1
    assert seen[-1] == "workflow-finish"
    assert seen.index("workflow-step-suspended") < seen.index("workflow-step-result")
    result = await output.result
    assert (result.status, result.result) == ("success", "yes")
    assert output.status == "success"
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "success"


async def test_close_on_suspend_false_result_waits_for_final_end() -> None:
    run = await wf_of(asker("ask"), wid="openres").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    result_task = asyncio.ensure_future(output.result)
    chunks: list[Any] = []

    async def read() -> None:
        async for chunk in output:
            chunks.append(chunk)
            if chunk.type == "workflow-step-suspended":
                await asyncio.sleep(0)
                assert not result_task.done()
                await run.resume(resume_data="final")

    await asyncio.wait_for(read(), GUARD)
    result = await result_task
    assert (result.status, result.result) == ("success", "final")


async def _pay_1_token(ctx: StepContext) -> Any:
    """Records 1+1 tokens (usage tests)."""
    ctx.record_usage(1, 1)
    return 1


async def _ask_then_pay_10(ctx: StepContext) -> Any:
    """Suspends; once resumed records 10+10 tokens and returns the resume data."""
    if ctx.resume_data is None:
        return await ctx.suspend({})
    ctx.record_usage(10, 10)
    return ctx.resume_data


async def test_close_on_suspend_false_with_resume_stream_feeds_both_outputs() -> None:
    wf = wf_of(
        create_step(id="pay", execute=_pay_1_token),
        create_step(id="ask", execute=_ask_then_pay_10),
        wid="both",
    )
    run = await wf.create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    kept_chunks: list[Any] = []
    suspended = asyncio.Event()

    async def read() -> None:
        async for chunk in kept:
            kept_chunks.append(chunk)
            if chunk.type == "workflow-step-suspended":
                suspended.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(suspended.wait(), GUARD)
    second = run.resume_stream(resume_data="r")
    second_chunks = await collect(second)
    await asyncio.wait_for(reader, GUARD)
    assert types(second_chunks)[0] == "workflow-start"
    assert finish(second_chunks)["workflowStatus"] == "success"
    assert types(kept_chunks).count("workflow-start") == 1
    assert finish(kept_chunks)["workflowStatus"] == "success"
    # the kept-open output was fed the same step events as the new one
    assert wire(second_chunks[1:-1]) == wire(kept_chunks[-1 - len(second_chunks[1:-1]) : -1])
    kept_usage = await kept.usage
    second_usage = await second.usage
    assert (second_usage.input_tokens, second_usage.output_tokens) == (10, 10)
    assert (kept_usage.input_tokens, kept_usage.output_tokens) == (11, 11)
    assert kept.status == "success" and second.status == "success"
    assert (await kept.result).result == "r"


# --- history_limit ---------------------------------------------------------------------------


async def test_history_limit_bounds_replay_but_live_subscribers_lose_nothing() -> None:
    gate = asyncio.Event()

    async def first(ctx: StepContext) -> Any:
        await gate.wait()
        return 0

    steps = [create_step(id="first", execute=first)] + [inc(f"s{i}") for i in range(5)]
    run = await wf_of(*steps, wid="hist").create_run()
    output = run.stream(input_data=None, history_limit=3)
    live: list[dict[str, Any]] = []
    output.events.subscribe(on_next=lambda c: live.append(c.to_dict()))
    gate.set()
    await output.result
    await output.usage
    late = wire(await collect(output))
    assert len(live) == 1 + 2 * 6 + 1
    assert live[0]["type"] == "workflow-start"
    assert len(late) == 3
    assert late == live[-3:]
    assert late[-1]["type"] == "workflow-finish"
    replay = [c.to_dict() async for c in output.full_stream]
    assert replay == live[-3:]


async def test_resume_stream_history_limit() -> None:
    run = await wf_of(asker("ask"), inc("a"), inc("b"), wid="histres").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1, history_limit=2)
    await output.result
    await output.usage
    late = await collect(output)
    assert types(late) == ["workflow-step-result", "workflow-finish"]


# --- observe_stream / watch ------------------------------------------------------------------


async def test_observe_stream_replays_latest_segment() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="obs").create_run()
    first = run.stream(input_data=None)
    first_chunks = await collect(first)
    observed = await collect(run.observe_stream())
    assert wire(observed) == wire(first_chunks)
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    observed2 = await collect(run.observe_stream())
    assert wire(observed2) == wire(second_chunks)


async def test_observe_stream_follows_live_run() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    run = await wf_of(create_step(id="s", execute=body), wid="obslive").create_run()
    output = run.stream(input_data=None)
    observer = asyncio.create_task(collect(run.observe_stream()))
    await asyncio.sleep(0)
    gate.set()
    observed = await observer
    assert wire(observed) == wire(await collect(output))


async def test_watch_gets_raw_events_including_step_finish_and_unsubscribes() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="watch").create_run()
    got: list[Any] = []
    unsubscribe = run.watch(got.append)
    assert callable(unsubscribe)
    await collect(run.stream(input_data=None))
    kinds = [c.type for c in got]
    assert "workflow-step-start" in kinds
    assert "workflow-step-suspended" in kinds
    unsubscribe()
    count = len(got)
    await collect(run.resume_stream(resume_data=1))
    assert len(got) == count


async def test_watch_sees_step_finish_after_result() -> None:
    run = await wf_of(inc("a"), inc("b"), wid="watch2").create_run()
    got: list[Any] = []
    run.watch(got.append)
    chunks = await collect(run.stream(input_data=0))
    kinds = [c.type for c in got]
    assert kinds.count("workflow-step-finish") == 2
    assert "workflow-step-finish" not in types(chunks)
    for i, kind in enumerate(kinds):
        if kind == "workflow-step-finish":
            assert kinds[i - 1] == "workflow-step-result"


async def test_watch_delivers_engine_events_only() -> None:
    # rxflow's choice (SPEC: "raw events, including workflow-step-finish"): workflow-start and
    # workflow-finish are synthesized by each output, so watch() sees the engine's events only.
    run = await wf_of(inc("a"), wid="watch3").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=0))
    kinds = [c.type for c in got]
    assert kinds == ["workflow-step-start", "workflow-step-result", "workflow-step-finish"]


# =============================================================================================
# SPEC §6 Events and §16 wire details
# =============================================================================================


async def test_step_start_and_result_wire_fields() -> None:
    run = await wf_of(inc("a"), wid="wirestep").create_run()
    t0 = now_ms()
    chunks = await collect(run.stream(input_data=1))
    t1 = now_ms()
    for c in chunks:
        assert attrs.has(type(c))
        assert c.run_id == run.run_id
        assert c.from_ == "WORKFLOW"
        d = c.to_dict()
        assert set(d) == {"type", "runId", "from", "payload"}
    assert chunks[0].to_dict()["payload"] == {"workflowId": "wirestep"}
    start = one(chunks, "workflow-step-start", "a")
    assert set(start) == {"id", "stepName", "stepCallId", "status", "payload", "startedAt"}
    assert start["status"] == "running"
    assert start["payload"] == 1
    assert isinstance(start["stepCallId"], str) and start["stepCallId"]
    result = one(chunks, "workflow-step-result", "a")
    assert set(result) == {
        "id",
        "stepName",
        "stepCallId",
        "status",
        "payload",
        "startedAt",
        "endedAt",
        "output",
    }
    assert result["stepCallId"] == start["stepCallId"]
    assert result["startedAt"] == start["startedAt"]
    assert result["output"] == 2
    for ts in (start["startedAt"], result["startedAt"], result["endedAt"]):
        assert isinstance(ts, int) and not isinstance(ts, bool)
        assert t0 - 1 <= ts <= t1 + 1
    assert result["endedAt"] >= result["startedAt"]
    fin = finish(chunks)
    assert set(fin) == {"workflowStatus", "output", "metadata", "finalWorkflowResult"}
    assert fin["workflowStatus"] == "success"
    assert fin["metadata"] == {}
    assert fin["finalWorkflowResult"] == 2
    assert set(fin["output"]) == {"usage"}
    assert set(fin["output"]["usage"]) == USAGE_KEYS


async def test_null_values_that_apply_are_present() -> None:
    async def nothing(ctx: StepContext) -> Any:
        return None

    run = await wf_of(create_step(id="n", execute=nothing), wid="nulls").create_run()
    chunks = await collect(run.stream(input_data=None))
    start = one(chunks, "workflow-step-start", "n")
    assert "payload" in start and start["payload"] is None
    result = one(chunks, "workflow-step-result", "n")
    assert "output" in result and result["output"] is None
    assert "error" not in result
    fin = finish(chunks)
    assert "finalWorkflowResult" in fin and fin["finalWorkflowResult"] is None


async def test_failed_step_and_finish_wire_errors_without_stack() -> None:
    class QuotaExceeded(Exception):
        pass

    async def boom(ctx: StepContext) -> Any:
        raise QuotaExceeded("over quota")

    run = await wf_of(create_step(id="b", execute=boom), wid="errwire").create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    result = one(chunks, "workflow-step-result", "b")
    assert result["status"] == "failed"
    assert result["error"] == {"message": "over quota", "name": "QuotaExceeded"}
    assert "output" not in result
    assert "tripwire" not in result
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert fin["metadata"] == {
        "error": {"message": "over quota", "name": "QuotaExceeded"},
        "errorMessage": "over quota",
    }
    assert "finalWorkflowResult" not in fin
    assert output.status == "failed"


async def test_suspended_event_wire_fields() -> None:
    run = await wf_of(asker("ask"), wid="suspwire").create_run()
    chunks = await collect(run.stream(input_data={"in": 1}))
    s = one(chunks, "workflow-step-suspended", "ask")
    assert set(s) == {
        "id",
        "stepName",
        "stepCallId",
        "status",
        "payload",
        "startedAt",
        "suspendPayload",
        "suspendedAt",
    }
    assert s["status"] == "suspended"
    assert s["payload"] == {"in": 1}
    assert s["suspendPayload"] == {"asked": "ask"}
    assert isinstance(s["suspendedAt"], int)
    start = one(chunks, "workflow-step-start", "ask")
    assert s["stepCallId"] == start["stepCallId"]
    assert of(chunks, "workflow-step-result", "ask") == []


async def test_resumed_step_wire_fields() -> None:
    run = await wf_of(asker("ask"), wid="reswire").create_run()
    chunks1 = await collect(run.stream(input_data="in"))
    start1 = one(chunks1, "workflow-step-start", "ask")
    chunks2 = await collect(run.resume_stream(resume_data={"ok": True}))
    start2 = one(chunks2, "workflow-step-start", "ask")
    assert start2["startedAt"] == start1["startedAt"]
    assert start2["stepCallId"] != start1["stepCallId"]
    assert start2["resumePayload"] == {"ok": True}
    assert isinstance(start2["resumedAt"], int)
    assert start2["resumedAt"] >= start2["startedAt"]
    assert start2["payload"] == "in"
    assert set(start2) == {
        "id",
        "stepName",
        "stepCallId",
        "status",
        "payload",
        "startedAt",
        "resumePayload",
        "resumedAt",
    }
    result = one(chunks2, "workflow-step-result", "ask")
    assert result["resumePayload"] == {"ok": True}
    assert result["resumedAt"] == start2["resumedAt"]
    assert result["stepCallId"] == start2["stepCallId"]
    assert result["output"] == {"ok": True}


async def test_loop_events_carry_iteration_count() -> None:
    wf = create_workflow(id="loopwire").dountil(inc("it"), lambda ctx: ctx.input_data >= 2).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=0))
    starts = of(chunks, "workflow-step-start", "it")
    results = of(chunks, "workflow-step-result", "it")
    assert [s["metadata"] for s in starts] == [{"iterationCount": 1}, {"iterationCount": 2}]
    assert [r["metadata"] for r in results] == [{"iterationCount": 1}, {"iterationCount": 2}]
    assert len({s["stepCallId"] for s in starts}) == 2


async def test_foreach_wire_fields() -> None:
    wf = create_workflow(id="fewire").foreach(inc("it"), concurrency=2).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=[1, 2]))
    start = one(chunks, "workflow-step-start", "it")
    assert "stepCallId" not in start
    assert start["payload"] == [1, 2]
    assert start["status"] == "running"
    assert "startedAt" in start
    for p in of(chunks, "workflow-step-progress", "it"):
        assert set(p) == {
            "id",
            "stepName",
            "completedCount",
            "totalCount",
            "currentIndex",
            "iterationStatus",
            "iterationOutput",
        }
    result = one(chunks, "workflow-step-result", "it")
    assert set(result) == {"id", "stepName", "status", "output", "endedAt"}
    assert result["output"] == [2, 3]


async def test_progress_payload_attributes_are_snake_case() -> None:
    wf = create_workflow(id="snake").foreach(inc("it")).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=[1]))
    progress = [c for c in chunks if c.type == "workflow-step-progress"][0]
    p = progress.payload
    assert (p.completed_count, p.total_count, p.current_index) == (1, 1, 0)
    assert p.iteration_status == "success"
    assert p.iteration_output == 2
    assert p.step_name == p.id == "it"


async def test_every_payload_with_id_has_step_name_equal_to_id() -> None:
    child = wf_of(inc("inner"), wid="kid")
    wf = (
        create_workflow(id="names")
        .then(child)
        .foreach(create_step(id="fe", execute=lambda ctx: ctx.input_data), concurrency=1)
        .sleep(1)
        .commit()
    )
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=[1]))
    for c in chunks:
        payload = c.to_dict().get("payload") or {}
        if "id" in payload:
            assert payload["stepName"] == payload["id"], c.to_dict()
            assert c.payload.step_name == c.payload.id


async def test_watch_step_finish_payload_has_step_name() -> None:
    run = await wf_of(inc("a"), wid="wsf").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=0))
    finishes = [c.to_dict() for c in got if c.type == "workflow-step-finish"]
    assert finishes
    for d in finishes:
        assert d["payload"]["stepName"] == d["payload"]["id"]


async def test_nested_workflow_ids_and_no_child_start_finish() -> None:
    child = wf_of(inc("inner"), inc("inner2"), wid="child")
    parent = wf_of(inc("before"), child, wid="parent")
    chunks = await collect((await parent.create_run()).stream(input_data=0))
    assert shape(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "before"),
        ("workflow-step-result", "before"),
        ("workflow-step-start", "child"),
        ("workflow-step-start", "child.inner"),
        ("workflow-step-result", "child.inner"),
        ("workflow-step-start", "child.inner2"),
        ("workflow-step-result", "child.inner2"),
        ("workflow-step-result", "child"),
        ("workflow-finish", None),
    ]
    assert types(chunks).count("workflow-start") == 1
    assert types(chunks).count("workflow-finish") == 1
    assert one(chunks, "workflow-step-result", "child")["output"] == 3
    assert one(chunks, "workflow-step-result", "child.inner")["stepName"] == "child.inner"


async def test_user_values_keep_their_keys() -> None:
    value = {"snake_case": 1, "camelCase": 2, "with space": 3, "step_call_id": 4}

    async def body(ctx: StepContext) -> Any:
        ctx.set_state({"my_state_key": 1})
        return ctx.input_data

    run = await wf_of(create_step(id="echo", execute=body), wid="keys").create_run()
    output = run.stream(input_data=value)
    chunks = await collect(output)
    assert one(chunks, "workflow-step-start", "echo")["payload"] == value
    assert one(chunks, "workflow-step-result", "echo")["output"] == value
    assert finish(chunks)["finalWorkflowResult"] == value
    d = (await output.result).to_dict()
    assert d["result"] == value
    assert d["state"] == {"my_state_key": 1}
    assert d["steps"]["input"] == value
    assert d["input"] == value


async def test_result_to_dict_steps_has_input_key() -> None:
    result = await (await wf_of(inc("a")).create_run()).start(input_data=5)
    d = result.to_dict()
    assert d["steps"]["input"] == 5
    assert "input" not in result.steps


async def test_sequential_entries_never_interleave() -> None:
    async def writer(ctx: StepContext) -> Any:
        await ctx.writer.write("x")
        await asyncio.sleep(0)
        return ctx.input_data

    wf = wf_of(create_step(id="a", execute=writer), create_step(id="b", execute=writer), wid="seq")
    chunks = await collect((await wf.create_run()).stream(input_data=0))
    assert types(chunks) == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-result",
        "workflow-finish",
    ]


def sample_workflows() -> list[tuple[Any, Any, dict[str, Any]]]:
    """A spread of runs touching every event type, for round-trip checks."""

    async def writes(ctx: StepContext) -> Any:
        await ctx.writer.write({"k": [1, 2]})
        await ctx.writer.custom({"type": "data-note", "data": {"n": 1}, "id": "x1"})
        ctx.record_usage(1, 2, reasoning_tokens=1)
        return {"out": ctx.input_data}

    async def boom(ctx: StepContext) -> Any:
        raise ValueError("nope")

    async def trip(ctx: StepContext) -> Any:
        raise TripWire("stop", metadata={"a": 1})

    async def bail(ctx: StepContext) -> Any:
        return ctx.bail([1, None])

    def item(ctx: StepContext) -> Any:
        if ctx.input_data == 2:
            raise ValueError("bad item")
        return ctx.input_data

    child = wf_of(inc("in"), wid="rtchild")
    return [
        (
            create_workflow(id="rt1")
            .then(create_step(id="w", execute=writes))
            .parallel([const("p1", None), const("p2", {"a": 1})])
            .branch([(lambda c: True, const("b1", 1))])
            .sleep(1)
            .map(lambda c: 1)
            .dowhile(inc("loop"), lambda c: c.input_data < 3)
            .then(child)
            .then(asker("ask"))
            .commit(),
            1,
            {"resume_data": {"x": None}},
        ),
        (wf_of(create_step(id="boom", execute=boom), wid="rt2"), None, {}),
        (wf_of(create_step(id="trip", execute=trip), wid="rt3"), None, {}),
        (wf_of(create_step(id="bail", execute=bail), wid="rt4"), None, {}),
        (
            create_workflow(id="rt5").foreach(create_step(id="it", execute=item)).commit(),
            [1, 2, 3],
            {},
        ),
        (wf_of(const("a", 1), wid="rt6", input_schema=int), "not an int", {}),
    ]


async def test_from_dict_round_trips_every_wire_dict() -> None:
    seen_types: set[str] = set()
    for wf, input_data, resume in sample_workflows():
        run = await wf.create_run()
        outputs = [run.stream(input_data=input_data)]
        await collect(outputs[0])
        if resume:
            outputs.append(run.resume_stream(**resume))
        for output in outputs:
            for chunk in await collect(output):
                d = chunk.to_dict()
                seen_types.add(d["type"])
                back = from_dict(d)
                assert back.to_dict() == d, d
                assert back.type == chunk.type
    assert {
        "workflow-start",
        "workflow-step-start",
        "workflow-step-output",
        "workflow-step-progress",
        "workflow-step-result",
        "workflow-step-suspended",
        "workflow-step-waiting",
        "workflow-finish",
        "data-note",
    } <= seen_types


async def test_from_dict_round_trips_canceled_and_watch_events() -> None:
    entered = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await wf_of(inc("a"), create_step(id="blk", execute=body), wid="rtc").create_run()
    watched: list[Any] = []
    run.watch(watched.append)
    output = run.stream(input_data=0)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    for chunk in await collect(output) + watched:
        d = chunk.to_dict()
        assert from_dict(d).to_dict() == d, d


async def test_from_dict_gives_plain_data_for_user_values() -> None:
    @attrs.frozen
    class Point:
        x: int
        y: int

    async def body(ctx: StepContext) -> Any:
        return Point(1, 2)

    wf = wf_of(create_step(id="p", execute=body, output_schema=Point), wid="plain")
    run = await wf.create_run()
    chunks = await collect(run.stream(input_data=None))
    result_chunk = [c for c in chunks if c.type == "workflow-step-result"][0]
    d = result_chunk.to_dict()
    assert d["payload"]["output"] == {"x": 1, "y": 2}
    back = from_dict(d)
    assert back.payload.output == {"x": 1, "y": 2}
    assert back.to_dict() == d


async def test_from_dict_error_is_message_name_dict() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("bad")

    chunks = await collect(
        (await wf_of(create_step(id="b", execute=boom)).create_run()).stream(input_data=None)
    )
    d = [c for c in chunks if c.type == "workflow-step-result"][0].to_dict()
    back = from_dict(d)
    assert back.payload.error == {"message": "bad", "name": "ValueError"}


def test_from_dict_reads_custom_chunk_for_any_data_type() -> None:
    d = {"type": "data-anything", "runId": "r", "from": "USER", "data": [1, 2], "x": {"y": 1}}
    chunk = from_dict(d)
    assert isinstance(chunk, CustomChunk)
    assert chunk.type == "data-anything"
    assert chunk.run_id == "r"
    assert chunk.data == [1, 2]
    assert chunk.to_dict() == d


# =============================================================================================
# SPEC §16 "Errors from stream() and resume_stream()"
# =============================================================================================


async def test_stream_with_invalid_input_reports_through_output() -> None:
    wf = wf_of(const("a", 1), wid="badin", input_schema=Num)
    run = await wf.create_run()
    output = run.stream(input_data={"value": "x"})  # must not raise
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert fin["metadata"]["error"]["name"] == "ValidationError"
    assert "$.value" in fin["metadata"]["errorMessage"]
    assert fin["metadata"]["errorMessage"] == fin["metadata"]["error"]["message"]
    assert "finalWorkflowResult" not in fin
    assert output.status == "failed"
    with pytest.raises(ValidationError):
        await output.result


async def test_stream_with_invalid_initial_state_reports_through_output() -> None:
    wf = wf_of(const("a", 1), wid="badstate", state_schema=dict[str, int])
    output = (await wf.create_run()).stream(input_data=None, initial_state={"k": "v"})
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert output.status == "failed"
    with pytest.raises(ValidationError):
        await output.result


async def test_resume_stream_of_not_suspended_run_reports_through_output() -> None:
    run = await wf_of(const("a", 1), wid="notsusp").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1)
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert fin["metadata"]["error"]["name"] == "ResumeError"
    assert set(fin["metadata"]) == {"error", "errorMessage"}
    assert output.status == "failed"
    with pytest.raises(ResumeError):
        await output.result


async def test_resume_stream_with_bad_resume_data_keeps_run_resumable() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    wf = wf_of(create_step(id="ask", execute=body, resume_schema=int), wid="badres")
    run = await wf.create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data="not an int")
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert output.status == "failed"
    with pytest.raises(ValidationError):
        await output.result
    assert run.status == "suspended"
    assert (await run.resume(resume_data=5)).result == 5


async def test_resume_stream_with_unknown_step_keeps_run_resumable() -> None:
    run = await wf_of(asker("ask"), wid="badstep").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(step="nope", resume_data=1)
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "failed"
    with pytest.raises(ResumeError):
        await output.result
    assert (await run.resume(step="ask", resume_data=1)).status == "success"


# =============================================================================================
# More control flow, cancellation and output details
# =============================================================================================


async def test_bail_in_parallel_branch_ends_whole_workflow() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail("stop here")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = (
        create_workflow(id="parbail")
        .parallel([create_step(id="bailer", execute=bailer), const("other", 1)])
        .then(create_step(id="later", execute=later))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "stop here")
    assert after == []


async def test_bail_in_branch_ends_whole_workflow() -> None:
    after: list[int] = []

    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail("stop here")

    async def later(ctx: StepContext) -> Any:
        after.append(1)

    wf = (
        create_workflow(id="brbail")
        .branch([(lambda ctx: True, create_step(id="bailer", execute=bailer))])
        .then(create_step(id="later", execute=later))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert (result.status, result.result) == ("success", "stop here")
    assert after == []


async def test_bail_in_loop_ends_whole_workflow() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.input_data >= 2:
            return ctx.bail("bailed at 2")
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopbail")
        .dowhile(create_step(id="it", execute=body), lambda ctx: True)
        .then(const("never", 0))
        .commit()
    )
    result = await asyncio.wait_for((await wf.create_run()).start(input_data=0), GUARD)
    assert (result.status, result.result) == ("success", "bailed at 2")
    assert "never" not in result.steps


async def test_tripwire_in_parallel_branch() -> None:
    async def trip(ctx: StepContext) -> Any:
        raise TripWire("no")

    wf = (
        create_workflow(id="partrip")
        .parallel([create_step(id="t", execute=trip), const("ok", 1)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "tripwire"
    assert result.tripwire.reason == "no"


async def test_retry_delay_is_in_milliseconds() -> None:
    attempts: list[float] = []

    async def body(ctx: StepContext) -> Any:
        attempts.append(time.monotonic())
        raise ValueError("x")

    wf = wf_of(
        create_step(id="f", execute=body),
        wid="delay",
        retry_config=RetryConfig(attempts=1, delay=30),
    )
    await (await wf.create_run()).start(input_data=None)
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.025
    assert attempts[1] - attempts[0] < 5


async def test_foreach_empty_list() -> None:
    wf = create_workflow(id="feempty").foreach(inc("it"), concurrency=2).commit()
    output = (await wf.create_run()).stream(input_data=[])
    chunks = await collect(output)
    assert (await output.result).result == []
    assert of(chunks, "workflow-step-progress") == []
    assert one(chunks, "workflow-step-result", "it")["output"] == []


async def test_map_step_emits_step_events() -> None:
    wf = create_workflow(id="mapev").map(lambda ctx: {"v": ctx.input_data}).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=1))
    start = one(chunks, "workflow-step-start", "mapping_mapev_0")
    result = one(chunks, "workflow-step-result", "mapping_mapev_0")
    assert start["stepName"] == "mapping_mapev_0"
    assert result["output"] == {"v": 1}


async def test_sleep_ids_count_every_sleep_entry() -> None:
    wf = create_workflow(id="sids").sleep(1).sleep_until(datetime.now(UTC)).sleep(1).commit()
    chunks = await collect((await wf.create_run()).stream(input_data=None))
    assert [p["id"] for p in of(chunks, "workflow-step-waiting")] == [
        "sleep_sids_0",
        "sleep_sids_1",
        "sleep_sids_2",
    ]


async def test_sleep_function_gets_context() -> None:
    seen: list[Any] = []

    def duration(ctx: Any) -> int:
        seen.append(ctx.input_data)
        return 1

    wf = create_workflow(id="sfn").then(inc("a")).sleep(duration).commit()
    result = await (await wf.create_run()).start(input_data=1)
    assert result.result == 2
    assert seen == [2]


async def test_cancel_parallel_emits_canceled_results_before_workflow_canceled() -> None:
    entered = [asyncio.Event(), asyncio.Event()]

    def blocker(sid: str, n: int) -> Any:
        async def body(ctx: StepContext) -> Any:
            entered[n].set()
            await asyncio.Event().wait()

        return create_step(id=sid, execute=body)

    wf = create_workflow(id="cxpar").parallel([blocker("a", 0), blocker("b", 1)]).commit()
    run = await wf.create_run()
    output = run.stream(input_data=None)
    for e in entered:
        await asyncio.wait_for(e.wait(), GUARD)
    await run.cancel()
    chunks = await collect(output)
    kinds = types(chunks)
    assert kinds[-2:] == ["workflow-canceled", "workflow-finish"]
    for sid in ("a", "b"):
        assert one(chunks, "workflow-step-result", sid)["status"] == "canceled"
    results = [i for i, t in enumerate(kinds) if t == "workflow-step-result"]
    assert max(results) < kinds.index("workflow-canceled")
    result = await output.result
    assert result.status == "canceled"


async def test_cancel_inside_nested_workflow() -> None:
    entered = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    child = wf_of(create_step(id="inner", execute=body), wid="kid")
    parent = wf_of(child, const("after", 1), wid="cxnest")
    run = await parent.create_run()
    output = run.stream(input_data=None)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    chunks = await collect(output)
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert types(chunks).count("workflow-canceled") == 1
    assert one(chunks, "workflow-step-result", "kid.inner")["status"] == "canceled"
    assert (await output.result).status == "canceled"


async def test_abort_from_sync_body() -> None:
    def body(ctx: StepContext) -> Any:
        ctx.abort()
        return "ignored"

    wf = wf_of(create_step(id="ab", execute=body), const("later", 1), wid="syncabort")
    output = (await wf.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "canceled"
    assert "later" not in result.steps
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]


async def test_kept_open_output_survives_second_suspension() -> None:
    async def twice(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"round": 1})
        return ctx.resume_data

    wf = wf_of(
        create_step(id="one", execute=twice),
        create_step(id="two", execute=twice),
        wid="twosusp",
    )
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    suspensions = 0

    async def read() -> None:
        nonlocal suspensions
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                suspensions += 1
                assert output.status == "suspended"

    reader = asyncio.create_task(read())
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(resume_data="A")
    assert mid.status == "suspended"
    assert not reader.done()
    assert output.status == "suspended"
    done = await run.resume(resume_data="B")
    assert done.status == "success"
    await asyncio.wait_for(reader, GUARD)
    assert suspensions == 2
    assert seen.count("workflow-start") == 1 and seen.count("workflow-finish") == 1
    result = await output.result
    assert (result.status, result.result) == ("success", "B")


async def test_resume_stream_closes_when_its_segment_suspends_again() -> None:
    async def twice(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    wf = wf_of(
        create_step(id="one", execute=twice), create_step(id="two", execute=twice), wid="rsagain"
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data="A")
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "suspended"
    assert output.status == "suspended"
    assert (await output.result).suspended == [["two"]]


async def test_kept_open_output_ends_failed_when_resumed_step_fails() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        raise ValueError("rejected")

    run = await wf_of(create_step(id="ask", execute=body), wid="openfail").create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    resumed = await run.resume(resume_data=1)
    assert resumed.status == "failed"
    chunks = await collect(output)
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert fin["metadata"] == {
        "error": {"message": "rejected", "name": "ValueError"},
        "errorMessage": "rejected",
    }
    assert output.status == "failed"
    assert (await output.result).status == "failed"


async def test_kept_open_output_stays_open_after_rejected_resume() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.resume_data

    run = await wf_of(
        create_step(id="ask", execute=body, resume_schema=int), wid="openrej"
    ).create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    with pytest.raises(ValidationError):
        await run.resume(resume_data="nope")
    rejected = run.resume_stream(resume_data="still nope")
    await collect(rejected)
    assert output.status == "suspended"
    done = await run.resume(resume_data=3)
    assert done.result == 3
    chunks = await collect(output)
    assert types(chunks).count("workflow-start") == 1
    assert finish(chunks)["workflowStatus"] == "success"


async def test_kept_open_parallel_resumed_branch_by_branch() -> None:
    wf, a, b = two_askers("openpar")
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(step="ask_a", resume_data="A")
    assert mid.status == "suspended"
    assert mid.suspended == [["ask_b"]]
    await run.resume(step=b, resume_data="B")
    chunks = await collect(output)
    assert finish(chunks)["workflowStatus"] == "success"
    assert finish(chunks)["finalWorkflowResult"] == {"ask_a": "A", "ask_b": "B"}
    assert types(chunks).count("workflow-step-suspended") == 2
    assert types(chunks).count("workflow-start") == 1
    assert output.status == "success"


@pytest.mark.parametrize("kind", ["parallel", "branch"])
async def test_kept_open_output_status_suspended_after_partial_block_resume(kind: str) -> None:
    if kind == "parallel":
        wf, _, _ = two_askers("openpar2")
    else:
        wf = (
            create_workflow(id="openbr2")
            .branch([(lambda ctx: True, asker("ask_a")), (lambda ctx: True, asker("ask_b"))])
            .commit()
        )
    run = await wf.create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    mid = await run.resume(step="ask_a", resume_data="A")
    assert mid.status == "suspended" and run.status == "suspended"
    assert output.status == "suspended"


async def test_loop_step_suspends_and_resumes() -> None:
    async def body(ctx: StepContext) -> Any:
        if ctx.input_data == 1 and ctx.resume_data is None:
            return await ctx.suspend({"at": 1})
        return ctx.input_data + 1

    wf = (
        create_workflow(id="loopsusp")
        .dowhile(create_step(id="it", execute=body), lambda ctx: ctx.input_data < 3)
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data=0)
    assert first.status == "suspended"
    output = run.resume_stream(resume_data="go")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", 3)
    counts = [p["metadata"]["iterationCount"] for p in of(chunks, "workflow-step-start", "it")]
    assert counts == [2, 3]


async def test_usage_from_forwarded_finish_chunks() -> None:
    async def body(ctx: StepContext) -> Any:
        await ctx.writer.write(
            {"type": "finish", "payload": {"usage": {"promptTokens": 2, "completionTokens": 3}}}
        )
        await ctx.writer.write(
            {
                "type": "finish",
                "payload": {
                    "usage": {
                        "inputTokens": 1,
                        "outputTokens": 1,
                        "totalTokens": 10,
                        "cacheCreationInputTokens": 4,
                    }
                },
            }
        )
        return None

    output = (await wf_of(create_step(id="llm", execute=body), wid="fwd").create_run()).stream(
        input_data=None
    )
    chunks = await collect(output)
    usage = await output.usage
    assert (usage.input_tokens, usage.output_tokens) == (3, 4)
    assert usage.total_tokens == 15  # 5 computed + 10 explicit
    assert usage.cache_creation_input_tokens == 4
    assert usage.reasoning_tokens is None
    wire_usage = finish(chunks)["output"]["usage"]
    assert wire_usage == {
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 15,
        "reasoningTokens": 0,
        "cachedInputTokens": 0,
        "cacheCreationInputTokens": 4,
    }


async def test_status_follows_failure_and_suspension_during_iteration() -> None:
    statuses: list[tuple[str, str]] = []
    run = await wf_of(asker("ask"), wid="stfollow").create_run()
    output = run.stream(input_data=None)
    async for chunk in output:
        statuses.append((chunk.type, output.status))
    assert statuses[0] == ("workflow-start", "running")
    assert statuses[-1] == ("workflow-finish", "suspended")


async def test_resumed_nested_step_event_ids_and_resume_fields() -> None:
    child = wf_of(asker("ask"), wid="kid2")
    parent = wf_of(child, wid="nestwire")
    run = await parent.create_run()
    await collect(run.stream(input_data=None))
    chunks = await collect(run.resume_stream(step="kid2.ask", resume_data="r"))
    start = one(chunks, "workflow-step-start", "kid2.ask")
    assert start["resumePayload"] == "r"
    assert "resumedAt" in start
    assert one(chunks, "workflow-step-result", "kid2.ask")["output"] == "r"
    assert one(chunks, "workflow-step-result", "kid2")["output"] == "r"
    assert finish(chunks)["finalWorkflowResult"] == "r"


async def test_concurrent_resume_of_a_different_suspended_path_is_already_claimed() -> None:
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def slow(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    wf = (
        create_workflow(id="claimpar")
        .parallel([create_step(id="slow", execute=slow), asker("other")])
        .commit()
    )
    run = await wf.create_run()
    await run.start(input_data=None)
    winner = asyncio.create_task(run.resume(step="slow", resume_data="S"))
    await asyncio.wait_for(entered.wait(), GUARD)
    with pytest.raises(ResumeAlreadyClaimedError):
        await run.resume(step="other", resume_data="O")
    gate.set()
    mid = await asyncio.wait_for(winner, GUARD)
    assert mid.status == "suspended" and mid.suspended == [["other"]]
    done = await run.resume(step="other", resume_data="O")
    assert done.result == {"slow": "S", "other": "O"}


async def test_for_each_index_of_item_that_is_not_suspended_is_rejected() -> None:
    calls: dict[int, int] = {}
    wf = create_workflow(id="feidx").foreach(suspending_items(calls), concurrency=4).commit()
    run = await wf.create_run()
    await run.start(input_data=[0, 1, 2, 3])
    with pytest.raises(ResumeError):
        await run.resume(for_each_index=0, resume_data="x")
    assert run.status == "suspended"
    done = await run.resume(resume_data="y")
    assert done.result == [0, "1:y", 2, "3:y"]


async def test_watch_keeps_receiving_across_segments() -> None:
    run = await wf_of(asker("ask"), inc("a"), wid="watchseg").create_run()
    got: list[Any] = []
    run.watch(got.append)
    await collect(run.stream(input_data=None))
    n = len(got)
    await collect(run.resume_stream(resume_data=1))
    later = [c.to_dict()["payload"].get("id") for c in got[n:]]
    assert "ask" in later and "a" in later


async def test_observe_stream_after_kept_open_then_resume_stream() -> None:
    run = await wf_of(asker("ask"), wid="obskept").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    observed = await collect(run.observe_stream())
    assert wire(observed) == wire(second_chunks)
    await collect(kept)


async def test_stream_with_invalid_request_context_reports_through_output() -> None:
    @attrs.frozen
    class Ctx:
        user: str

    wf = wf_of(const("a", 1), wid="badrc", request_context_schema=Ctx)
    output = (await wf.create_run()).stream(input_data=None, request_context={"user": 3})
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert finish(chunks)["metadata"]["error"]["name"] == "ValidationError"
    with pytest.raises(ValidationError):
        await output.result


async def test_step_request_context_schema_failure_fails_the_step() -> None:
    @attrs.frozen
    class Ctx:
        user: str

    ran: list[int] = []

    async def body(ctx: StepContext) -> Any:
        ran.append(1)
        return 1

    wf = wf_of(
        create_step(id="s", execute=body, request_context_schema=Ctx, retries=2),
        wid="steprc",
    )
    output = (await wf.create_run()).stream(input_data=None, request_context={"other": 1})
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert ran == []
    assert one(chunks, "workflow-step-result", "s")["error"]["name"] == "ValidationError"


async def test_step_schemas_fail_the_step() -> None:
    async def bad_suspend(ctx: StepContext) -> Any:
        return await ctx.suspend({"n": "not an int"})

    async def bad_state(ctx: StepContext) -> Any:
        ctx.set_state({"count": "x"})
        return 1

    for s in (
        create_step(id="a", execute=bad_suspend, suspend_schema=dict[str, int]),
        create_step(id="b", execute=bad_state, state_schema=dict[str, int]),
        create_step(id="c", execute=lambda ctx: ctx.input_data, input_schema=Num),
        create_step(id="d", execute=lambda ctx: "x", output_schema=int),
    ):
        result = await (await wf_of(s, wid=f"schema_{s.id}").create_run()).start(
            input_data={"value": "no"}
        )
        assert result.status == "failed", s.id
        assert isinstance(result.error, ValidationError), (s.id, result.error)


def test_step_context_is_attrs() -> None:
    assert attrs.has(StepContext)


async def test_nested_failure_and_sleep_ids() -> None:
    async def boom(ctx: StepContext) -> Any:
        raise ValueError("inner broke")

    child = create_workflow(id="kid3").sleep(1).then(create_step(id="boom", execute=boom)).commit()
    parent = wf_of(child, const("never", 0), wid="nestfail")
    output = (await parent.create_run()).stream(input_data=None)
    chunks = await collect(output)
    result = await output.result
    assert result.status == "failed"
    assert str(result.error) == "inner broke"
    assert one(chunks, "workflow-step-waiting", "kid3.sleep_kid3_0")["stepName"] == (
        "kid3.sleep_kid3_0"
    )
    assert one(chunks, "workflow-step-result", "kid3.boom")["status"] == "failed"
    assert one(chunks, "workflow-step-result", "kid3")["status"] == "failed"
    assert finish(chunks)["metadata"]["errorMessage"] == "inner broke"
    assert "never" not in result.steps


async def test_canceled_step_result_wire() -> None:
    entered = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await wf_of(create_step(id="blk", execute=body), wid="cxwire").create_run()
    output = run.stream(input_data=7)
    await asyncio.wait_for(entered.wait(), GUARD)
    await run.cancel()
    chunks = await collect(output)
    res = one(chunks, "workflow-step-result", "blk")
    assert res["status"] == "canceled"
    start = one(chunks, "workflow-step-start", "blk")
    assert res["stepCallId"] == start["stepCallId"]
    assert res["payload"] == 7
    assert res["startedAt"] == start["startedAt"]
    assert isinstance(res["endedAt"], int)


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


async def test_resume_stream_output_identifiers() -> None:
    run = await wf_of(asker("ask"), wid="rsid").create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1)
    assert output.run_id == run.run_id and output.workflow_id == "rsid"
    chunks = await collect(output)
    assert chunks[0].to_dict()["payload"] == {"workflowId": "rsid"}
    assert all(c.run_id == run.run_id for c in chunks)


U3 = {
    "inputTokens": 1,
    "outputTokens": 2,
    "totalTokens": 3,
    "reasoningTokens": 0,
    "cachedInputTokens": 0,
    "cacheCreationInputTokens": 0,
}


def _env(kind: str, payload: dict[str, Any], origin: str = "WORKFLOW") -> dict[str, Any]:
    return {"type": kind, "runId": "r", "from": origin, "payload": payload}


HAND_MADE_WIRE = [
    _env("workflow-start", {"workflowId": "w"}),
    _env(
        "workflow-step-start",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "running",
            "payload": {"someKey": {"nested_key": [1]}},
            "startedAt": 1,
            "metadata": {"iterationCount": 3},
        },
    ),
    _env("workflow-step-output", {"stepName": "a", "runId": "r", "output": None}, "USER"),
    _env(
        "workflow-step-progress",
        {
            "id": "a",
            "stepName": "a",
            "completedCount": 1,
            "totalCount": 2,
            "currentIndex": 1,
            "iterationStatus": "success",
            "iterationOutput": None,
        },
    ),
    _env(
        "workflow-step-progress",
        {
            "id": "a",
            "stepName": "a",
            "completedCount": 1,
            "totalCount": 2,
            "currentIndex": 0,
            "iterationStatus": "suspended",
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "failed",
            "payload": {"x": 1},
            "startedAt": 1,
            "endedAt": 2,
            "error": {"message": "m", "name": "Error", "stack": "Error: m\n  at x"},
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "success",
            "payload": None,
            "startedAt": 1,
            "endedAt": 2,
            "output": {"a": 1},
            "resumePayload": None,
            "resumedAt": 5,
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "fe",
            "stepName": "fe",
            "status": "failed",
            "endedAt": 2,
            "error": {"message": "m", "name": "Error"},
        },
    ),
    _env(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "bailed",
            "payload": None,
            "startedAt": 1,
            "endedAt": 2,
            "output": None,
        },
    ),
    _env(
        "workflow-step-suspended",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c",
            "status": "suspended",
            "payload": None,
            "startedAt": 1,
            "suspendPayload": None,
            "suspendedAt": 2,
        },
    ),
    _env(
        "workflow-step-waiting",
        {"id": "s", "stepName": "s", "payload": None, "startedAt": 1, "status": "waiting"},
    ),
    _env("workflow-canceled", {}),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "failed",
            "output": {"usage": U3},
            "metadata": {
                "error": {"message": "m", "name": "Error", "stack": "s"},
                "errorMessage": "m",
            },
        },
    ),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "success",
            "output": {"usage": U3},
            "metadata": {},
            "finalWorkflowResult": None,
        },
    ),
    _env(
        "workflow-finish",
        {
            "workflowStatus": "tripwire",
            "output": {"usage": U3},
            "metadata": {},
            "tripwire": {"reason": "x", "retry": False, "metadata": None, "processorId": None},
        },
    ),
    {"type": "data-x", "runId": "r", "from": "USER", "data": None},
    {"type": "data-x", "runId": "r", "from": "USER", "data": {"a": 1}, "id": "i", "extra": True},
]


@pytest.mark.parametrize("d", HAND_MADE_WIRE, ids=lambda d: d["type"])
def test_from_dict_round_trips_hand_made_wire_dicts(d: dict[str, Any]) -> None:
    assert from_dict(d).to_dict() == d


async def test_usage_is_per_segment_when_stream_closes_on_suspend() -> None:
    wf = wf_of(
        create_step(id="pay", execute=_pay_1_token),
        create_step(id="ask", execute=_ask_then_pay_10),
        wid="useg",
    )
    run = await wf.create_run()
    first = run.stream(input_data=None)
    first_chunks = await collect(first)
    second = run.resume_stream(resume_data=1)
    second_chunks = await collect(second)
    assert (await first.usage).total_tokens == 2
    assert (await second.usage).total_tokens == 20
    assert finish(first_chunks)["output"]["usage"]["totalTokens"] == 2
    assert finish(second_chunks)["output"]["usage"]["totalTokens"] == 20


async def test_live_events_subscriber_completes_at_finish() -> None:
    gate = asyncio.Event()

    async def body(ctx: StepContext) -> Any:
        await gate.wait()
        return 1

    output = (await wf_of(create_step(id="s", execute=body)).create_run()).stream(input_data=None)
    got: list[str] = []
    done = asyncio.Event()
    errors: list[Exception] = []
    output.events.subscribe(
        on_next=lambda c: got.append(c.type), on_error=errors.append, on_completed=done.set
    )
    gate.set()
    await asyncio.wait_for(done.wait(), GUARD)
    assert got[0] == "workflow-start" and got[-1] == "workflow-finish"
    assert errors == []


async def test_kept_open_status_returns_to_running_on_resume_stream() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def ask(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({})
        entered.set()
        await gate.wait()
        return ctx.resume_data

    run = await wf_of(create_step(id="ask", execute=ask), wid="rsrun").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    await wait_until(lambda: run.status == "suspended")
    assert kept.status == "suspended"
    second = run.resume_stream(resume_data="v")
    await asyncio.wait_for(entered.wait(), GUARD)
    assert kept.status == "running"
    assert second.status == "running"
    gate.set()
    await collect(second)
    kept_chunks = await collect(kept)
    assert finish(kept_chunks)["workflowStatus"] == "success"
    assert kept.status == "success"
    assert (await kept.result).result == "v"


async def test_kept_open_output_history_limit_across_resume() -> None:
    run = await wf_of(asker("ask"), inc("a"), inc("b"), wid="histkept").create_run()
    kept = run.stream(input_data=None, close_on_suspend=False, history_limit=2)
    live: list[str] = []
    kept.events.subscribe(on_next=lambda c: live.append(c.type))
    await wait_until(lambda: run.status == "suspended")
    await run.resume(resume_data=1)
    await kept.result
    await kept.usage
    late = await collect(kept)
    assert types(late) == ["workflow-step-result", "workflow-finish"]
    assert live[0] == "workflow-start" and live[-1] == "workflow-finish"
    assert live.count("workflow-step-result") == 3


async def test_double_cancel_and_cancel_right_after_stream() -> None:
    storage = InMemoryStorage()

    async def body(ctx: StepContext) -> Any:
        await asyncio.Event().wait()

    wf = wf_of(create_step(id="s", execute=body), wid="cxnow", storage=storage)
    run = await wf.create_run()
    output = run.stream(input_data=None)
    await run.cancel()
    assert run.status == "canceled"
    record = await storage.get_run("cxnow", run.run_id)
    assert record is not None and record.status == "canceled"
    await run.cancel()
    chunks = await collect(output)
    assert types(chunks)[0] == "workflow-start"
    assert types(chunks)[-2:] == ["workflow-canceled", "workflow-finish"]
    assert types(chunks).count("workflow-canceled") == 1
    assert (await output.result).status == "canceled"


async def test_resume_nested_by_list_of_step_objects_and_by_workflow_object() -> None:
    ask = asker("ask")
    child = wf_of(ask, wid="kid4")
    parent = wf_of(child, wid="nestobj")
    for selector in ([child, ask], ["kid4", ask], [child, "ask"], child):
        run = await parent.create_run()
        first = await run.start(input_data=None)
        assert first.suspended == [["kid4", "ask"]]
        done = await run.resume(step=selector, resume_data="ok")
        assert (done.status, done.result) == ("success", "ok"), selector


async def test_resume_nested_step_by_label() -> None:
    child = wf_of(asker("ask", label="L"), wid="kid5")
    parent = wf_of(child, wid="nestlabel")
    run = await parent.create_run()
    await run.start(input_data=None)
    done = await run.resume(label="L", resume_data="ok")
    assert (done.status, done.result) == ("success", "ok")


async def test_nested_step_output_keeps_the_inner_step_name() -> None:
    # rxflow follows Mastra here: relayed start/result ids are "child.inner", while a nested
    # step's writer output keeps the inner step's own name (SPEC §6 prefixes ids only).
    async def body(ctx: StepContext) -> Any:
        await ctx.writer.write("hi")
        return 1

    child = wf_of(create_step(id="inner", execute=body), wid="kid6")
    chunks = await collect((await wf_of(child, wid="nestout").create_run()).stream(input_data=0))
    outputs = of(chunks, "workflow-step-output")
    assert [p["stepName"] for p in outputs] == ["inner"]


async def test_foreach_suspended_item_stops_queued_items_until_resumed() -> None:
    started: list[tuple[Any, Any]] = []

    async def item(ctx: StepContext) -> Any:
        started.append((ctx.input_data, ctx.resume_data))
        if ctx.input_data == 1 and ctx.resume_data is None:
            return await ctx.suspend({})
        return ctx.input_data * 10

    wf = (
        create_workflow(id="fequeue")
        .foreach(create_step(id="it", execute=item), concurrency=1)
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data=[0, 1, 2, 3])
    assert first.status == "suspended"
    assert started == [(0, None), (1, None)]
    output = run.resume_stream(resume_data="go")
    chunks = await collect(output)
    result = await output.result
    assert (result.status, result.result) == ("success", [0, 10, 20, 30])
    assert started == [(0, None), (1, None), (1, "go"), (2, None), (3, None)]
    progress = of(chunks, "workflow-step-progress", "it")
    assert [p["currentIndex"] for p in progress] == [1, 2, 3]
    assert [p["completedCount"] for p in progress] == [2, 3, 4]


async def test_resume_stream_of_never_started_run_reports_through_output() -> None:
    run = await wf_of(asker("ask"), wid="neverrs").create_run()
    output = run.resume_stream(resume_data=1)
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "failed"
    assert output.status == "failed"
    with pytest.raises(ResumeError):
        await output.result


async def test_resume_stream_with_several_candidates_keeps_run_resumable() -> None:
    wf, _, _ = two_askers("sevrs")
    run = await wf.create_run()
    await run.start(input_data=None)
    output = run.resume_stream(resume_data=1)
    chunks = await collect(output)
    fin = finish(chunks)
    assert fin["workflowStatus"] == "failed"
    assert "ask_a" in fin["metadata"]["errorMessage"]
    with pytest.raises(ResumeError):
        await output.result
    assert run.status == "suspended"
    assert (await run.resume(step="ask_a", resume_data=1)).status == "suspended"
