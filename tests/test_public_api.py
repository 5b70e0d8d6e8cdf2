"""The public names: what rxflow, rxflow.errors, rxflow.events and rxflow.storage export."""

from __future__ import annotations

import inspect

import attrs
import pytest

import rxflow
import rxflow.errors
import rxflow.events
import rxflow.operators
import rxflow.storage
from rxflow import (
    InMemoryStorage,
    ResumeAlreadyClaimedError,
    ResumeError,
    RunList,
    RunRecord,
    RxflowError,
    SQLiteStorage,
    TripWire,
)
from rxflow.events import CustomChunk

# --- names importable from the package and its modules ----------------------------------------


TOP_LEVEL = [
    "create_step",
    "step",
    "StepContext",
    "ConditionContext",
    "create_workflow",
    "Workflow",
    "Step",
    "Run",
    "WorkflowRunOutput",
    "RetryConfig",
    "RequestContext",
    "TracingContext",
    "TracingOptions",
    "Usage",
    "WorkflowResult",
    "StepResult",
    "InMemoryStorage",
    "SQLiteStorage",
    "Storage",
    "RunRecord",
    "RunList",
]


ERRORS = [
    "RxflowError",
    "ValidationError",
    "WorkflowDefinitionError",
    "ResumeError",
    "ResumeAlreadyClaimedError",
    "StorageError",
    "NonRetryableError",
    "TripWire",
]


@pytest.mark.parametrize("name", TOP_LEVEL + ERRORS)
def test_public_names_importable_from_top_level(name: str) -> None:
    assert hasattr(rxflow, name), name


@pytest.mark.parametrize("name", ERRORS)
def test_error_classes_in_errors_module_are_the_top_level_ones(name: str) -> None:
    assert getattr(rxflow.errors, name) is getattr(rxflow, name)
    cls = getattr(rxflow, name)
    assert issubclass(cls, Exception)
    assert issubclass(cls, RxflowError)


def test_events_module_exposes_custom_chunk_and_from_dict() -> None:
    assert rxflow.events.CustomChunk is CustomChunk
    assert callable(rxflow.events.from_dict)
    # the other submodules exist
    assert hasattr(rxflow.operators, "run_workflow")
    assert hasattr(rxflow.operators, "stream_workflow")
    assert rxflow.storage is not None


def test_storage_names_are_public() -> None:
    assert rxflow.storage.Storage is rxflow.Storage
    assert rxflow.storage.InMemoryStorage is InMemoryStorage
    assert rxflow.storage.SQLiteStorage is SQLiteStorage
    assert rxflow.storage.RunRecord is RunRecord and rxflow.storage.RunList is RunList
    assert [f.name for f in attrs.fields(RunRecord)] == [
        "workflow_id",
        "run_id",
        "resource_id",
        "status",
        "snapshot",
        "created_at",
        "updated_at",
        "lease",
        "error",
    ]
    assert RunList(runs=[], total=0).total == 0


# --- the error hierarchy ----------------------------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(ResumeAlreadyClaimedError, ResumeError)


def test_error_classes_are_public_and_share_one_base() -> None:
    names = [
        "RxflowError",
        "ValidationError",
        "WorkflowDefinitionError",
        "ResumeError",
        "ResumeAlreadyClaimedError",
        "StorageError",
        "NonRetryableError",
        "TripWire",
    ]
    for name in names:
        assert getattr(rxflow, name) is getattr(rxflow.errors, name)
        assert issubclass(getattr(rxflow, name), rxflow.RxflowError)
    assert issubclass(rxflow.ResumeAlreadyClaimedError, rxflow.ResumeError)
    assert list(inspect.signature(TripWire).parameters) == [
        "reason",
        "retry",
        "metadata",
        "processor_id",
    ]
