"""The status vocabularies: exact words, public names, and reading a status back from the wire."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

import rxflow
from rxflow import status
from rxflow.events import from_dict
from rxflow.results import StepResult, WorkflowResult


def test_the_status_words_are_exactly_these() -> None:
    assert get_args(rxflow.StepStatus) == (
        "running",
        "waiting",
        "success",
        "failed",
        "suspended",
        "bailed",
        "canceled",
        "paused",
    )
    assert get_args(rxflow.ResultStatus) == (
        "success",
        "failed",
        "suspended",
        "canceled",
        "tripwire",
        "paused",
    )
    assert get_args(rxflow.RunStatus) == (
        "pending",
        "running",
        "restarting",
        "waiting",
        "suspended",
        "success",
        "failed",
        "canceled",
        "tripwire",
        "bailed",
        "paused",
    )
    assert get_args(status.IterationStatus) == ("success", "failed", "suspended")
    assert status.OUTPUT_STATUSES == {"success", "bailed"}


def test_every_result_status_is_a_run_status_and_every_execution_status_a_run_status() -> None:
    run_words = set(get_args(rxflow.RunStatus))
    assert set(get_args(rxflow.ResultStatus)) <= run_words
    assert set(get_args(status.ExecutionStatus)) <= run_words


def test_the_status_module_imports_nothing_from_rxflow() -> None:
    tree = ast.parse(Path(status.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or "rxflow" in (node.module or ""))
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("rxflow")
    ]
    assert imported == []


def test_a_status_is_written_to_the_wire_as_it_is() -> None:
    result = StepResult(status="bailed", payload=1, output=2, started_at=3, ended_at=4)
    wire = result.to_dict()
    assert wire["status"] == "bailed"
    assert wire["output"] == 2


def test_every_word_of_mastra_is_read_back() -> None:
    for word in get_args(rxflow.StepStatus):
        assert StepResult.from_dict({"status": word, "payload": None, "startedAt": 1}).status == (
            word
        )
    chunk = {
        "type": "workflow-step-result",
        "runId": "r",
        "from": "WORKFLOW",
        "payload": {
            "id": "s",
            "stepName": "s",
            "status": "paused",
            "endedAt": 2,
        },
    }
    assert from_dict(chunk).payload.status == "paused"


def test_a_status_outside_the_vocabulary_is_refused_when_read() -> None:
    with pytest.raises(ValueError) as caught:
        StepResult.from_dict({"status": "done", "payload": None, "startedAt": 1})
    assert str(caught.value) == (
        "malformed StepResult: $.status: expected 'running' | 'waiting' | 'success' | "
        "'failed' | 'suspended' | 'bailed' | 'canceled' | 'paused', got 'done'"
    )
    wire = {
        "status": "running",
        "runId": "r",
        "input": None,
        "steps": {"input": None},
        "stepExecutionPath": [],
    }
    with pytest.raises(ValueError) as caught:
        WorkflowResult.from_dict(wire)
    assert str(caught.value) == (
        "malformed WorkflowResult: $.status: expected 'success' | 'failed' | 'suspended' | "
        "'canceled' | 'tripwire' | 'paused', got 'running'"
    )
