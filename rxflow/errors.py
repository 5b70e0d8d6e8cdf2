"""rxflow's exceptions: one base class and precise children, each meaning one thing.

Our exception hierarchy::

    RxflowError
    ├── ValidationError            a value does not fit its schema (lists every bad field path)
    │   └── NotJSONError                a value JSON cannot carry (names its path)
    ├── WorkflowDefinitionError    the workflow graph is built wrongly (caught at build time)
    ├── RunAlreadyStartedError     another start of this run won (or it was started before)
    ├── CancelTimeoutError         the process running a run did not answer a cancel in time
    ├── ResumeError                a resume cannot go ahead (unknown run, not suspended, ...)
    │   ├── ResumeAlreadyClaimedError   another caller won the resume of this run
    │   └── WorkflowChangedError        the workflow's graph changed since the run was stored
    ├── StorageError               storage failed, or a stored snapshot cannot be read
    │   ├── LeaseLostError              a write by a run's former owner (its lease was taken over)
    │   └── SnapshotError               a stored snapshot has a field of the wrong type or range
    ├── ExecutorError              an executor could not run a step body (scheduler, worker, ...)
    │   └── StepNotSerializableError    a step body (or its input) cannot be sent (not retried)
    ├── NonRetryableError          raised by a step body: fail at once, skip the remaining retries
    └── TripWire                   raised by a step body: end the run with status "tripwire"

Users catch ``RxflowError`` for anything rxflow raises, or a precise child.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CancelTimeoutError",
    "ExecutorError",
    "LeaseLostError",
    "NonRetryableError",
    "NotJSONError",
    "ResumeAlreadyClaimedError",
    "ResumeError",
    "RunAlreadyStartedError",
    "RunInProgressError",
    "RxflowError",
    "SnapshotError",
    "StepNotSerializableError",
    "StorageError",
    "TripWire",
    "UnknownStepError",
    "ValidationError",
    "WorkflowChangedError",
    "WorkflowDefinitionError",
]


class RxflowError(Exception):
    """Base class of every error rxflow raises on purpose."""


class ValidationError(RxflowError):
    """A value does not fit its schema.

    ``errors`` holds one line per bad field, like ``$.items[2].price: expected float, got 'abc'``;
    the message is those lines, after an optional heading naming what was validated.
    """

    def __init__(self, errors: Sequence[str], *, heading: str | None = None) -> None:
        self.errors: list[str] = list(errors)
        self.heading = heading
        body = "\n".join(self.errors)
        super().__init__(f"{heading}\n{body}" if heading else body)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only heading: pickled by its fields (a step body run on another process).
        return (_rebuild, (type(self), (self.errors,), {"heading": self.heading}), self.__dict__)


class NotJSONError(ValidationError):
    """A value cannot become JSON data: a class the converter does not know, a float that is
    NaN or infinite, bytes, a key that is not a string or number.

    ``path`` says where (``$.total``), ``problem`` what (``Money is not JSON data; register a
    conversion or return plain data``); the message is ``"$.total: Money is not JSON data;
    ..."``, after an optional heading (``"output of step 'price' cannot be stored"``).
    ``rxflow.register_conversion`` teaches the converter a class.
    """

    def __init__(self, path: str, problem: str, *, heading: str | None = None) -> None:
        self.path = path
        self.problem = problem
        super().__init__([f"{path}: {problem}"], heading=heading)


class WorkflowDefinitionError(RxflowError):
    """The workflow is built wrongly: reported when it is built or committed, not when it runs."""


class RunAlreadyStartedError(RxflowError):
    """The run was started already: by this ``Run`` before, or by another start that claimed it
    first in storage (another ``Run`` object or another process). Nothing ran for this start."""


class CancelTimeoutError(RxflowError):
    """``run.cancel()`` asked the process running the run to cancel it, and that process did
    not store ``canceled`` within the timeout. The request stays: the owner still cancels the
    run when it next checks, unless it is gone (then its lease expires and a restart or a
    later ``cancel()`` finds the run unowned and stores ``canceled`` itself)."""

    def __init__(self, message: str, *, workflow_id: str, run_id: str, timeout: float) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.timeout = timeout


class ResumeError(RxflowError):
    """A resume cannot go ahead: unknown run, run or step not suspended, ambiguous step."""


class ResumeAlreadyClaimedError(ResumeError):
    """Another caller claimed this suspension first (decided by a compare-and-set in storage)."""


class RunInProgressError(ResumeAlreadyClaimedError):
    """The run is being executed (stored ``running`` or ``restarting``: this process or another
    one owns it), so it cannot be time-travelled or forked now. A ``ResumeAlreadyClaimedError``:
    of two concurrent time travels, the one that finds the other's claim gets this."""


class UnknownStepError(ResumeError):
    """A step path (``step=``, ``at=``, a ``context`` key) names no step of the workflow."""


class WorkflowChangedError(ResumeError):
    """The run was stored by a workflow whose graph differs from this one's.

    Raised by ``resume``, ``resume_stream`` and ``restart`` before anything runs; ``changes``
    holds one line per difference, like ``entry 2 was step 'approve', is now step 'enrich'``
    (entries counted from 1). Pass ``allow_changed_graph=True`` to continue the run in the new
    graph anyway.
    """

    def __init__(
        self, message: str, *, workflow_id: str, run_id: str, changes: Sequence[str]
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.changes: list[str] = list(changes)


class StorageError(RxflowError):
    """Storage failed, or a stored snapshot cannot be read (never reported as a silent ``None``)."""


class LeaseLostError(StorageError):
    """This process no longer owns the run: its lease was taken over or released.

    Raised when a write or renewal carries a lease that is not the run's current one (another
    process claimed the run after this lease expired, the run was cancelled directly, or the
    lease was already released). Nothing was written; the process should stop working on the
    run, since another owner may be running it.
    """


class SnapshotError(StorageError):
    """A stored snapshot cannot be acted on: ``field`` (a dotted path such as ``activePaths``
    or ``nestedRuns.review.value``) has the wrong type or is out of range.

    Found before a resume or restart claims the run, so the run stays as it was: repair the
    row and try again. Nothing stored is ever executed; snapshots are JSON data only.
    """

    def __init__(self, run_id: str, field: str, problem: str) -> None:
        where = f"{field}: " if field else ""
        super().__init__(f"the stored snapshot of run '{run_id}' cannot be used: {where}{problem}")
        self.run_id = run_id
        self.field = field
        self.problem = problem


class NonRetryableError(RxflowError):
    """Raise from a step body to fail the step at once, without the remaining retries."""


class ExecutorError(RxflowError):
    """An executor could not run a step body: its scheduler cannot be reached, the worker
    running it was lost, or the body could not be sent. The step fails with it (and is retried
    by its retry policy, unless it is a ``StepNotSerializableError``)."""


class StepNotSerializableError(ExecutorError, NonRetryableError):
    """A step body, or the input it was to run on, cannot be sent to the executor's workers.

    ``step_id`` names the step and ``culprit`` what could not be pickled (for example
    ``closure variable 'lock' (_thread.lock)``); the step fails at once, without retries.
    """

    def __init__(self, message: str, *, step_id: str, culprit: str) -> None:
        super().__init__(message)
        self.step_id = step_id
        self.culprit = culprit

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"step_id": self.step_id, "culprit": self.culprit}
        return (_rebuild, (type(self), self.args, kwargs), self.__dict__)


class TripWire(RxflowError):
    """Raise from a step body to end the run with status ``tripwire`` (never retried).

    ``reason`` says why; ``retry`` tells the caller whether trying again could help;
    ``metadata`` and ``processor_id`` identify the guardrail that fired.
    """

    def __init__(
        self,
        reason: str,
        retry: bool = False,
        metadata: Mapping[str, Any] | None = None,
        processor_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.metadata = dict(metadata) if metadata is not None else None
        self.processor_id = processor_id

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.reason, self.retry, self.metadata, self.processor_id)
        return (_rebuild, (type(self), fields, {}), self.__dict__)


def _rebuild(cls: type[Exception], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception:
    """Unpickle an error whose ``__init__`` takes more than its message."""
    return cls(*args, **kwargs)
