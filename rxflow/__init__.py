"""rxflow: typed, streaming workflows for Python, built on ReactiveX.

Define steps, compose them into a workflow, and watch a run live::

    wf = create_workflow(id="wf").then(step_a).then(step_b).commit()
    run = await wf.create_run()
    async for chunk in run.stream(input_data=...):
        print(chunk.type)

Every public name lives here; event classes live in ``rxflow.events``.
"""

from typing import TYPE_CHECKING, Any

from .context import (
    Bail,
    ConditionContext,
    RequestContext,
    StepContext,
    Suspended,
    TracingContext,
)
from .convert import register_conversion
from .errors import (
    CancelTimeoutError,
    ExecutorError,
    LeaseLostError,
    NonRetryableError,
    NotJSONError,
    ResumeAlreadyClaimedError,
    ResumeError,
    RunAlreadyStartedError,
    RunInProgressError,
    RxflowError,
    SnapshotError,
    StepNotSerializableError,
    StorageError,
    TripWire,
    UnknownStepError,
    ValidationError,
    WorkflowChangedError,
    WorkflowDefinitionError,
)
from .executors import Executor, LocalExecutor
from .output import WorkflowRunOutput
from .results import StepResult, Usage, WorkflowResult
from .run import Run
from .status import ResultStatus, RunStatus, StepStatus
from .step import Step, create_step, step
from .storage import InMemoryStorage, RunList, RunRecord, SQLiteStorage, Storage
from .tracing import TracingOptions
from .workflow import RetryConfig, Workflow
from .workflow_factory import create_workflow

if TYPE_CHECKING:
    from .storage.postgres import PostgresStorage

__all__ = [
    "Bail",
    "CancelTimeoutError",
    "ConditionContext",
    "Executor",
    "ExecutorError",
    "InMemoryStorage",
    "LeaseLostError",
    "LocalExecutor",
    "NonRetryableError",
    "NotJSONError",
    "PostgresStorage",
    "RequestContext",
    "ResumeAlreadyClaimedError",
    "ResumeError",
    "ResultStatus",
    "RetryConfig",
    "Run",
    "RunList",
    "RunRecord",
    "RunAlreadyStartedError",
    "RunInProgressError",
    "RunStatus",
    "RxflowError",
    "SQLiteStorage",
    "SnapshotError",
    "Step",
    "StepContext",
    "StepNotSerializableError",
    "StepResult",
    "StepStatus",
    "Storage",
    "StorageError",
    "Suspended",
    "TracingContext",
    "TracingOptions",
    "TripWire",
    "UnknownStepError",
    "Usage",
    "ValidationError",
    "Workflow",
    "WorkflowChangedError",
    "WorkflowDefinitionError",
    "WorkflowResult",
    "WorkflowRunOutput",
    "create_step",
    "create_workflow",
    "register_conversion",
    "step",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # PostgresStorage needs the postgres extra (psycopg): imported when first asked for.
    if name == "PostgresStorage":
        from . import storage

        return storage.PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
