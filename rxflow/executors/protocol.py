"""Where step bodies run: the ``Executor`` protocol and the default ``LocalExecutor`` (the
event loop for ``async def`` bodies, a worker thread for ``def`` bodies)."""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..context import StepContext
    from ..graph import StepNode

__all__ = ["Executor", "LocalExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Where the bodies of a workflow's steps run.

    Pass one to ``create_workflow(executor=...)`` for every step of that workflow, or to
    ``create_step(executor=...)`` for one step (the step's own executor wins). A ``foreach``
    item runs where its step runs. Retries, schemas, events, state and checkpoints stay with
    the run, in the run's process: an executor only runs one attempt of a body.

    ``in_process`` True means the bodies run in this process exactly as rxflow runs them
    without an executor (the engine then calls them itself: no extra hop). Otherwise the engine
    awaits ``run(step, ctx)`` for each attempt.
    """

    @property
    def in_process(self) -> bool:
        """True when bodies run in the run's own process, the way rxflow runs them itself."""

    async def run(self, step: StepNode, ctx: StepContext) -> Any:
        """Run one attempt of ``step.execute(ctx)`` and return its output.

        Raises what the body raised. Before returning (or raising), what the body did through
        its context (``set_state``, ``record_usage``, ``suspend``, ``abort``) has been applied
        to ``ctx``; the writer's chunks reached the run's stream while the body ran. A
        cancellation of the awaiting task must stop the body, or at least its result.
        """


class LocalExecutor:
    """The default: ``async def`` bodies on the run's event loop, ``def`` bodies in a worker
    thread of the loop's default thread pool (``asyncio.to_thread``)."""

    @property
    def in_process(self) -> bool:
        return True

    async def run(self, step: StepNode, ctx: StepContext) -> Any:
        if step.is_async:
            return await step.execute(ctx)
        output = await asyncio.to_thread(step.execute, ctx)
        if inspect.isawaitable(output):  # a lambda returning a coroutine: awaited here
            output = await output
        return output

    def __repr__(self) -> str:
        return "LocalExecutor()"
