"""Event payloads as a run emits them: the wire fields of each event type, ids and step names."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from _steps import asker, inc, wf_of
from conftest import GUARD, USAGE_KEYS, collect, finish, now_ms, of, one, shape, types

from rxflow import StepContext, create_step, create_workflow

# --- step start and result --------------------------------------------------------------------


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


# --- suspend and resume -----------------------------------------------------------------------


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


# --- foreach progress -------------------------------------------------------------------------


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


# --- ids, step names and nesting --------------------------------------------------------------


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
