"""``dowhile`` / ``dountil``: run the step, test the condition on its output, repeat.

Each iteration is a full invocation (start/result events carrying ``iteration_count``, retries
counted from 0 again); its input is the previous iteration's output. The block's output is the
last output; a non-success iteration ends the loop with that outcome.
"""

from __future__ import annotations

from ..graph import LoopEntry
from .condition import evaluate
from .invoke import invoke_step
from .operator import EntryOperator
from .state import ExecutionState
from .then import settle_step

__all__ = ["loop_operator"]


def loop_operator(entry: LoopEntry) -> EntryOperator:
    step = entry.step
    condition = entry.condition
    repeat_while = entry.loop_type == "dowhile"

    async def run(ex: ExecutionState) -> None:
        abort = ex.scope.abort_signal
        iteration = 1
        while True:
            result = await invoke_step(ex, step, ex.value, iteration=iteration)
            settle_step(ex, step.id, result)
            if ex.status != "running":
                return
            try:
                verdict = bool(
                    await evaluate(condition, ex, ex.value, iteration_count=iteration)
                )
            except Exception as error:
                ex.fail(error)
                return
            if verdict != repeat_while:
                return
            if abort.aborted:
                ex.status = "canceled"
                return
            iteration += 1

    return EntryOperator("loop", entry.loop_type, run)
