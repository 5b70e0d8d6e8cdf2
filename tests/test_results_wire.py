"""Results: the fields of each status, and the wire form of results, usage and tripwires."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import attrs
import pytest
from _steps import OtherPoint, PaymentDeclined, Point, add_one, ask, echo, inc, one_step, wf_of
from conftest import now_ms, within

from rxflow import create_step, create_workflow
from rxflow.convert import error_to_wire, to_wire
from rxflow.errors import TripWire
from rxflow.results import IterationMetadata, StepResult, TripwireInfo, Usage, WorkflowResult

ZERO_USAGE = {
    "inputTokens": 0,
    "outputTokens": 0,
    "totalTokens": 0,
    "reasoningTokens": 0,
    "cachedInputTokens": 0,
    "cacheCreationInputTokens": 0,
}


@attrs.frozen
class Reply:
    user_name: str
    word_count: int


# --- Usage ----------------------------------------------------------------------------------


def test_usage_wire_has_six_integers() -> None:
    assert Usage().to_dict() == ZERO_USAGE
    assert Usage(3, 4, 7, reasoning_tokens=2, cached_input_tokens=1).to_dict() == {
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 7,
        "reasoningTokens": 2,
        "cachedInputTokens": 1,
        "cacheCreationInputTokens": 0,
    }


def test_usage_round_trip() -> None:
    wire = Usage(1, 2, 3, 4, 5, 6).to_dict()
    assert Usage.from_dict(wire) == Usage(1, 2, 3, 4, 5, 6)
    assert Usage.from_dict(wire).to_dict() == wire


def test_usage_plus_keeps_none_until_reported() -> None:
    a = Usage(1, 2, 3)
    b = Usage(10, 20, 30, reasoning_tokens=5)
    assert a.plus(Usage(1, 1, 2)) == Usage(2, 3, 5, None, None, None)
    assert a.plus(b) == Usage(11, 22, 33, reasoning_tokens=5)
    assert b.plus(a) == Usage(11, 22, 33, reasoning_tokens=5)
    assert b.plus(Usage(reasoning_tokens=1, cache_creation_input_tokens=2)) == Usage(
        10, 20, 30, reasoning_tokens=6, cache_creation_input_tokens=2
    )


def test_usage_from_report_current_spelling() -> None:
    report = {"inputTokens": 10, "outputTokens": 5, "reasoningTokens": 2, "cachedInputTokens": 3}
    assert Usage.from_report(report) == Usage(10, 5, 15, 2, 3, None)


def test_usage_from_report_older_spelling_and_integer_parsing() -> None:
    report = {"promptTokens": "12", "completionTokens": 8.0, "cacheCreationInputTokens": "4"}
    assert Usage.from_report(report) == Usage(12, 8, 20, None, None, 4)


def test_usage_from_report_keeps_explicit_total() -> None:
    assert Usage.from_report({"inputTokens": 1, "outputTokens": 2, "totalTokens": 10}) == Usage(
        1, 2, 10
    )


def test_usage_from_report_empty() -> None:
    assert Usage.from_report({}) == Usage()


# --- TripwireInfo ---------------------------------------------------------------------------


def test_tripwire_wire() -> None:
    info = TripwireInfo("blocked", retry=True, metadata={"rule_id": 7}, processor_id="guard")
    assert info.to_dict() == {
        "reason": "blocked",
        "retry": True,
        "metadata": {"rule_id": 7},
        "processorId": "guard",
    }
    assert TripwireInfo("no").to_dict() == {
        "reason": "no",
        "retry": False,
        "metadata": None,
        "processorId": None,
    }
    assert TripwireInfo.from_dict(info.to_dict()) == info


def test_tripwire_from_exception() -> None:
    exc = TripWire("too long", retry=True, metadata={"max": 3}, processor_id="len")
    assert TripwireInfo.from_exception(exc) == TripwireInfo("too long", True, {"max": 3}, "len")


# --- StepResult -----------------------------------------------------------------------------


def test_step_result_success() -> None:
    step = StepResult("success", payload={"v": 1}, output={"w": 2}, started_at=1, ended_at=2)
    assert step.to_dict() == {
        "status": "success",
        "payload": {"v": 1},
        "output": {"w": 2},
        "startedAt": 1,
        "endedAt": 2,
    }


def test_step_result_success_with_null_output_keeps_the_key() -> None:
    assert StepResult("success", started_at=1, ended_at=2).to_dict() == {
        "status": "success",
        "payload": None,
        "output": None,
        "startedAt": 1,
        "endedAt": 2,
    }


def test_step_result_failed() -> None:
    step = StepResult("failed", payload=1, error=ValueError("boom"), started_at=1, ended_at=2)
    assert step.to_dict() == {
        "status": "failed",
        "payload": 1,
        "error": {"message": "boom", "name": "ValueError"},
        "startedAt": 1,
        "endedAt": 2,
    }


def test_step_result_suspended_then_resumed() -> None:
    suspended = StepResult(
        "suspended", payload=1, started_at=1, suspend_payload={"ask": "ok?"}, suspended_at=3
    )
    assert suspended.to_dict() == {
        "status": "suspended",
        "payload": 1,
        "startedAt": 1,
        "suspendPayload": {"ask": "ok?"},
        "suspendedAt": 3,
    }
    suspended.status = "success"  # the engine updates a step in place on resume
    suspended.output = 2
    suspended.resume_payload = {"ok": True}
    suspended.resumed_at = 9
    suspended.ended_at = 10
    assert suspended.to_dict() == {
        "status": "success",
        "payload": 1,
        "output": 2,
        "startedAt": 1,
        "endedAt": 10,
        "suspendPayload": {"ask": "ok?"},
        "suspendedAt": 3,
        "resumePayload": {"ok": True},
        "resumedAt": 9,
    }


def test_step_result_loop_metadata_and_tripwire() -> None:
    step = StepResult(
        "failed",
        payload=None,
        error={"message": "x", "name": "TripWire"},
        started_at=1,
        ended_at=2,
        metadata=IterationMetadata(3),
        tripwire=TripwireInfo("x"),
    )
    wire = step.to_dict()
    assert wire == {
        "status": "failed",
        "payload": None,
        "error": {"message": "x", "name": "TripWire"},
        "startedAt": 1,
        "endedAt": 2,
        "metadata": {"iterationCount": 3},
        "tripwire": {"reason": "x", "retry": False, "metadata": None, "processorId": None},
    }
    assert StepResult.from_dict(wire) == step


def test_step_result_running_has_no_output_or_end() -> None:
    assert StepResult("running", payload=[1], started_at=5).to_dict() == {
        "status": "running",
        "payload": [1],
        "startedAt": 5,
    }


def test_step_result_user_values_keep_their_field_names() -> None:
    step = StepResult("success", output=Reply("ann", 3), started_at=1, ended_at=2)
    assert step.to_dict()["output"] == {"user_name": "ann", "word_count": 3}


def test_step_result_error_with_stack_round_trips() -> None:
    wire = {
        "status": "failed",
        "payload": None,
        "error": {"message": "boom", "name": "Error", "stack": "at x"},
        "startedAt": 1,
        "endedAt": 2,
    }
    assert StepResult.from_dict(wire).to_dict() == wire


def test_step_result_from_dict_rejects_wrong_types() -> None:
    with pytest.raises(ValueError, match=r"\$\.startedAt: expected int \| None, got '1'"):
        StepResult.from_dict({"status": "success", "payload": None, "startedAt": "1"})


# --- WorkflowResult -------------------------------------------------------------------------


def steps() -> dict[str, StepResult]:
    return {"a": StepResult("success", payload={"v": 1}, output={"w": 2}, started_at=1, ended_at=2)}


A_WIRE = {
    "status": "success",
    "payload": {"v": 1},
    "output": {"w": 2},
    "startedAt": 1,
    "endedAt": 2,
}


def common(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "runId": "r1",
        "input": {"v": 1},
        "steps": {"input": {"v": 1}, "a": A_WIRE},
        "stepExecutionPath": ["a"],
        "state": None,
        "traceId": None,
        "spanId": None,
    }


def round_trips(result: WorkflowResult) -> None:
    wire = result.to_dict()
    back = WorkflowResult.from_dict(wire)
    assert back.to_dict() == wire
    assert "input" not in back.steps


def test_workflow_result_success() -> None:
    result = WorkflowResult("success", "r1", {"v": 1}, steps(), ["a"], result={"w": 2})
    assert result.to_dict() == {**common("success"), "result": {"w": 2}}
    assert list(result.to_dict()["steps"]) == ["input", "a"]
    assert WorkflowResult.from_dict(result.to_dict()) == result


def test_workflow_result_success_with_null_result_and_state() -> None:
    result = WorkflowResult(
        "success", "r1", {"v": 1}, steps(), ["a"], state={"k": 1}, trace_id="t", span_id="s"
    )
    expected = {**common("success"), "state": {"k": 1}, "traceId": "t", "spanId": "s"}
    assert result.to_dict() == {**expected, "result": None}
    round_trips(result)


def test_workflow_result_failed() -> None:
    result = WorkflowResult("failed", "r1", {"v": 1}, steps(), ["a"], error=RuntimeError("down"))
    assert result.to_dict() == {
        **common("failed"),
        "error": {"message": "down", "name": "RuntimeError"},
    }
    back = WorkflowResult.from_dict(result.to_dict())
    assert back.error == {"message": "down", "name": "RuntimeError"}
    round_trips(result)


def test_workflow_result_suspended() -> None:
    result = WorkflowResult(
        "suspended",
        "r1",
        {"v": 1},
        steps(),
        ["a"],
        suspended=[["approve"]],
        suspend_payload={"approve": {"reason": "need ok"}},
    )
    assert result.to_dict() == {
        **common("suspended"),
        "suspended": [["approve"]],
        "suspendPayload": {"approve": {"reason": "need ok"}},
    }
    round_trips(result)


def test_workflow_result_tripwire() -> None:
    info = TripwireInfo("blocked", metadata={"why": "pii"}, processor_id="p")
    result = WorkflowResult("tripwire", "r1", {"v": 1}, steps(), ["a"], tripwire=info)
    assert result.to_dict() == {
        **common("tripwire"),
        "tripwire": {
            "reason": "blocked",
            "retry": False,
            "metadata": {"why": "pii"},
            "processorId": "p",
        },
    }
    assert WorkflowResult.from_dict(result.to_dict()) == result


def test_workflow_result_canceled_has_nothing_more() -> None:
    result = WorkflowResult("canceled", "r1", {"v": 1}, steps(), ["a"], result="ignored")
    assert result.to_dict() == common("canceled")
    round_trips(result)


def test_workflow_result_user_input_keeps_its_keys() -> None:
    result = WorkflowResult("canceled", "r1", Reply("ann", 1), {}, [])
    wire = result.to_dict()
    assert wire["input"] == {"user_name": "ann", "word_count": 1}
    assert wire["steps"] == {"input": {"user_name": "ann", "word_count": 1}}


# --- to_wire / error_to_wire ----------------------------------------------------------------


def test_to_wire_plain_data_for_any_value() -> None:
    moment = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    value = {
        "when": moment,
        "day": dt.date(2024, 5, 1),
        "pair": (1, Reply("bo", 2)),
        "error": KeyError("k"),
        "usage": Usage(1, 2, 3),
    }
    assert to_wire(value) == {
        "when": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "pair": [1, {"user_name": "bo", "word_count": 2}],
        "error": {"message": "'k'", "name": "KeyError"},
        "usage": {**ZERO_USAGE, "inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
    }


def test_error_to_wire() -> None:
    assert error_to_wire(TripWire("stop")) == {"message": "stop", "name": "TripWire"}
    stacked = {"message": "m", "name": "Error", "stack": "at y"}
    assert error_to_wire(stacked) == stacked


# --- the fields of each status ----------------------------------------------------------------


async def test_workflow_result_fields_on_success() -> None:
    async def first(ctx: Any) -> Any:
        ctx.set_state({"seen": True})
        return {"snake_key": ctx.input_data.x, "camelKey": 2}

    wf = (
        create_workflow(id="fields", input_schema=Point)
        .then(create_step(id="first", execute=first))
        .then(create_step(id="second", execute=echo))
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data={"x": 1, "y": "s"})
    assert isinstance(result, WorkflowResult)
    assert result.status == "success"
    assert result.run_id == run.run_id
    assert result.input == Point(1, "s")
    assert list(result.steps) == ["first", "second"]  # step ids only, no "input"
    assert all(isinstance(s, StepResult) for s in result.steps.values())
    assert result.step_execution_path == ["first", "second"]
    assert result.state == {"seen": True}
    assert result.result == {"snake_key": 1, "camelKey": 2}
    assert hasattr(result, "trace_id") and hasattr(result, "span_id")


async def test_step_result_has_every_documented_field() -> None:
    before = now_ms()
    result = await (await one_step("step-fields", add_one).create_run()).start(input_data=1)
    after = now_ms()
    step = result.steps["s"]
    for name in (
        "status",
        "payload",
        "output",
        "error",
        "started_at",
        "ended_at",
        "suspend_payload",
        "suspended_at",
        "resume_payload",
        "resumed_at",
        "metadata",
        "tripwire",
    ):
        assert hasattr(step, name), name
    assert (step.status, step.payload, step.output, step.error) == ("success", 1, 2, None)
    assert isinstance(step.started_at, int) and isinstance(step.ended_at, int)
    assert before <= step.started_at <= step.ended_at <= after


async def test_failed_result_keeps_the_exception_and_wires_message_and_name() -> None:
    raised = PaymentDeclined("card refused")

    async def body(ctx: Any) -> Any:
        raise raised

    result = await (await one_step("failed", body).create_run()).start(input_data=None)
    assert result.status == "failed"
    assert result.error is raised
    assert result.steps["s"].error is raised
    wire = result.to_dict()
    assert wire["error"] == {"message": "card refused", "name": "PaymentDeclined"}
    assert wire["steps"]["s"]["error"] == {"message": "card refused", "name": "PaymentDeclined"}


async def test_suspended_result_paths_payloads_and_resume_fields() -> None:
    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"reason": "need ok"})
        return {"ok": ctx.resume_data, "previous": ctx.suspend_data}

    wf = create_workflow(id="approval").then(create_step(id="approve", execute=approve)).commit()
    run = await wf.create_run()
    result = await run.start(input_data=7)
    assert result.status == "suspended"
    assert result.suspended == [["approve"]]
    assert result.suspend_payload == {"approve": {"reason": "need ok"}}
    step = result.steps["approve"]
    assert step.status == "suspended"
    assert step.suspend_payload == {"reason": "need ok"}
    assert isinstance(step.suspended_at, int)
    wire = result.to_dict()
    assert wire["suspended"] == [["approve"]]
    assert wire["suspendPayload"] == {"approve": {"reason": "need ok"}}
    assert wire["steps"]["approve"]["suspendPayload"] == {"reason": "need ok"}

    done = await run.resume(resume_data="yes")
    assert done.status == "success"
    assert done.result == {"ok": "yes", "previous": {"reason": "need ok"}}
    step = done.steps["approve"]
    assert step.resume_payload == "yes"
    assert isinstance(step.resumed_at, int)
    assert done.to_dict()["steps"]["approve"]["resumePayload"] == "yes"


async def test_every_suspended_path_is_listed() -> None:
    child = create_workflow(id="child").then(create_step(id="inner", execute=ask)).commit()
    wf = (
        create_workflow(id="many")
        .parallel([create_step(id="a", execute=ask), create_step(id="b", execute=ask)])
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=1)
    assert sorted(result.suspended) == [["a"], ["b"]]
    assert set(result.suspend_payload) == {"a", "b"}

    nested = create_workflow(id="outer").then(child).commit()
    result = await (await nested.create_run()).start(input_data=1)
    assert result.suspended == [["child", "inner"]]


async def test_structured_values_keep_their_schema_types_after_resume() -> None:
    seen: dict[str, Any] = {}

    async def make(ctx: Any) -> Any:
        return {"x": ctx.input_data.x + 1, "y": "made"}

    async def approve(ctx: Any) -> Any:
        if ctx.resume_data is None:
            seen["before"] = (ctx.get_init_data(), ctx.get_step_result("make"))
            return await ctx.suspend(None)
        seen["after"] = (ctx.get_init_data(), ctx.get_step_result("make"))
        return "ok"

    wf = (
        create_workflow(id="typed-resume", input_schema=Point)
        .then(create_step(id="make", execute=make, output_schema=OtherPoint))
        .then(create_step(id="approve", execute=approve))
        .commit()
    )
    run = await wf.create_run()
    first = await run.start(input_data={"x": 1, "y": "in"})
    assert first.input == Point(1, "in")
    assert seen["before"] == (Point(1, "in"), OtherPoint(2, "made"))
    resumed = await run.resume(resume_data=True)
    assert resumed.status == "success"
    assert seen["after"] == seen["before"]
    assert type(seen["after"][0]) is Point and type(seen["after"][1]) is OtherPoint
    assert resumed.input == Point(1, "in")
    assert resumed.steps["make"].output == OtherPoint(2, "made")


async def test_tripwire_result_and_wire() -> None:
    async def body(ctx: Any) -> Any:
        raise TripWire("blocked", retry=True, metadata={"why": "pii"}, processor_id="p1")

    result = await (await one_step("trip", body).create_run()).start(input_data=None)
    assert result.status == "tripwire"
    info = result.tripwire
    assert (info.reason, info.retry, info.metadata, info.processor_id) == (
        "blocked",
        True,
        {"why": "pii"},
        "p1",
    )
    assert result.steps["s"].status == "failed"
    assert result.steps["s"].tripwire == info
    assert result.to_dict()["tripwire"] == {
        "reason": "blocked",
        "retry": True,
        "metadata": {"why": "pii"},
        "processorId": "p1",
    }


async def test_tripwire_defaults() -> None:
    async def body(ctx: Any) -> Any:
        raise TripWire("stop")

    result = await (await one_step("trip-defaults", body).create_run()).start(input_data=None)
    info = result.tripwire
    assert (info.reason, info.retry, info.metadata, info.processor_id) == (
        "stop",
        False,
        None,
        None,
    )


async def test_canceled_result_has_nothing_more() -> None:
    entered = asyncio.Event()

    async def hang(ctx: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()

    run = await one_step("cancel-result", hang).create_run()
    output = run.stream(input_data=None)
    await within(entered.wait())
    await run.cancel()
    result = await within(output.result)
    assert result.status == "canceled"
    wire = result.to_dict()
    assert not {"result", "error", "suspended", "suspendPayload", "tripwire"} & set(wire)


# --- to_dict ----------------------------------------------------------------------------------


async def test_to_dict_is_camel_case_wire_with_steps_input_and_user_keys_kept() -> None:
    async def body(ctx: Any) -> Any:
        ctx.set_state({"user_name": "ann"})
        return {"word_count": 2, "camelCase": True}

    wf = one_step("wire", body)
    result = await (await wf.create_run()).start(input_data={"some_field": 1})
    wire = result.to_dict()
    json.dumps(wire)  # plain JSON data
    assert wire["status"] == "success"
    assert wire["result"] == {"word_count": 2, "camelCase": True}
    assert wire["input"] == {"some_field": 1}
    assert wire["state"] == {"user_name": "ann"}
    assert wire["stepExecutionPath"] == ["s"]
    assert wire["steps"]["input"] == {"some_field": 1}
    step = wire["steps"]["s"]
    assert step["status"] == "success"
    assert step["payload"] == {"some_field": 1}
    assert step["output"] == {"word_count": 2, "camelCase": True}
    assert isinstance(step["startedAt"], int) and isinstance(step["endedAt"], int)
    assert "started_at" not in step and "step_execution_path" not in wire


async def test_result_to_dict_steps_has_input_key() -> None:
    result = await (await wf_of(inc("a")).create_run()).start(input_data=5)
    d = result.to_dict()
    assert d["steps"]["input"] == 5
    assert "input" not in result.steps
