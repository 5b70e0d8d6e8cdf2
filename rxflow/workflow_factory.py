"""``create_workflow``: start building a ``Workflow``, typed by its schemas.

Its overloads only type the result: ``Workflow[In, Out]`` from ``input_schema`` and
``output_schema`` when they are classes, ``Any`` for a schema not given (or not a class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from .context import In
from .durability import Durability
from .executors.protocol import Executor
from .graph import RetryConfig
from .results import Out
from .storage import Storage
from .workflow import Workflow

__all__ = ["create_workflow"]


@overload
def create_workflow(
    *,
    id: str,
    input_schema: type[In],
    output_schema: type[Out],
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Executor | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
) -> Workflow[In, Out]: ...


@overload
def create_workflow(
    *,
    id: str,
    input_schema: type[In],
    output_schema: None = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Executor | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
) -> Workflow[In, Any]: ...


@overload
def create_workflow(
    *,
    id: str,
    input_schema: None = None,
    output_schema: type[Out],
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Executor | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
) -> Workflow[Any, Out]: ...


@overload
def create_workflow(
    *,
    id: str,
    input_schema: Any = None,
    output_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Executor | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
) -> Workflow[Any, Any]: ...


def create_workflow(
    *,
    id: str,
    input_schema: Any = None,
    output_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Executor | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
) -> Workflow[Any, Any]:
    """Start building a workflow. ``executor`` says where its steps' bodies run (for example a
    ``DaskExecutor``; None: here); a step's own ``executor`` wins. ``durability`` is its runs'
    checkpoint mode on a durable store (``sync``, ``async`` or ``exit``).

    The workflow is typed by its schemas: ``create_workflow(id=..., input_schema=Order,
    output_schema=Receipt)`` is a ``Workflow[Order, Receipt]``, whose runs' results are
    ``WorkflowResult[Receipt]``.

    A schema that is not a type, metadata that is not a mapping, a storage that is not a
    ``Storage`` or an unknown ``durability`` raise ``WorkflowDefinitionError`` here.
    """
    return Workflow(
        id=id,
        input_schema=input_schema,
        output_schema=output_schema,
        state_schema=state_schema,
        request_context_schema=request_context_schema,
        retry_config=retry_config,
        storage=storage,
        executor=executor,
        description=description,
        metadata=metadata,
        durability=durability,
    )
