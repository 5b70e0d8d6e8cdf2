"""Suspend and resume in one process: events, results, selection, errors, kept-open streams."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
from conftest import collect, kinds

from rxflow import (
    InMemoryStorage,
    RequestContext,
    ResumeAlreadyClaimedError,
    ResumeError,
    RxflowError,
    StepContext,
    ValidationError,
    create_step,
    create_workflow,
)


@attrs.frozen
class Approval:
    ok: bool


def approval_workflow(counter: dict[str, int], storage: Any = None) -> Any:
    async def draft(ctx: StepContext) -> dict[str, str]:
        counter["draft"] = counter.get("draft", 0) + 1
        return {"text": "hello"}

    async def approve(ctx: StepContext) -> Any:
        counter["approve"] = counter.get("approve", 0) + 1
        counter["seen"] = (ctx.resume_data, ctx.suspend_data, ctx.input_data)  # type: ignore[assignment]
        if ctx.resume_data is None or not ctx.resume_data.ok:
            ctx.set_state({"asked": True})
            return await ctx.suspend({"reason": "need ok"})
        return {"approved": True, "text": ctx.input_data["text"]}

    async def send(ctx: StepContext) -> dict[str, bool]:
        counter["send"] = counter.get("send", 0) + 1
        return {"sent": ctx.input_data["approved"]}

    return (
        create_workflow(id="approval", storage=storage)
        .then(create_step(id="draft", execute=draft))
        .then(create_step(id="approve", execute=approve, resume_schema=Approval))
        .then(create_step(id="send", execute=send))
        .commit()
    )


async def test_suspend_then_resume_stream() -> None:
    counter: dict[str, int] = {}
    run = await approval_workflow(counter).create_run()
    first = run.stream(input_data=None)
    chunks = await collect(first)
    assert kinds(chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "draft"),
        ("workflow-step-result", "draft"),
        ("workflow-step-start", "approve"),
        ("workflow-step-suspended", "approve"),
        ("workflow-finish", None),
    ]
    suspended = chunks[4].to_dict()["payload"]
    assert suspended["suspendPayload"] == {"reason": "need ok"}
    assert suspended["status"] == "suspended"
    assert suspended["stepCallId"] == chunks[3].payload.step_call_id
    assert chunks[5].to_dict()["payload"]["workflowStatus"] == "suspended"
    assert chunks[5].to_dict()["payload"]["metadata"] == {}
    result = await first.result
    assert result.status == "suspended"
    assert result.suspended == [["approve"]]
    assert result.suspend_payload == {"approve": {"reason": "need ok"}}
    assert result.state == {"asked": True}  # state set before suspend is kept
    assert first.status == "suspended" and run.status == "suspended"

    second = run.resume_stream(step="approve", resume_data={"ok": True})
    assert second is not first
    resumed = await collect(second)
    assert kinds(resumed) == [
        ("workflow-start", None),
        ("workflow-step-start", "approve"),
        ("workflow-step-result", "approve"),
        ("workflow-step-start", "send"),
        ("workflow-step-result", "send"),
        ("workflow-finish", None),
    ]
    start = resumed[1].to_dict()["payload"]
    original_start = chunks[3].to_dict()["payload"]
    assert start["startedAt"] == original_start["startedAt"]
    assert start["resumePayload"] == {"ok": True}
    assert start["resumedAt"] >= start["startedAt"]
    assert start["stepCallId"] != original_start["stepCallId"]
    assert start["payload"] == {"text": "hello"}
    end = resumed[2].to_dict()["payload"]
    assert end["resumePayload"] == {"ok": True} and end["resumedAt"] == start["resumedAt"]
    assert counter["draft"] == 1 and counter["approve"] == 2 and counter["send"] == 1
    resume_data, suspend_data, input_data = counter["seen"]  # type: ignore[misc]
    assert resume_data == Approval(ok=True)
    assert suspend_data == {"reason": "need ok"}
    assert input_data == {"text": "hello"}  # the stored input, not anything later
    final = await second.result
    assert final.status == "success"
    assert final.result == {"sent": True}
    assert final.step_execution_path == ["draft", "approve", "send"]
    assert second.status == "success" and run.status == "success"
    assert resumed[-1].to_dict()["payload"]["finalWorkflowResult"] == {"sent": True}


async def test_resume_returns_result_and_auto_detects_step() -> None:
    run = await approval_workflow({}).create_run()
    assert (await run.start(input_data=None)).status == "suspended"
    result = await run.resume(resume_data={"ok": True})
    assert result.status == "success" and result.result == {"sent": True}


async def test_rejected_resumes_leave_the_run_resumable() -> None:
    run = await approval_workflow({}).create_run()
    await run.start(input_data=None)
    with pytest.raises(ValidationError, match=r"\$\.ok: expected bool, got 'yes'"):
        await run.resume(resume_data={"ok": "yes"})
    with pytest.raises(
        ResumeError, match="step 'send' .* is not suspended; suspended steps: \\['approve'\\]"
    ):
        await run.resume(step="send", resume_data={"ok": True})
    with pytest.raises(ResumeError, match="no resume label"):
        await run.resume(label="nope", resume_data={"ok": True})
    assert run.status == "suspended"
    result = await run.resume(resume_data={"ok": True})
    assert result.status == "success"
    with pytest.raises(ResumeError, match="not suspended \\(status: success\\)"):
        await run.resume(resume_data={"ok": True})


async def test_resume_of_unknown_run_is_a_resume_error() -> None:
    wf = approval_workflow({})
    run = await wf.create_run()
    await wf.storage.delete_run(wf.id, run.run_id)
    with pytest.raises(ResumeError, match="no stored run"):
        await run.resume(resume_data={"ok": True})


async def test_resume_stream_reports_errors_through_its_output() -> None:
    run = await approval_workflow({}).create_run()
    await run.start(input_data=None)
    output = run.resume_stream(step="draft", resume_data={"ok": True})
    chunks = await collect(output)
    assert [c.type for c in chunks] == ["workflow-start", "workflow-finish"]
    assert chunks[1].to_dict()["payload"]["metadata"]["error"]["name"] == "ResumeError"
    with pytest.raises(ResumeError):
        await output.result
    assert run.status == "suspended"
    assert (await run.resume(resume_data={"ok": True})).status == "success"


async def test_close_on_suspend_false_keeps_stream_open_until_real_end() -> None:
    run = await approval_workflow({}).create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    seen: list[str] = []
    suspended = asyncio.Event()

    async def read() -> None:
        async for chunk in output:
            seen.append(chunk.type)
            if chunk.type == "workflow-step-suspended":
                suspended.set()

    reader = asyncio.create_task(read())
    await suspended.wait()
    await asyncio.sleep(0)
    assert not reader.done()
    assert output.status == "suspended"
    result_task = asyncio.ensure_future(output.result)
    await asyncio.sleep(0)
    assert not result_task.done()  # result waits for the run's real end
    final = await run.resume(resume_data={"ok": True})
    await asyncio.wait_for(reader, 5)
    assert seen == [
        "workflow-start",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-suspended",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-step-start",
        "workflow-step-result",
        "workflow-finish",
    ]
    assert final.status == "success"
    assert (await result_task).status == "success"
    assert output.status == "success"


async def test_kept_open_stream_fed_by_resume_stream_without_second_start() -> None:
    run = await approval_workflow({}).create_run()
    kept = run.stream(input_data=None, close_on_suspend=False)
    assert (await kept.result if False else None) is None
    while run.status != "suspended":
        await asyncio.sleep(0)
    assert kept.status == "suspended"
    second = run.resume_stream(resume_data={"ok": True})
    second_chunks = await collect(second)
    kept_chunks = await collect(kept)
    assert [c.type for c in kept_chunks].count("workflow-start") == 1
    assert [c.type for c in kept_chunks][-1] == "workflow-finish"
    assert [c.type for c in second_chunks][0] == "workflow-start"
    assert kept_chunks[-1].payload.workflow_status == "success"
    assert second_chunks[-1].payload.workflow_status == "success"


async def test_suspension_in_parallel_resumes_one_branch_at_a_time() -> None:
    def asker(name: str) -> Any:
        async def body(ctx: StepContext) -> Any:
            if ctx.resume_data is None:
                return await ctx.suspend({"who": name})
            return f"{name}:{ctx.resume_data}"

        return create_step(id=name, execute=body)

    ran: list[str] = []

    async def plain(ctx: StepContext) -> str:
        ran.append("plain")
        return "p"

    wf = (
        create_workflow(id="par-s")
        .parallel([asker("a"), asker("b"), create_step(id="plain", execute=plain)])
        .commit()
    )
    run = await wf.create_run()
    result = await run.start(input_data=0)
    assert result.status == "suspended"
    assert sorted(result.suspended) == [["a"], ["b"]]  # type: ignore[arg-type]
    with pytest.raises(ResumeError, match="several suspended steps"):
        await run.resume(resume_data=1)
    partial = await run.resume(step="a", resume_data=1)
    assert partial.status == "suspended" and partial.suspended == [["b"]]
    done = await run.resume(step="b", resume_data=2)
    assert done.status == "success"
    assert done.result == {"a": "a:1", "b": "b:2", "plain": "p"}
    assert ran == ["plain"]


async def test_suspension_in_branch() -> None:
    async def gate(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend("wait")
        return ctx.resume_data

    wf = (
        create_workflow(id="br-s")
        .branch(
            [
                (lambda ctx: True, create_step(id="gate", execute=gate)),
                (lambda ctx: False, create_step(id="no", execute=gate)),
            ]
        )
        .commit()
    )
    run = await wf.create_run()
    assert (await run.start(input_data=0)).suspended == [["gate"]]
    assert (await run.resume(resume_data="go")).result == {"gate": "go"}


async def test_suspension_in_nested_workflow_resumes_by_dotted_path() -> None:
    inner_runs: list[Any] = []

    async def ask(ctx: StepContext) -> Any:
        inner_runs.append(ctx.resume_data)
        if ctx.resume_data is None:
            return await ctx.suspend({"q": "continue?"})
        return f"answer {ctx.resume_data}"

    async def before(ctx: StepContext) -> int:
        inner_runs.append("before")
        return 1

    child = (
        create_workflow(id="child")
        .then(create_step(id="before", execute=before))
        .then(create_step(id="ask", execute=ask))
        .commit()
    )
    parent = (
        create_workflow(id="parent")
        .then(child)
        .then(create_step(id="after", execute=lambda ctx: ctx.input_data + "!"))
        .commit()
    )
    run = await parent.create_run()
    output = run.stream(input_data=None)
    chunks = await collect(output)
    assert kinds(chunks)[-3:] == [
        ("workflow-step-suspended", "child.ask"),
        ("workflow-step-suspended", "child"),
        ("workflow-finish", None),
    ]
    result = await output.result
    assert result.suspended == [["child", "ask"]]
    assert result.suspend_payload == {"child": {"q": "continue?"}}
    resumed = run.resume_stream(step="child.ask", resume_data="yes")
    resumed_chunks = await collect(resumed)
    assert kinds(resumed_chunks) == [
        ("workflow-start", None),
        ("workflow-step-start", "child"),
        ("workflow-step-start", "child.ask"),
        ("workflow-step-result", "child.ask"),
        ("workflow-step-result", "child"),
        ("workflow-step-start", "after"),
        ("workflow-step-result", "after"),
        ("workflow-finish", None),
    ]
    final = await resumed.result
    assert final.result == "answer yes!"
    assert inner_runs == ["before", None, "yes"]  # 'before' never ran again


async def test_foreach_items_suspend_and_resume_by_index() -> None:
    runs: dict[int, int] = {}

    async def item(ctx: StepContext) -> Any:
        index = ctx.input_data
        runs[index] = runs.get(index, 0) + 1
        if index in (1, 3) and ctx.resume_data is None:
            return await ctx.suspend({"item": index}, resume_label=f"item-{index}")
        return index * 10 + (ctx.resume_data or 0)

    wf = (
        create_workflow(id="fe-s")
        .foreach(create_step(id="item", execute=item), concurrency=1)
        .commit()
    )
    run = await wf.create_run()
    output = run.stream(input_data=[0, 1, 2, 3, 4])
    chunks = await collect(output)
    progress = [c.payload for c in chunks if c.type == "workflow-step-progress"]
    assert [(p.current_index, p.iteration_status, p.completed_count) for p in progress] == [
        (0, "success", 1),
        (1, "suspended", 1),
    ]
    assert chunks[-2].type == "workflow-step-suspended"
    assert chunks[-2].to_dict()["payload"]["suspendPayload"] == {"item": 1}
    assert "stepCallId" not in chunks[-2].to_dict()["payload"]
    assert (await output.result).status == "suspended"

    # Only item 1 resumed; 2 and 3 had never started, so they run; 3 suspends, which stops
    # the queue again, so 4 waits for the next resume.
    second = run.resume_stream(step="item", for_each_index=1, resume_data=5)
    second_chunks = await collect(second)
    mid = await second.result
    assert mid.status == "suspended"
    statuses = [
        (c.payload.current_index, c.payload.iteration_status)
        for c in second_chunks
        if c.type == "workflow-step-progress"
    ]
    assert statuses == [(1, "success"), (2, "success"), (3, "suspended")]
    with pytest.raises(
        ResumeError, match="item 1 of foreach 'item' is not suspended; suspended items: \\[3\\]"
    ):
        await run.resume(for_each_index=1, resume_data=0)

    final = await run.resume(label="item-3", resume_data=7)
    assert final.status == "success"
    assert final.result == [0, 15, 20, 37, 40]
    assert runs == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1}  # succeeded items never ran again


async def test_concurrent_resumes_one_winner_downstream_runs_once() -> None:
    counter: dict[str, int] = {}
    run = await approval_workflow(counter).create_run()
    await run.start(input_data=None)
    outcomes = await asyncio.gather(
        *[run.resume(resume_data={"ok": True}) for _ in range(10)], return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1 and winners[0].status == "success"
    assert len(losers) == 9 and all(isinstance(e, ResumeAlreadyClaimedError) for e in losers)
    assert counter["send"] == 1


async def test_resume_from_another_run_object_with_the_same_storage() -> None:
    storage = InMemoryStorage()
    counter: dict[str, int] = {}
    wf = approval_workflow(counter, storage)
    run = await wf.create_run(run_id="shared")
    await run.start(input_data=None, request_context={"user": "ada", "lang": "en"})
    other_wf = approval_workflow(counter, storage)
    attached = await other_wf.create_run(run_id="shared")
    assert attached is not run and attached.status == "suspended"

    seen: list[Any] = []

    async def peek(ctx: StepContext) -> Any:
        seen.append(ctx.request_context.to_dict())
        return 1

    result = await attached.resume(
        resume_data={"ok": True}, request_context=RequestContext({"lang": "fr"})
    )
    assert result.status == "success"
    record = await storage.get_run("approval", "shared")
    assert record is not None and record.status == "success"
    assert record.snapshot["requestContext"] == {"user": "ada", "lang": "fr"}


async def test_cancel_suspended_run_ends_kept_open_output() -> None:
    run = await approval_workflow({}).create_run()
    output = run.stream(input_data=None, close_on_suspend=False)
    while run.status != "suspended":
        await asyncio.sleep(0)
    await run.cancel()
    chunks = await collect(output)
    assert [c.type for c in chunks][-2:] == ["workflow-canceled", "workflow-finish"]
    assert chunks[-1].payload.workflow_status == "canceled"
    assert (await output.result).status == "canceled"
    record = await run.workflow.storage.get_run("approval", run.run_id)
    assert record.status == "canceled"
    with pytest.raises(ResumeError, match="not suspended"):
        await run.resume(resume_data={"ok": True})


async def test_observe_stream_and_watch() -> None:
    run = await approval_workflow({}).create_run()
    assert [c async for c in run.observe_stream()] == []
    raw: list[str] = []
    stop = run.watch(lambda event: raw.append(event.type))
    output = run.stream(input_data=None)
    await output.result
    stop()
    assert run.observe_stream() is output
    assert raw.count("workflow-step-finish") == 1  # after draft's result
    assert raw.index("workflow-step-finish") == raw.index("workflow-step-result") + 1
    assert "workflow-step-finish" not in [c.type for c in await collect(output)]


async def test_suspend_outside_a_run_and_suspend_schema() -> None:
    @attrs.frozen
    class Ask:
        question: str

    async def bad(ctx: StepContext) -> Any:
        return await ctx.suspend({"question": 3})

    wf = (
        create_workflow(id="ss")
        .then(create_step(id="bad", execute=bad, suspend_schema=Ask))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert isinstance(result.error, ValidationError)
    assert result.error.errors == ["$.question: expected str, got 3"]

    def sync_suspend(ctx: StepContext) -> Any:
        return asyncio.run(ctx.suspend())  # pragma: no cover - raises before

    wf2 = create_workflow(id="ss2").then(create_step(id="s", execute=sync_suspend)).commit()
    failed = await (await wf2.create_run()).start(input_data=None)
    assert failed.status == "failed"
    assert isinstance(failed.error, RxflowError)


async def test_in_memory_snapshots_read_back_in_wire_form() -> None:
    storage = InMemoryStorage()
    wf = approval_workflow({}, storage)
    run = await wf.create_run(run_id="wire")
    await run.start(input_data=None)
    snapshot = await storage.load_snapshot("approval", "wire")
    assert snapshot is not None
    context = snapshot["context"]
    assert context["input"] is None
    assert context["draft"] == {
        "status": "success",
        "payload": None,
        "output": {"text": "hello"},
        "startedAt": context["draft"]["startedAt"],
        "endedAt": context["draft"]["endedAt"],
    }
    assert context["approve"]["status"] == "suspended"
    assert context["approve"]["suspendPayload"] == {"reason": "need ok"}
    assert snapshot["suspendedPaths"] == {"approve": [1]}
    listed = await storage.list_runs("approval")
    assert listed.runs[0].snapshot["context"]["draft"]["output"] == {"text": "hello"}
    assert all(
        isinstance(v, dict) for v in listed.runs[0].snapshot["context"].values() if v is not None
    )


async def test_wrong_argument_types_raise_at_the_call() -> None:
    run = await approval_workflow({}).create_run()
    await run.start(input_data=None)
    with pytest.raises(TypeError, match="step must be"):
        run.resume_stream(step=3.5, resume_data={"ok": True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="for_each_index"):
        run.resume_stream(for_each_index="1", resume_data={"ok": True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="request_context"):
        await run.resume(request_context=["x"], resume_data={"ok": True})  # type: ignore[arg-type]
    assert run.status == "suspended"
    assert (await run.resume(resume_data={"ok": True})).status == "success"


async def test_nested_workflow_suspending_inside_foreach_items() -> None:
    asked: list[Any] = []

    async def ask(ctx: StepContext) -> Any:
        asked.append((ctx.input_data, ctx.resume_data))
        if ctx.resume_data is None:
            return await ctx.suspend({"item": ctx.input_data})
        return ctx.input_data * 100 + ctx.resume_data

    per_item = create_workflow(id="per").then(create_step(id="ask", execute=ask)).commit()
    wf = create_workflow(id="fe-nested").foreach(per_item, concurrency=2).commit()
    run = await wf.create_run()
    first = await run.start(input_data=[1, 2])
    assert first.status == "suspended"
    assert first.suspended == [["per", "ask"]]
    only_one = await run.resume(step="per.ask", for_each_index=1, resume_data=7)
    assert only_one.status == "suspended"
    done = await run.resume(resume_data=5)
    assert done.status == "success"
    assert done.result == [105, 207]
    assert asked == [(1, None), (2, None), (2, 7), (1, 5)]  # item 1 waited for the 2nd resume
