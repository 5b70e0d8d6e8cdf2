"""Schemas in a run: input, step input/output, state, request context and resume data checked."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import attrs
import pytest
from _steps import Num, OtherPoint, Point, ask, const, echo, one_step, wf_of
from conftest import collect, finish, one, types, within

from rxflow import (
    RequestContext,
    RetryConfig,
    RxflowError,
    StepContext,
    ValidationError,
    create_step,
    create_workflow,
)

# --- workflow input ---------------------------------------------------------------------------


@attrs.frozen
class Item:
    name: str
    price: float


@attrs.frozen
class Order:
    items: list[Item]
    qty: int


async def test_mapping_input_is_structured_into_attrs_schema() -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return sum(item.price for item in ctx.input_data.items) * ctx.input_data.qty

    wf = one_step("order", body, input_schema=Order)
    result = await (await wf.create_run()).start(
        input_data={"items": [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}], "qty": 2}
    )
    assert result.status == "success"
    assert seen == [Order([Item("a", 1.5), Item("b", 2.0)], 2)]
    assert isinstance(seen[0].items[1].price, float)
    assert result.result == 7.0


async def test_an_instance_of_the_schema_is_accepted_as_is() -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return None

    order = Order([Item("a", 1.0)], 1)
    await (await one_step("order", body, input_schema=Order).create_run()).start(input_data=order)
    assert seen[0] is order


@dataclasses.dataclass
class DataPoint:
    x: int


class Movie(TypedDict):
    title: str
    year: int


@pytest.mark.parametrize(
    ("schema", "given", "expected"),
    [
        (int, 3, 3),
        (float, 3, 3.0),
        (str, "x", "x"),
        (bool, False, False),
        (list[Item], [{"name": "a", "price": 1}], [Item("a", 1.0)]),
        (dict[str, float], {"a": 1, "b": 2.5}, {"a": 1.0, "b": 2.5}),
        (Movie, {"title": "Up", "year": 2009}, {"title": "Up", "year": 2009}),
        (DataPoint, {"x": 4}, DataPoint(4)),
        (None, {"anything": [1, "two"]}, {"anything": [1, "two"]}),
    ],
)
async def test_schema_kinds_accept_fitting_values(schema: Any, given: Any, expected: Any) -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return ctx.input_data

    result = await (await one_step("kinds", body, input_schema=schema).create_run()).start(
        input_data=given
    )
    assert result.status == "success"
    assert seen == [expected]
    assert type(seen[0]) is type(expected)


def lines_of(error: BaseException) -> list[str]:
    return str(error).splitlines()


async def test_bad_input_raises_at_start_listing_every_bad_field() -> None:
    wf = one_step("order", echo, input_schema=Order)
    run = await wf.create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(
            input_data={
                "items": [
                    {"name": "a", "price": 1.0},
                    {"name": "b", "price": 2.0},
                    {"name": "c", "price": "abc"},
                ],
                "qty": "3",
            }
        )
    assert isinstance(caught.value, RxflowError)
    lines = lines_of(caught.value)
    assert "$.items[2].price: expected float, got 'abc'" in lines
    assert "$.qty: expected int, got '3'" in lines
    # one line per bad field: the good items are not mentioned
    assert not [line for line in lines if line.startswith(("$.items[0]", "$.items[1]"))]


@pytest.mark.parametrize(
    ("schema", "value", "line"),
    [
        (int, "3", "$: expected int, got '3'"),
        (int, 3.7, "$: expected int, got 3.7"),
        (int, True, "$: expected int, got True"),
        (float, "1.5", "$: expected float, got '1.5'"),
        (float, True, "$: expected float, got True"),
        (str, 5, "$: expected str, got 5"),
        (bool, 1, "$: expected bool, got 1"),
        (bool, "true", "$: expected bool, got 'true'"),
        (Point, {"x": "1", "y": "s"}, "$.x: expected int, got '1'"),
        (Point, {"x": 1, "y": 2}, "$.y: expected str, got 2"),
        (Movie, {"title": "Up", "year": "2009"}, "$.year: expected int, got '2009'"),
        (DataPoint, {"x": 1.0}, "$.x: expected int, got 1.0"),
    ],
)
async def test_no_coercion_between_str_numbers_and_bool(schema: Any, value: Any, line: str) -> None:
    run = await one_step("strict", echo, input_schema=schema).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=value)
    assert line in lines_of(caught.value)


async def test_each_bad_list_element_has_its_own_line() -> None:
    run = await one_step("ints", echo, input_schema=list[int]).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=[1, "2", 3.5, 4])
    bad = [line for line in lines_of(caught.value) if line.startswith("$")]
    assert bad == ["$[1]: expected int, got '2'", "$[2]: expected int, got 3.5"]


async def test_validation_errors_raised_at_start_name_the_field() -> None:
    wf = wf_of(const("a", 1), wid="valid", input_schema=Num)
    run = await wf.create_run()
    with pytest.raises(ValidationError) as info:
        await run.start(input_data={"value": "3"})
    assert "$.value" in str(info.value)


# --- step input and output --------------------------------------------------------------------


async def test_step_input_that_does_not_fit_fails_the_step_inside_the_run() -> None:
    ran: list[str] = []

    async def first(ctx: Any) -> Any:
        return {"x": "no", "y": "s"}

    async def second(ctx: Any) -> Any:
        ran.append("second")
        return ctx.input_data

    async def third(ctx: Any) -> Any:
        ran.append("third")
        return None

    wf = (
        create_workflow(id="inside", retry_config=RetryConfig(attempts=2))
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=second, input_schema=Point))
        .then(create_step(id="third", execute=third))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)  # does not raise
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.x: expected int, got 'no'" in lines_of(result.error)
    assert result.steps["second"].status == "failed"
    assert "third" not in result.steps
    assert ran == []


async def test_step_output_that_does_not_fit_fails_that_step() -> None:
    async def bad(ctx: Any) -> Any:
        return {"x": 1, "y": 2}

    wf = (
        create_workflow(id="out")
        .then(create_step(id="bad", execute=bad, output_schema=Point))
        .then(create_step(id="never", execute=echo))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert result.steps["bad"].status == "failed"
    assert isinstance(result.steps["bad"].error, ValidationError)
    assert "$.y: expected str, got 2" in lines_of(result.error)
    assert "never" not in result.steps


async def test_values_are_converted_between_steps_when_types_differ() -> None:
    seen: list[Any] = []

    async def make_dict(ctx: Any) -> Any:
        return {"x": 1, "y": "from dict"}

    async def make_other(ctx: Any) -> Any:
        return OtherPoint(2, "from attrs")

    async def take(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return ctx.input_data

    wf = (
        create_workflow(id="convert")
        .then(create_step(id="d", execute=make_dict))
        .then(create_step(id="p1", execute=take, input_schema=Point))
        .then(create_step(id="o", execute=make_other))
        .then(create_step(id="p2", execute=take, input_schema=Point))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "success"
    assert seen == [Point(1, "from dict"), Point(2, "from attrs")]
    assert all(type(value) is Point for value in seen)


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


# --- state ------------------------------------------------------------------------------------


@attrs.frozen
class Counter:
    count: int
    limit: int

    def __attrs_post_init__(self) -> None:
        if self.count > self.limit:
            raise ValueError("count above limit")


async def test_state_schema_checks_each_partial_key_by_key() -> None:
    async def bad(ctx: Any) -> Any:
        ctx.set_state({"count": "many"})
        return None

    wf = one_step("state", bad, state_schema=Counter)
    result = await (await wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.count: expected int, got 'many'" in lines_of(result.error)
    assert result.state == {"count": 0, "limit": 5}


async def test_state_schema_checks_the_merged_state_as_a_whole() -> None:
    async def over(ctx: Any) -> Any:
        ctx.set_state({"count": 9})  # an int, fine key by key; the whole breaks count <= limit
        return None

    async def fine(ctx: Any) -> Any:
        ctx.set_state({"count": 2})
        ctx.set_state({"count": 3})
        return None

    over_wf = one_step("state-over", over, state_schema=Counter)
    result = await (await over_wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert result.state == {"count": 0, "limit": 5}

    fine_wf = one_step("state-fine", fine, state_schema=Counter)
    result = await (await fine_wf.create_run()).start(
        input_data=None, initial_state={"count": 0, "limit": 5}
    )
    assert result.status == "success"
    assert result.state == {"count": 3, "limit": 5}


async def test_initial_state_is_validated_at_start() -> None:
    run = await one_step("state-start", echo, state_schema=Counter).create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data=None, initial_state={"count": "0", "limit": 5})
    assert "$.count: expected int, got '0'" in lines_of(caught.value)


async def test_invalid_initial_state_raises_at_start() -> None:
    wf = wf_of(const("a", 1), wid="vstate", state_schema=dict[str, int])
    with pytest.raises(ValidationError):
        await (await wf.create_run()).start(input_data=None, initial_state={"k": "x"})


# --- request context --------------------------------------------------------------------------


@attrs.frozen
class Caller:
    user: str


async def test_request_context_schemas_workflow_raises_step_fails_without_retry() -> None:
    calls: list[int] = []

    async def body(ctx: Any) -> Any:
        calls.append(ctx.retry_count)
        return None

    wf = one_step("rc-wf", body, request_context_schema=Caller)
    with pytest.raises(ValidationError) as caught:
        await (await wf.create_run()).start(
            input_data=None, request_context=RequestContext({"user": 5})
        )
    assert "$.user: expected str, got 5" in lines_of(caught.value)

    step_wf = one_step(
        "rc-step",
        body,
        retry_config=RetryConfig(attempts=3),
        step_options={"request_context_schema": Caller},
    )
    result = await (await step_wf.create_run()).start(
        input_data=None, request_context=RequestContext({"user": 5})
    )
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.user: expected str, got 5" in lines_of(result.error)
    assert calls == []


async def test_invalid_request_context_raises_at_start() -> None:
    @attrs.frozen
    class Ctx:
        user: str

    wf = wf_of(const("a", 1), wid="vrc", request_context_schema=Ctx)
    with pytest.raises(ValidationError):
        await (await wf.create_run()).start(input_data=None, request_context={"user": 5})


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


# --- suspend payload and resume data ----------------------------------------------------------


async def test_suspend_payload_and_resume_data_are_validated() -> None:
    async def bad_suspend(ctx: Any) -> Any:
        return await ctx.suspend({"x": "no", "y": "s"})

    wf = one_step("susp", bad_suspend, step_options={"suspend_schema": Point})
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert "$.x: expected int, got 'no'" in lines_of(result.error)

    wf = one_step("res", ask, step_options={"resume_schema": Point})
    run = await wf.create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    with pytest.raises(ValidationError) as caught:
        await run.resume(resume_data={"x": 1, "y": 2})
    assert "$.y: expected str, got 2" in lines_of(caught.value)
    resumed = await run.resume(resume_data={"x": 1, "y": "ok"})
    assert (resumed.status, resumed.result) == ("success", Point(1, "ok"))


# --- bad values reported through stream()'s output --------------------------------------------


async def test_stream_with_bad_input_reports_it_through_the_output() -> None:
    wf = one_step("bad-stream", echo, input_schema=int)
    run = await wf.create_run()
    output = run.stream(input_data="3")  # never raises for validation errors
    chunks = await within(collect(output))
    assert [c.type for c in chunks] == ["workflow-start", "workflow-finish"]
    finish = chunks[-1].to_dict()["payload"]
    assert finish["workflowStatus"] == "failed"
    assert finish["metadata"]["error"]["name"] == "ValidationError"
    assert "$: expected int, got '3'" in finish["metadata"]["errorMessage"]
    assert output.status == "failed"
    with pytest.raises(ValidationError):
        await within(output.result)


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
