"""A workflow with pydantic schemas in every position, shared by tests/test_pydantic.py and
its worker process: ``pydantic_app.py DB RUN_ID`` runs it on SQLite to its suspension."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pydantic import BaseModel, Field, field_validator

from rxflow import SQLiteStorage, StepContext, Storage, create_step, create_workflow


class Ticket(BaseModel):
    title: str
    rating: int = Field(ge=1, le=5)

    @field_validator("title")
    @classmethod
    def not_blank(cls, title: str) -> str:
        if not title.strip():
            raise ValueError("title is blank")
        return title.strip()


class Triage(BaseModel):
    priority: int = Field(ge=0)
    tags: list[str]


class Question(BaseModel):
    ask: str


class Answer(BaseModel):
    approved: bool
    note: str = ""


class Decision(BaseModel):
    title: str
    approved: bool
    priority: int


class Counter(BaseModel):
    seen: int = Field(default=0, ge=0)


class Caller(BaseModel):
    user: str = Field(min_length=1)


#: What the review step saw, each time it ran (type names of what it read).
SEEN: list[dict[str, str]] = []


async def triage(ctx: StepContext) -> Any:
    ticket: Ticket = ctx.input_data
    ctx.set_state({"seen": ctx.state.get("seen", 0) + 1})
    return Triage(priority=5 - ticket.rating, tags=[ticket.title])


async def review(ctx: StepContext) -> Any:
    SEEN.append(
        {
            "input": type(ctx.input_data).__name__,
            "init": type(ctx.get_init_data()).__name__,
            "triage": type(ctx.get_step_result("triage")).__name__,
            "suspend": type(ctx.suspend_data).__name__,
            "resume": type(ctx.resume_data).__name__,
        }
    )
    if ctx.resume_data is None:
        return await ctx.suspend(Question(ask=f"approve {ctx.get_init_data().title}?"))
    return Decision(
        title=ctx.get_init_data().title,
        approved=ctx.resume_data.approved,
        priority=ctx.input_data.priority,
    )


def tickets(storage: Storage | None = None) -> Any:
    return (
        create_workflow(
            id="tickets",
            input_schema=Ticket,
            output_schema=Decision,
            state_schema=Counter,
            request_context_schema=Caller,
            storage=storage,
        )
        .then(create_step(id="triage", execute=triage, input_schema=Ticket, output_schema=Triage))
        .then(
            create_step(
                id="review",
                execute=review,
                input_schema=Triage,
                output_schema=Decision,
                suspend_schema=Question,
                resume_schema=Answer,
            )
        )
        .commit()
    )


async def _suspend(db: str, run_id: str) -> None:
    from rxflow import RequestContext

    wf = tickets(SQLiteStorage(db))
    run = await wf.create_run(run_id=run_id)
    result = await run.start(
        input_data={"title": " printer ", "rating": 4},
        request_context=RequestContext({"user": "ada"}),
    )
    print(json.dumps({"status": result.status}))
    await wf.storage.close()


if __name__ == "__main__":
    asyncio.run(_suspend(sys.argv[1], sys.argv[2]))
