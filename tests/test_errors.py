"""Failures, retries, bail, tripwire, and bad input at every door (SPEC §7, §9, §16)."""

from __future__ import annotations

from typing import Any, TypedDict

import attrs
import pytest
from conftest import collect, kinds

from rxflow import (
    NonRetryableError,
    RequestContext,
    RetryConfig,
    StepContext,
    TripWire,
    ValidationError,
    WorkflowDefinitionError,
    create_step,
    create_workflow,
)


@attrs.frozen
class Item:
    name: str
    price: float


@attrs.frozen
class Cart:
    items: list[Item]
    user: str


async def _echo(ctx: StepContext) -> Any:
    return ctx.input_data


# -- retries ---------------------------------------------------------------------------------


async def test_retries_then_success_without_extra_events() -> None:
    attempts: list[int] = []

    async def flaky(ctx: StepContext) -> str:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise RuntimeError("not yet")
        return "ok"

    wf = (
        create_workflow(id="retry", retry_config=RetryConfig(attempts=2, delay=1))
        .then(create_step(id="flaky", execute=flaky))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert attempts == [0, 1, 2]
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "flaky"),
        ("workflow-step-result", "flaky"),
        ("workflow-finish", None),
    ]
    assert (await output.result).result == "ok"


async def test_step_retries_override_and_exhaustion() -> None:
    attempts: list[int] = []

    async def always(ctx: StepContext) -> None:
        attempts.append(ctx.retry_count)
        raise RuntimeError(f"attempt {ctx.retry_count}")

    wf = (
        create_workflow(id="retry2", retry_config=RetryConfig(attempts=5))
        .then(create_step(id="always", execute=always, retries=1))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert attempts == [0, 1]
    assert result.status == "failed" and str(result.error) == "attempt 1"
    assert result.to_dict()["error"] == {"message": "attempt 1", "name": "RuntimeError"}


async def test_retries_zero_means_no_retry() -> None:
    attempts: list[int] = []

    async def fails(ctx: StepContext) -> None:
        attempts.append(ctx.retry_count)
        raise RuntimeError("x")

    wf = (
        create_workflow(id="r0", retry_config=RetryConfig(attempts=3))
        .then(create_step(id="fails", execute=fails, retries=0))
        .commit()
    )
    await (await wf.create_run()).start(input_data=None)
    assert attempts == [0]


async def test_non_retryable_error_stops_at_once() -> None:
    attempts: list[int] = []

    async def fatal(ctx: StepContext) -> None:
        attempts.append(ctx.retry_count)
        raise NonRetryableError("give up")

    wf = (
        create_workflow(id="nr", retry_config=RetryConfig(attempts=3))
        .then(create_step(id="fatal", execute=fatal))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert attempts == [0]
    assert result.status == "failed"
    assert result.to_dict()["error"] == {"message": "give up", "name": "NonRetryableError"}


async def test_first_failure_ends_the_run() -> None:
    ran: list[str] = []

    async def bad(ctx: StepContext) -> None:
        ran.append("bad")
        raise KeyError("missing")

    async def later(ctx: StepContext) -> None:
        ran.append("later")

    wf = (
        create_workflow(id="stop")
        .then(create_step(id="bad", execute=bad))
        .then(create_step(id="later", execute=later))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert ran == ["bad"]
    failed = chunks[2]
    assert failed.type == "workflow-step-result" and failed.payload.status == "failed"
    assert failed.to_dict()["payload"]["error"] == {"message": "'missing'", "name": "KeyError"}
    assert output.status == "failed"
    assert chunks[-1].payload.workflow_status == "failed"


# -- bail and tripwire -----------------------------------------------------------------------


async def test_bail_ends_workflow_successfully() -> None:
    async def bailer(ctx: StepContext) -> Any:
        return ctx.bail({"early": True})

    wf = (
        create_workflow(id="bail")
        .then(create_step(id="bailer", execute=bailer))
        .then(create_step(id="skipped", execute=_echo))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=1)
    chunks = await collect(output)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "bailer"),
        ("workflow-step-result", "bailer"),
        ("workflow-finish", None),
    ]
    assert chunks[2].payload.status == "bailed"
    assert chunks[2].to_dict()["payload"]["output"] == {"early": True}
    result = await output.result
    assert result.status == "success" and result.result == {"early": True}
    assert result.steps["bailer"].status == "success"
    assert chunks[-1].to_dict()["payload"]["finalWorkflowResult"] == {"early": True}


async def test_tripwire_ends_run_with_tripwire_status_and_no_retry() -> None:
    attempts: list[int] = []

    async def guard(ctx: StepContext) -> None:
        attempts.append(ctx.retry_count)
        raise TripWire("blocked", retry=True, metadata={"rule": "pii"}, processor_id="guard-1")

    wf = (
        create_workflow(id="tw", retry_config=RetryConfig(attempts=3))
        .then(create_step(id="guard", execute=guard))
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert attempts == [0]
    step_result = chunks[2]
    assert step_result.payload.status == "failed"
    assert step_result.to_dict()["payload"]["tripwire"] == {
        "reason": "blocked",
        "retry": True,
        "metadata": {"rule": "pii"},
        "processorId": "guard-1",
    }
    result = await output.result
    assert result.status == "tripwire"
    assert result.tripwire is not None and result.tripwire.reason == "blocked"
    assert result.error is None
    assert output.status == "tripwire"
    finish = chunks[-1].to_dict()["payload"]
    assert finish["workflowStatus"] == "tripwire"
    assert finish["metadata"] == {}
    assert finish["tripwire"]["reason"] == "blocked"


# -- bad input -------------------------------------------------------------------------------


def cart_workflow() -> Any:
    return (
        create_workflow(id="cart", input_schema=Cart)
        .then(create_step(id="e", execute=_echo))
        .commit()
    )


async def test_start_raises_validation_error_naming_every_bad_field() -> None:
    run = await cart_workflow().create_run()
    bad = {"items": [{"name": "a", "price": 1.0}, {"name": "b", "price": "abc"}], "user": 7}
    with pytest.raises(ValidationError) as info:
        await run.start(input_data=bad)
    assert "$.items[1].price: expected float, got 'abc'" in info.value.errors
    assert "$.user: expected str, got 7" in info.value.errors
    assert len(info.value.errors) == 2


async def test_stream_reports_validation_error_through_output() -> None:
    run = await cart_workflow().create_run()
    output = run.stream(input_data={"items": "nope", "user": "u"})
    chunks = await collect(output)
    assert [c.type for c in chunks] == ["workflow-start", "workflow-finish"]
    finish = chunks[1].to_dict()["payload"]
    assert finish["workflowStatus"] == "failed"
    assert finish["metadata"]["error"]["name"] == "ValidationError"
    assert "$.items" in finish["metadata"]["errorMessage"]
    assert output.status == "failed"
    with pytest.raises(ValidationError, match=r"\$\.items"):
        await output.result
    usage = await output.usage
    assert usage.total_tokens == 0


async def test_strict_schemas_refuse_coercion() -> None:
    wf = (
        create_workflow(id="ints", input_schema=int)
        .then(create_step(id="e", execute=_echo))
        .commit()
    )
    for bad, shown in (("3", "'3'"), (3.7, "3.7"), (True, "True")):
        with pytest.raises(ValidationError) as info:
            await (await wf.create_run()).start(input_data=bad)
        assert info.value.errors == [f"$: expected int, got {shown}"]
    assert (await (await wf.create_run()).start(input_data=3)).result == 3


async def test_step_input_schema_failure_fails_the_step() -> None:
    attempts: list[int] = []

    async def priced(ctx: StepContext) -> float:
        attempts.append(1)
        return float(ctx.input_data.price)

    wf = (
        create_workflow(id="step-in", retry_config=RetryConfig(attempts=2))
        .then(create_step(id="src", execute=lambda ctx: {"name": "x", "price": "free"}))
        .then(create_step(id="priced", execute=priced, input_schema=Item))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert attempts == []
    assert isinstance(result.error, ValidationError)
    assert result.error.errors == ["$.price: expected float, got 'free'"]


async def test_step_output_schema_failure_fails_the_step() -> None:
    async def wrong(ctx: StepContext) -> Any:
        return {"name": 5, "price": 1.0}

    wf = (
        create_workflow(id="step-out")
        .then(create_step(id="wrong", execute=wrong, output_schema=Item))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert result.error.errors == ["$.name: expected str, got 5"]


async def test_dict_to_attrs_and_attrs_to_attrs_between_steps() -> None:
    @attrs.frozen
    class Priced:
        name: str
        price: float

    async def read(ctx: StepContext) -> str:
        assert isinstance(ctx.input_data, Priced)
        return f"{ctx.input_data.name}={ctx.input_data.price}"

    wf = (
        create_workflow(id="conv")
        .then(create_step(id="make", execute=lambda ctx: Item("pen", 2)))
        .then(create_step(id="read", execute=read, input_schema=Priced))
        .commit()
    )
    assert (await (await wf.create_run()).start(input_data=None)).result == "pen=2.0"


class UserContext(TypedDict):
    user_id: str


async def test_request_context_schemas() -> None:
    wf = (
        create_workflow(id="rc", request_context_schema=UserContext)
        .then(create_step(id="e", execute=_echo))
        .commit()
    )
    with pytest.raises(ValidationError, match=r"\$\.user_id: required field missing"):
        await (await wf.create_run()).start(input_data=1, request_context=RequestContext())
    ok = await (await wf.create_run()).start(input_data=1, request_context={"user_id": "u"})
    assert ok.status == "success"

    step_level = (
        create_workflow(id="rc-step")
        .then(create_step(id="needs", execute=_echo, request_context_schema=UserContext))
        .commit()
    )
    failed = await (await step_level.create_run()).start(input_data=1)
    assert failed.status == "failed"
    assert isinstance(failed.error, ValidationError)
    assert "$.user_id: required field missing" in failed.error.errors


class CounterState(TypedDict, total=False):
    count: int
    label: str


async def test_state_schema_checks_initial_state_and_partials() -> None:
    async def bump(ctx: StepContext) -> int:
        ctx.set_state({"count": ctx.state["count"] + 1})
        ctx.set_state({"label": "bumped", "count": ctx.state["count"] + 2})
        return 0

    async def bad_state(ctx: StepContext) -> int:
        ctx.set_state({"count": "many"})
        return 0

    wf = (
        create_workflow(id="st", state_schema=CounterState)
        .then(create_step(id="bump", execute=bump))
        .commit()
    )
    with pytest.raises(ValidationError, match=r"\$\.count: expected int, got 'x'"):
        await (await wf.create_run()).start(input_data=0, initial_state={"count": "x"})
    result = await (await wf.create_run()).start(input_data=0, initial_state={"count": 1})
    assert result.state == {"count": 3, "label": "bumped"}

    wf2 = (
        create_workflow(id="st2", state_schema=CounterState)
        .then(create_step(id="bad", execute=bad_state))
        .commit()
    )
    failed = await (await wf2.create_run()).start(input_data=0, initial_state={"count": 1})
    assert failed.status == "failed"
    assert "$.count: expected int, got 'many'" in failed.error.errors  # type: ignore[union-attr]
    assert failed.state == {"count": 1}


async def test_state_not_applied_when_step_fails() -> None:
    async def set_then_fail(ctx: StepContext) -> None:
        ctx.set_state({"touched": True})
        raise RuntimeError("no")

    wf = create_workflow(id="st3").then(create_step(id="x", execute=set_then_fail)).commit()
    result = await (await wf.create_run()).start(input_data=0, initial_state={"a": 1})
    assert result.state == {"a": 1}


# -- building --------------------------------------------------------------------------------


def test_definition_errors() -> None:
    step = create_step(id="s", execute=_echo)
    with pytest.raises(WorkflowDefinitionError, match="no steps"):
        create_workflow(id="empty").commit()
    with pytest.raises(WorkflowDefinitionError, match="duplicate step id 's'"):
        create_workflow(id="dup").then(step).then(step).commit()
    with pytest.raises(WorkflowDefinitionError, match="duplicate step id 's'"):
        create_workflow(id="dup2").parallel([step, step]).commit()
    committed = create_workflow(id="done").then(step).commit()
    with pytest.raises(WorkflowDefinitionError, match="committed"):
        committed.then(create_step(id="t", execute=_echo))
    with pytest.raises(WorkflowDefinitionError, match="expected a Step"):
        create_workflow(id="x").then("not a step")  # type: ignore[arg-type]
    with pytest.raises(WorkflowDefinitionError, match="executor must be an Executor"):
        create_workflow(id="ex", executor=object())
    with pytest.raises(WorkflowDefinitionError, match="retries"):
        create_step(id="r", execute=_echo, retries=-1)


async def test_create_run_on_uncommitted_workflow_raises() -> None:
    wf = create_workflow(id="open").then(create_step(id="s", execute=_echo))
    with pytest.raises(WorkflowDefinitionError, match="not committed"):
        await wf.create_run()
