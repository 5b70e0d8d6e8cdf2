"""Workflow and step builders, step bodies and schemas shared by the feature tests."""

from __future__ import annotations

from typing import Any

import attrs

from rxflow import StepContext, create_step, create_workflow

# --- workflows -------------------------------------------------------------------------------


def wf_of(*steps: Any, wid: str = "wf", **kwargs: Any) -> Any:
    """A committed workflow that chains ``steps`` with ``then``."""
    builder = create_workflow(id=wid, **kwargs)
    for s in steps:
        builder = builder.then(s)
    return builder.commit()


def one_step(workflow_id: str, body: Any, **options: Any) -> Any:
    """A committed workflow of one step ``s`` running ``body``."""
    step_options = options.pop("step_options", {})
    return (
        create_workflow(id=workflow_id, **options)
        .then(create_step(id="s", execute=body, **step_options))
        .commit()
    )


def two_askers(wid: str) -> tuple[Any, Any, Any]:
    """A workflow that suspends in two parallel steps labelled ``la`` and ``lb``."""
    a = asker("ask_a", label="la")
    b = asker("ask_b", label="lb")
    wf = create_workflow(id=wid).parallel([a, b]).commit()
    return wf, a, b


# --- steps -----------------------------------------------------------------------------------


def const(sid: str, value: Any) -> Any:
    """A step that returns ``value``."""

    async def body(ctx: StepContext) -> Any:
        return value

    return create_step(id=sid, execute=body)


def inc(sid: str) -> Any:
    """A step that returns its input plus one."""

    async def body(ctx: StepContext) -> Any:
        return ctx.input_data + 1

    return create_step(id=sid, execute=body)


def asker(sid: str, label: str | None = None, calls: list[Any] | None = None) -> Any:
    """A step that suspends, then returns its resume data; ``calls`` records each call."""

    async def body(ctx: StepContext) -> Any:
        if calls is not None:
            calls.append((ctx.input_data, ctx.resume_data))
        if ctx.resume_data is None:
            return await ctx.suspend({"asked": sid}, resume_label=label)
        return ctx.resume_data

    return create_step(id=sid, execute=body)


# --- step bodies -----------------------------------------------------------------------------


async def echo(ctx: Any) -> Any:
    return ctx.input_data


async def add_one(ctx: Any) -> int:
    return int(ctx.input_data) + 1


async def ask(ctx: Any) -> Any:
    """Suspends the first time, returns the resume data when resumed."""
    if ctx.resume_data is None:
        return await ctx.suspend({"question": ctx.input_data})
    return ctx.resume_data


# --- schemas and errors ----------------------------------------------------------------------


@attrs.frozen
class Num:
    value: int


@attrs.frozen
class Point:
    x: int
    y: str


@attrs.frozen
class OtherPoint:
    x: int
    y: str


class PaymentDeclined(Exception):
    pass
