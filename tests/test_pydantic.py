"""pydantic models as schemas in every position: validated by pydantic (validators and Field
constraints run), errors as ``$.path: message`` lines, JSON on the wire and in snapshots, and
models again after a resume in another process (SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_app import (
    SEEN,
    Answer,
    Caller,
    Counter,
    Decision,
    Question,
    Ticket,
    Triage,
    tickets,
)

from rxflow import (
    RequestContext,
    SQLiteStorage,
    ValidationError,
    create_step,
    create_workflow,
)
from rxflow.convert import conform, to_wire
from rxflow.server import create_app

HERE = Path(__file__).parent
ADA = RequestContext({"user": "ada"})


@pytest.fixture(autouse=True)
def _forget_seen() -> None:
    SEEN.clear()


def lines_of(error: BaseException) -> list[str]:
    assert isinstance(error, ValidationError), error
    return list(error.errors)


async def test_a_model_run_validates_suspends_and_resumes_with_models() -> None:
    wf = tickets()
    run = await wf.create_run()
    output = run.stream(input_data={"title": " printer ", "rating": 4}, request_context=ADA)
    chunks = [chunk.to_dict() async for chunk in output]
    suspended = await output.result
    assert suspended.status == "suspended"
    # models are JSON on the wire: the step results and the suspend payload
    json.dumps(chunks)
    triage_result = next(c for c in chunks if c["type"] == "workflow-step-result")
    assert triage_result["payload"]["output"] == {"priority": 1, "tags": ["printer"]}
    assert suspended.to_dict()["suspendPayload"] == {"review": {"ask": "approve printer?"}}
    assert SEEN == [
        {
            "input": "Triage",
            "init": "Ticket",
            "triage": "Triage",
            "suspend": "NoneType",
            "resume": "NoneType",
        }
    ]

    result = await run.resume(resume_data={"approved": True, "note": "fine"})
    assert result.status == "success"
    assert result.result == Decision(title="printer", approved=True, priority=1)
    assert result.to_dict()["result"] == {"title": "printer", "approved": True, "priority": 1}
    assert result.state == {"seen": 1}
    assert SEEN[1] == {
        "input": "Triage",
        "init": "Ticket",
        "triage": "Triage",
        "suspend": "Question",
        "resume": "Answer",
    }


async def test_invalid_input_lists_pydantic_messages_under_their_paths() -> None:
    run = await tickets().create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data={"title": "  ", "rating": 9}, request_context=ADA)
    assert lines_of(caught.value) == [
        "$.title: Value error, title is blank",
        "$.rating: Input should be less than or equal to 5",
    ]
    assert str(caught.value).splitlines()[0] == "input of workflow 'tickets'"
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data={"rating": "x"}, request_context=ADA)
    assert lines_of(caught.value) == [
        "$.title: Field required",
        "$.rating: Input should be a valid integer, unable to parse string as an integer",
    ]


async def test_pydantic_rules_apply_its_own_coercion_and_validators() -> None:
    # pydantic's lax mode turns "3" into 3; its validator strips the title
    assert conform({"title": " a ", "rating": "3"}, Ticket) == Ticket(title="a", rating=3)
    assert conform([{"priority": 2, "tags": []}], list[Triage]) == [Triage(priority=2, tags=[])]
    with pytest.raises(ValidationError) as caught:
        conform([{"priority": 2, "tags": []}, {"priority": -1, "tags": [3]}], list[Triage])
    assert lines_of(caught.value) == [
        "$[1].priority: Input should be greater than or equal to 0",
        "$[1].tags[0]: Input should be a valid string",
    ]


async def test_a_bad_step_output_fails_the_step_with_its_lines() -> None:
    async def bad(ctx: Any) -> Any:
        return {"priority": -3, "tags": "x"}

    wf = (
        create_workflow(id="bad-output")
        .then(create_step(id="triage", execute=bad, output_schema=Triage))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert lines_of(result.error) == [
        "$.priority: Input should be greater than or equal to 0",
        "$.tags: Input should be a valid list",
    ]


async def test_state_partials_and_merged_state_are_checked_by_pydantic() -> None:
    async def body(ctx: Any) -> Any:
        ctx.set_state({"seen": -1})

    wf = (
        create_workflow(id="bad-state", state_schema=Counter)
        .then(create_step(id="count", execute=body))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert lines_of(result.error) == ["$.seen: Input should be greater than or equal to 0"]
    with pytest.raises(ValidationError) as caught:
        await (await wf.create_run()).start(input_data=None, initial_state={"seen": "many"})
    assert lines_of(caught.value) == [
        "$.seen: Input should be a valid integer, unable to parse string as an integer"
    ]


async def test_bad_suspend_payload_resume_data_and_request_context() -> None:
    async def asks(ctx: Any) -> Any:
        return await ctx.suspend({"ask": 3})

    wf = (
        create_workflow(id="bad-suspend")
        .then(create_step(id="ask", execute=asks, suspend_schema=Question))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=None)
    assert result.status == "failed"
    assert lines_of(result.error) == ["$.ask: Input should be a valid string"]

    run = await tickets().create_run()
    with pytest.raises(ValidationError) as caught:
        await run.start(input_data={"title": "a", "rating": 1}, request_context=RequestContext())
    assert lines_of(caught.value) == ["$.user: Field required"]
    assert (await run.start(input_data={"title": "a", "rating": 1}, request_context=ADA)).status
    with pytest.raises(ValidationError) as caught:
        await run.resume(resume_data={"approved": "perhaps"})
    assert lines_of(caught.value) == [
        "$.approved: Input should be a valid boolean, unable to interpret input"
    ]


async def test_a_model_instance_as_input_is_used_as_is() -> None:
    seen: list[Any] = []

    async def body(ctx: Any) -> Any:
        seen.append(ctx.input_data)
        return ctx.input_data

    ticket = Ticket(title="a", rating=2)
    wf = (
        create_workflow(id="as-is", input_schema=Ticket)
        .then(create_step(id="echo", execute=body))
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=ticket)
    assert seen[0] is ticket
    assert to_wire(result.result) == {"title": "a", "rating": 2}


def test_json_schemas_are_pydantics_own_and_the_server_publishes_them() -> None:
    wf = tickets()
    draft = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    assert wf.input_json_schema() == {**Ticket.model_json_schema(), **draft}
    assert wf.output_json_schema() == {**Decision.model_json_schema(), **draft}
    assert wf.state_json_schema() == {**Counter.model_json_schema(), **draft}
    assert wf.request_context_json_schema() == {**Caller.model_json_schema(), **draft}
    review = wf.steps["review"]
    assert review.suspend_json_schema() == {**Question.model_json_schema(), **draft}
    assert review.resume_json_schema() == {**Answer.model_json_schema(), **draft}
    assert wf.input_json_schema()["properties"]["rating"] == {
        "maximum": 5,
        "minimum": 1,
        "title": "Rating",
        "type": "integer",
    }


async def test_the_server_details_route_serves_the_same_json_schemas() -> None:
    wf = tickets()
    transport = httpx.ASGITransport(app=create_app({"tickets": wf}))
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as client:
        info = (await client.get("/workflows/tickets")).json()
        await client.post("/workflows/tickets/create-run?runId=r1")
        refused = await client.post(
            "/workflows/tickets/start-async?runId=r1", json={"inputData": {"title": "x"}}
        )
    assert json.loads(info["inputSchema"]) == {"json": wf.input_json_schema()}
    assert json.loads(info["stateSchema"]) == {"json": wf.state_json_schema()}
    review = info["steps"]["review"]
    assert json.loads(review["resumeSchema"]) == {"json": wf.steps["review"].resume_json_schema()}
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "Invalid inputData",
        "issues": [{"field": "inputData.rating", "message": "Field required"}],
    }


class Inner(BaseModel):
    n: int = Field(gt=0)


class Outer(BaseModel):
    inner: Inner


@attrs.frozen
class Holder:
    outer: Outer


def test_a_model_nested_in_an_attrs_schema_is_inlined_with_its_definitions() -> None:
    wf = create_workflow(id="nested", input_schema=Holder).then(
        create_step(id="s", execute=lambda ctx: None)
    )
    document = wf.commit().input_json_schema()
    assert document["properties"]["outer"]["properties"]["inner"] == {"$ref": "#/$defs/Inner"}
    assert document["$defs"]["Inner"]["properties"]["n"]["exclusiveMinimum"] == 0
    assert conform({"outer": {"inner": {"n": 1}}}, Holder) == Holder(Outer(inner=Inner(n=1)))
    with pytest.raises(ValidationError) as caught:
        conform({"outer": {"inner": {"n": 0}}}, Holder)
    assert lines_of(caught.value) == ["$.outer.inner.n: Input should be greater than 0"]


async def test_resumed_in_a_fresh_process_on_sqlite_the_values_are_models_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    done = subprocess.run(
        [sys.executable, str(HERE / "pydantic_app.py"), str(db), "r-pydantic"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "suspended"}
    assert SEEN == []  # the first run happened in the other process

    wf = tickets(SQLiteStorage(str(db)))
    try:
        run = await wf.get_run("r-pydantic")
        assert run is not None and run.status == "suspended"
        result = await run.resume(resume_data={"approved": False})
    finally:
        await wf.storage.close()
    assert result.status == "success"
    assert result.result == Decision(title="printer", approved=False, priority=1)
    assert SEEN == [
        {
            "input": "Triage",
            "init": "Ticket",
            "triage": "Triage",
            "suspend": "Question",
            "resume": "Answer",
        }
    ]


@pydantic_dataclass
class Reading:
    value: float = Field(ge=0)


def test_a_pydantic_dataclass_is_validated_and_written_by_pydantic() -> None:
    assert conform({"value": "1.5"}, Reading) == Reading(value=1.5)
    assert to_wire(Reading(value=2)) == {"value": 2.0}
    with pytest.raises(ValidationError) as caught:
        conform({"value": -1}, Reading)
    assert lines_of(caught.value) == ["$.value: Input should be greater than or equal to 0"]
