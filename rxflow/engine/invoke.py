"""A step compiled for its program (``StepInvoker``): starts invocations and runs them the way
its strategy, chosen at compile time, says.

``start`` emits ``workflow-step-start`` and returns a ``StepCall``; ``run`` runs the body and
emits the result (or suspended) event. Blocks call the two halves apart so that every
sibling's start is out before any sibling's result; ``invoke`` does both.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import attrs

from ..events import STEP_START_RECORD
from ..executors.protocol import Executor
from ..graph import StepLike, WorkflowGraph
from ..results import IterationMetadata, StepResult
from .call import StepCall
from .report import cancel_call
from .state import ExecutionState, ResumeTarget, new_call_id, now_ms
from .strategies import StepKind, Strategy, choose_strategy

__all__ = ["StepCall", "StepInvoker", "cancel_call", "compile_step"]


@attrs.frozen(slots=True, eq=False)
class StepInvoker:
    """One step of a compiled program: the step, its kind, and how its invocations run."""

    step: StepLike
    kind: StepKind
    #: Runs a started invocation to its end: ``await invoker.run(ex, call)``.
    run: Strategy

    def start(
        self,
        ex: ExecutionState,
        input_data: Any,
        *,
        iteration: int | None = None,
        events: bool = True,
        resume_from: StepResult | None = None,
        target: ResumeTarget | None = None,
        foreach_index: int | None = None,
    ) -> StepCall:
        """Begin an invocation: emit ``workflow-step-start`` (unless ``events`` is off).

        With ``resume_from`` (the stored suspended result) and ``target``, the invocation
        resumes it (see ``StepCall.resume_from``), with a new call id.
        """
        event_id = ex.prefix + self.step.id
        metadata = IterationMetadata(iteration) if iteration is not None else None
        call = StepCall(
            self.step,
            event_id,
            input_data,
            now_ms(),
            metadata,
            events,
            new_call_id(),
            foreach_index,
        )
        if resume_from is not None and target is not None:
            call.resume_from(resume_from, target)
        if events:
            # A compact record (see rxflow.events.build_event); field order is the record's.
            ex.scope.emit_record(
                (
                    STEP_START_RECORD,
                    ex.scope.run_id,
                    event_id,
                    call.call_id,
                    input_data,
                    call.started_at,
                    call.resume_data,
                    call.resumed_at,
                    metadata,
                )
            )
        return call

    def invoke(
        self,
        ex: ExecutionState,
        input_data: Any,
        *,
        iteration: int | None = None,
        events: bool = True,
        resume_from: StepResult | None = None,
        target: ResumeTarget | None = None,
        foreach_index: int | None = None,
    ) -> Coroutine[Any, Any, StepResult]:
        """Start one invocation now; await the result to run it (options: see ``start``).

        Returns the strategy's coroutine itself, so awaiting it adds no coroutine layer.
        """
        call = self.start(
            ex,
            input_data,
            iteration=iteration,
            events=events,
            resume_from=resume_from,
            target=target,
            foreach_index=foreach_index,
        )
        return self.run(ex, call)


def compile_step(step: StepLike, executor: Executor | None = None) -> StepInvoker:
    """``step`` ready to run: its strategy chosen once, here (see ``strategies``). A step's own
    executor wins over ``executor`` (its workflow's); a nested workflow runs its steps on its
    own executor."""
    if not isinstance(step, WorkflowGraph) and step.executor is not None:
        executor = step.executor
    kind, run = choose_strategy(step, executor)
    return StepInvoker(step, kind, run)
