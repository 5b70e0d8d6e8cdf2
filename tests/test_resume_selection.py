"""Resume: choosing what to resume, and rejected resumes that leave the run resumable."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from _steps import asker, const, two_askers, wf_of
from conftest import collect, finish, one, types

from rxflow import ResumeError, StepContext, ValidationError, create_step

# --- choosing the step ------------------------------------------------------------------------


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


# --- rejected resumes -------------------------------------------------------------------------


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


# --- resume_stream errors, reported through its output ----------------------------------------


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


async def test_resume_stream_of_never_started_run_reports_through_output() -> None:
    run = await wf_of(asker("ask"), wid="neverrs").create_run()
    output = run.resume_stream(resume_data=1)
    chunks = await collect(output)
    assert types(chunks) == ["workflow-start", "workflow-finish"]
    assert finish(chunks)["workflowStatus"] == "failed"
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
