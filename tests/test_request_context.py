"""RequestContext: its mapping API, and the one context every step, condition and child sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rxflow import RequestContext, SQLiteStorage, create_step, create_workflow

# --- the mapping API --------------------------------------------------------------------------


def test_request_context_constructor_and_get() -> None:
    rc = RequestContext(initial={"user": "ada"})
    assert rc.get("user") == "ada"
    assert rc.get("missing") is None
    assert rc.get("missing", 5) == 5
    assert RequestContext().get("x") is None


def test_request_context_mapping_api() -> None:
    context = RequestContext({"a": 1})
    assert context.get("a") == 1
    assert context.get("missing") is None
    assert context.get("missing", "dflt") == "dflt"
    assert context.has("a") and not context.has("b")
    context.set("b", {"nested": True})
    assert len(context) == 2
    assert list(context.keys()) == ["a", "b"]
    assert list(context.values()) == [1, {"nested": True}]
    assert list(context.items()) == [("a", 1), ("b", {"nested": True})]
    assert context.to_dict() == {"a": 1, "b": {"nested": True}}
    context.delete("a")
    assert not context.has("a") and len(context) == 1
    context.clear()
    assert len(context) == 0 and context.to_dict() == {}
    assert RequestContext().to_dict() == {}


# --- what steps see, and what is stored -------------------------------------------------------


async def test_the_same_request_context_reaches_every_step_condition_and_nested_workflow() -> None:
    seen: list[Any] = []

    async def writer(ctx: Any) -> Any:
        seen.append(ctx.request_context)
        ctx.request_context.set("written", "by writer")
        return 1

    async def reader(ctx: Any) -> Any:
        seen.append(ctx.request_context)
        return ctx.request_context.get("written")

    def cond(ctx: Any) -> bool:
        seen.append(ctx.request_context)
        return True

    child = create_workflow(id="child-rc").then(create_step(id="inner", execute=reader)).commit()
    wf = (
        create_workflow(id="rc")
        .then(create_step(id="writer", execute=writer))
        .branch([(cond, create_step(id="branch_reader", execute=reader))])
        .then(child)
        .commit()
    )
    mine = RequestContext({"user": "ann"})
    result = await (await wf.create_run()).start(input_data=None, request_context=mine)
    assert result.status == "success"
    assert result.result == "by writer"
    assert len(seen) == 4
    assert all(context is seen[0] for context in seen)
    assert seen[0].get("user") == "ann"


async def test_request_context_is_stored_and_fills_only_missing_keys_on_resume(
    tmp_path: Path,
) -> None:
    async def report(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend(None)
        return ctx.request_context.to_dict()

    def build(storage: Any) -> Any:
        return (
            create_workflow(id="rc-resume", storage=storage)
            .then(create_step(id="report", execute=report))
            .commit()
        )

    first = build(SQLiteStorage(tmp_path / "runs.db"))
    run = await first.create_run(run_id="rc-1")
    await run.start(input_data=None, request_context=RequestContext({"a": "stored", "b": "stored"}))
    snapshot = await first.storage.load_snapshot("rc-resume", "rc-1")
    assert snapshot["requestContext"] == {"a": "stored", "b": "stored"}
    await first.storage.close()

    second = build(SQLiteStorage(tmp_path / "runs.db"))
    attached = await second.create_run(run_id="rc-1")
    result = await attached.resume(resume_data=1, request_context=RequestContext({"a": "caller"}))
    assert result.result == {"a": "caller", "b": "stored"}
    await second.storage.close()
