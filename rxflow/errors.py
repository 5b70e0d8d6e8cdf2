"""rxflow's exceptions: one base class and precise children, each meaning one thing.

Our exception hierarchy::

    RxflowError
    ├── ValidationError            a value does not fit its schema (lists every bad field path)
    ├── WorkflowDefinitionError    the workflow graph is built wrongly (caught at build time)
    ├── ResumeError                a resume cannot go ahead (unknown run, not suspended, ...)
    │   └── ResumeAlreadyClaimedError   another caller won the resume of this run
    ├── StorageError               storage failed, or a stored snapshot cannot be read
    │   └── LeaseLostError              a write by a run's former owner (its lease was taken over)
    ├── NonRetryableError          raised by a step body: fail at once, skip the remaining retries
    └── TripWire                   raised by a step body: end the run with status "tripwire"

Users catch ``RxflowError`` for anything rxflow raises, or a precise child.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "LeaseLostError",
    "NonRetryableError",
    "ResumeAlreadyClaimedError",
    "ResumeError",
    "RxflowError",
    "StorageError",
    "TripWire",
    "ValidationError",
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


class WorkflowDefinitionError(RxflowError):
    """The workflow is built wrongly: reported when it is built or committed, not when it runs."""


class ResumeError(RxflowError):
    """A resume cannot go ahead: unknown run, run or step not suspended, ambiguous step."""


class ResumeAlreadyClaimedError(ResumeError):
    """Another caller claimed this suspension first (decided by a compare-and-set in storage)."""


class StorageError(RxflowError):
    """Storage failed, or a stored snapshot cannot be read (never reported as a silent ``None``)."""


class LeaseLostError(StorageError):
    """This process no longer owns the run: its lease was taken over or released.

    Raised when a write or renewal carries a lease that is not the run's current one (another
    process claimed the run after this lease expired, the run was cancelled directly, or the
    lease was already released). Nothing was written; the process should stop working on the
    run, since another owner may be running it.
    """


class NonRetryableError(RxflowError):
    """Raise from a step body to fail the step at once, without the remaining retries."""


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
