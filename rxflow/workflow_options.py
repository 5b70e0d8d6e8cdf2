"""The checks of ``create_workflow``'s options: each bad option raises
``WorkflowDefinitionError`` naming the workflow, before anything is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .durability import Durability, check_durability
from .errors import WorkflowDefinitionError
from .graph import RetryConfig
from .schema import check_schema
from .step import check_executor, check_no_dot
from .storage.checks import check_storage_object

__all__ = ["check_workflow_options"]


def check_workflow_options(
    *,
    id: Any,
    schemas: Mapping[str, Any],
    retry_config: Any,
    storage: Any,
    executor: Any,
    metadata: Any,
    durability: Any,
) -> Durability:
    """Check a workflow's options in a fixed order (the first bad one raises); ``schemas``
    maps each schema option's name to its value. Returns the checkpoint mode."""
    if not isinstance(id, str) or not id:
        raise WorkflowDefinitionError(f"a workflow id must be a non-empty string, got {id!r}")
    check_no_dot(id, "workflow")
    check_executor(executor, f"workflow '{id}'")
    if retry_config is not None and not isinstance(retry_config, RetryConfig):
        raise WorkflowDefinitionError(f"retry_config must be a RetryConfig, got {retry_config!r}")
    for name, schema in schemas.items():
        check_schema(schema, f"workflow '{id}': {name}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise WorkflowDefinitionError(
            f"workflow '{id}': metadata must be a mapping or None, got {metadata!r}"
        )
    check_storage_object(storage, f"workflow '{id}'")
    return check_durability(durability, f"workflow '{id}'", WorkflowDefinitionError)
