"""A failed run lets go of what it made: its failed steps' errors outlive it (in the result and,
by reference, in the workflow's in-memory store), and their tracebacks must not keep the run's
execution state, step contexts or the bodies' local values alive while the workflow lives."""

from __future__ import annotations

import gc
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from rxflow import (
    RetryConfig,
    StepContext,
    TripWire,
    Workflow,
    create_step,
    create_workflow,
)
from rxflow.engine.state import ExecutionState


class Held:
    """What a step body holds in a local variable when it raises."""


made: list[weakref.ref[Held]] = []


def _hold() -> Held:
    held = Held()
    made.append(weakref.ref(held))
    return held


async def boom(ctx: StepContext) -> Any:
    held = _hold()
    raise RuntimeError(f"boom with {type(held).__name__}")


def thread_boom(ctx: StepContext) -> Any:
    held = _hold()
    raise RuntimeError(f"boom with {type(held).__name__}")


async def chained(ctx: StepContext) -> Any:
    held = _hold()
    try:
        raise KeyError(type(held).__name__)
    except KeyError as error:
        raise RuntimeError("wrapped") from error


async def trips(ctx: StepContext) -> Any:
    held = _hold()
    raise TripWire(f"stop {type(held).__name__}")


def _step(body: Callable[..., Any], **options: Any) -> Any:
    return create_step(id="fails", execute=body, **options)


FLOWS: dict[str, Callable[[], Workflow]] = {
    "step": lambda: create_workflow(id="w").then(_step(boom)).commit(),
    "thread body": lambda: create_workflow(id="w").then(_step(thread_boom)).commit(),
    "chained error": lambda: create_workflow(id="w").then(_step(chained)).commit(),
    "retried": lambda: (
        create_workflow(id="w", retry_config=RetryConfig(attempts=2, delay=0))
        .then(_step(boom))
        .commit()
    ),
    "tripwire": lambda: create_workflow(id="w").then(_step(trips)).commit(),
    "nested": lambda: (
        create_workflow(id="w")
        .then(create_workflow(id="inner").then(_step(boom)).commit())
        .commit()
    ),
    "foreach": lambda: create_workflow(id="w").foreach(_step(boom), concurrency=2).commit(),
    "parallel": lambda: (
        create_workflow(id="w")
        .parallel([_step(boom), create_step(id="fine", execute=lambda ctx: 1)])
        .commit()
    ),
}


def _alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


@pytest.mark.parametrize("shape", list(FLOWS))
@pytest.mark.parametrize("verb", ["start", "stream"])
async def test_a_failed_run_keeps_nothing_alive_while_its_workflow_lives(
    shape: str, verb: str
) -> None:
    workflow = FLOWS[shape]()
    made.clear()

    async def one() -> str:
        run = await workflow.create_run()
        data = [1, 2] if shape == "foreach" else {}
        if verb == "start":
            result = await run.start(input_data=data)
        else:
            output = run.stream(input_data=data)
            async for _ in output:
                pass
            result = await output.result
        # The error still says where it was raised.
        error = result.error if result.error is not None else result.steps["fails"].error
        assert isinstance(error, BaseException)
        assert error.__traceback__ is not None
        names = {frame.name for frame in traceback.extract_tb(error.__traceback__)}
        assert names & {"boom", "thread_boom", "chained", "trips"}
        return str(result.status)

    status = await one()
    assert status == ("tripwire" if shape == "tripwire" else "failed")
    gc.collect()
    assert made and all(ref() is None for ref in made), "a body's local value is alive"
    assert _alive(ExecutionState) == 0
    assert _alive(StepContext) == 0
    # The workflow (and its in-memory store holding the run's results) is alive all along.
    assert workflow.committed
