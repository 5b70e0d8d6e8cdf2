"""Reading Mastra's chunks: ``from_dict`` accepts every key Mastra leaves out when it has no
value, and still names what is wrong with a chunk that misses a required key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rxflow.events import (
    BlockResultPayload,
    FinishOutput,
    StepFinishPayload,
    StepOutputPayload,
    StepProgressPayload,
    StepResultPayload,
    StepStartPayload,
    StepSuspendedPayload,
    StepWaitingPayload,
    WorkflowCanceled,
    WorkflowFinish,
    WorkflowFinishPayload,
    WorkflowStart,
    WorkflowStartPayload,
    WorkflowStepFinish,
    WorkflowStepOutput,
    WorkflowStepProgress,
    WorkflowStepResult,
    WorkflowStepStart,
    WorkflowStepSuspended,
    WorkflowStepWaiting,
    from_dict,
)
from rxflow.results import TripwireInfo, Usage


def chunk(kind: str, payload: dict[str, Any], origin: str = "WORKFLOW") -> dict[str, Any]:
    return {"type": kind, "runId": "r1", "from": origin, "payload": payload}


ZERO_USAGE = {
    "inputTokens": 0,
    "outputTokens": 0,
    "totalTokens": 0,
    "reasoningTokens": 0,
    "cachedInputTokens": 0,
    "cacheCreationInputTokens": 0,
}


def test_a_mastra_finish_without_the_optional_usage_counters_reads_them_as_zero() -> None:
    recorded = chunk(
        "workflow-finish",
        {
            "workflowStatus": "success",
            "metadata": {},
            "output": {
                "usage": {
                    "inputTokens": 120,
                    "outputTokens": 30,
                    "totalTokens": 150,
                    "cacheCreationInputTokens": 0,
                }
            },
            "finalWorkflowResult": {"text": "done"},
        },
    )
    event = from_dict(recorded)
    assert event == WorkflowFinish(
        "r1",
        WorkflowFinishPayload(
            "success", FinishOutput(Usage(120, 30, 150, None, None, 0)), {}, {"text": "done"}
        ),
    )
    assert event.to_dict()["payload"]["output"]["usage"] == {
        "inputTokens": 120,
        "outputTokens": 30,
        "totalTokens": 150,
        "reasoningTokens": 0,
        "cachedInputTokens": 0,
        "cacheCreationInputTokens": 0,
    }


# One case per event type: the chunk as Mastra writes it with every optional key left out,
# the event it reads as (made in the test: event objects kept alive here would show up in
# other tests that count live events), and the payload rxflow writes back (its full form).
OMITTED: list[tuple[dict[str, Any], Callable[[], Any], dict[str, Any]]] = [
    (
        chunk("workflow-start", {"workflowId": "wf"}),
        lambda: WorkflowStart("r1", WorkflowStartPayload("wf")),
        {"workflowId": "wf"},
    ),
    (  # a foreach start (no stepCallId) whose input was undefined
        chunk("workflow-step-start",
              {"stepName": "w", "id": "w", "status": "running", "startedAt": 1000}),
        lambda: WorkflowStepStart("r1", StepStartPayload("w", "w", None, None, 1000)),
        {"id": "w", "stepName": "w", "status": "running", "payload": None, "startedAt": 1000},
    ),
    (  # writer.write(undefined)
        chunk("workflow-step-output", {"stepName": "a", "runId": "r1"}, origin="USER"),
        lambda: WorkflowStepOutput("r1", StepOutputPayload("a", "r1", None)),
        {"stepName": "a", "runId": "r1", "output": None},
    ),
    (  # an iteration that succeeded with an undefined output
        chunk("workflow-step-progress",
              {"stepName": "w", "id": "w", "completedCount": 1, "totalCount": 2,
               "currentIndex": 0, "iterationStatus": "success"}),
        lambda: WorkflowStepProgress("r1", StepProgressPayload("w", "w", 1, 2, 0, "success")),
        {"id": "w", "stepName": "w", "completedCount": 1, "totalCount": 2, "currentIndex": 0,
         "iterationStatus": "success", "iterationOutput": None},
    ),
    (  # the older result shape: no payload, no startedAt; the step returned nothing
        chunk("workflow-step-result",
              {"stepName": "a", "id": "a", "stepCallId": "c1", "status": "success",
               "endedAt": 1004}),
        lambda: WorkflowStepResult(
            "r1", StepResultPayload("a", "a", "c1", "success", None, None, 1004)
        ),
        {"id": "a", "stepName": "a", "stepCallId": "c1", "status": "success", "output": None,
         "payload": None, "startedAt": None, "endedAt": 1004},
    ),
    (  # a foreach or sleep block that produced nothing
        chunk("workflow-step-result",
              {"stepName": "w", "id": "w", "status": "success", "endedAt": 9}),
        lambda: WorkflowStepResult("r1", BlockResultPayload("w", "w", "success", 9)),
        {"id": "w", "stepName": "w", "status": "success", "output": None, "endedAt": 9},
    ),
    (  # suspend() with no payload, in a foreach, with no input
        chunk("workflow-step-suspended",
              {"stepName": "s", "id": "s", "status": "suspended", "startedAt": 2000,
               "suspendedAt": 2003}),
        lambda: WorkflowStepSuspended(
            "r1", StepSuspendedPayload("s", "s", None, None, 2000, None, 2003)
        ),
        {"id": "s", "stepName": "s", "status": "suspended", "payload": None, "startedAt": 2000,
         "suspendPayload": None, "suspendedAt": 2003},
    ),
    (  # a sleep after a step that returned nothing
        chunk("workflow-step-waiting",
              {"stepName": "z", "id": "z", "startedAt": 5, "status": "waiting"}),
        lambda: WorkflowStepWaiting("r1", StepWaitingPayload("z", "z", None, 5)),
        {"id": "z", "stepName": "z", "payload": None, "startedAt": 5, "status": "waiting"},
    ),
    (  # Mastra adds stepName only on its stream, and this event never goes there
        chunk("workflow-step-finish", {"id": "w", "metadata": {}}),
        lambda: WorkflowStepFinish("r1", StepFinishPayload("w", "w")),
        {"id": "w", "stepName": "w", "metadata": {}},
    ),
    (
        chunk("workflow-canceled", {}),
        lambda: WorkflowCanceled("r1"),
        {},
    ),
    (  # success with an undefined result, usage with only the declared counters
        chunk("workflow-finish",
              {"workflowStatus": "success", "metadata": {},
               "output": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}}}),
        lambda: WorkflowFinish(
            "r1",
            WorkflowFinishPayload("success", FinishOutput(Usage(0, 0, 0, None, None, None)), {}),
        ),
        {"workflowStatus": "success", "output": {"usage": ZERO_USAGE}, "metadata": {},
         "finalWorkflowResult": None},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mastra", "expected", "written"), OMITTED, ids=[case[0]["type"] for case in OMITTED]
)
def test_every_event_type_reads_with_its_optional_keys_left_out(
    mastra: dict[str, Any], expected: Callable[[], Any], written: dict[str, Any]
) -> None:
    event = from_dict(mastra)
    assert event == expected()
    assert event.to_dict() == {**mastra, "payload": written}


def test_a_step_resumed_without_resume_data_reads_it_as_none() -> None:
    resumed = chunk(
        "workflow-step-result",
        {"stepName": "a", "id": "a", "stepCallId": "c9", "status": "success", "output": 1,
         "payload": {"t": 1}, "startedAt": 2000, "resumedAt": 9000, "endedAt": 9002},
    )  # fmt: skip
    event = from_dict(resumed)
    assert event == WorkflowStepResult(
        "r1",
        StepResultPayload(
            "a", "a", "c9", "success", {"t": 1}, 2000, 9002, 1, resume_payload=None, resumed_at=9000
        ),
    )
    assert event.to_dict()["payload"]["resumePayload"] is None


def test_a_failed_result_without_error_and_a_tripwire_with_only_its_reason() -> None:
    failed = chunk(
        "workflow-step-result",
        {"stepName": "g", "id": "g", "stepCallId": "c1", "status": "failed", "payload": 1,
         "startedAt": 1, "endedAt": 2, "tripwire": {"reason": "pii"}},
    )  # fmt: skip
    event = from_dict(failed)
    assert event == WorkflowStepResult(
        "r1", StepResultPayload("g", "g", "c1", "failed", 1, 1, 2, tripwire=TripwireInfo("pii"))
    )
    assert event.to_dict()["payload"]["tripwire"] == {
        "reason": "pii",
        "retry": False,
        "metadata": None,
        "processorId": None,
    }
    assert event.to_dict()["payload"]["error"] is None


def test_a_step_start_for_a_step_that_got_no_input() -> None:
    start = chunk(
        "workflow-step-start",
        {"stepName": "a", "id": "a", "stepCallId": "c1", "status": "running", "startedAt": 7},
    )
    assert from_dict(start) == WorkflowStepStart("r1", StepStartPayload("a", "a", "c1", None, 7))


# Required keys stay required, each with a message naming it.
MISSING: list[tuple[dict[str, Any], str]] = [
    ({"type": "workflow-start", "from": "WORKFLOW", "payload": {"workflowId": "wf"}},
     "malformed 'workflow-start' event: $.runId: required field missing"),
    ({"type": "workflow-start", "runId": "r1", "payload": {"workflowId": "wf"}},
     "malformed 'workflow-start' event: from is missing"),
    (chunk("workflow-start", {}),
     "malformed 'workflow-start' event: $.payload.workflowId: required field missing"),
    (chunk("workflow-step-start", {"stepName": "a", "status": "running", "startedAt": 1}),
     "malformed 'workflow-step-start' event: $.payload.id: required field missing"),
    (chunk("workflow-step-start", {"stepName": "a", "id": "a", "startedAt": 1}),
     "malformed 'workflow-step-start' event: payload.status is missing"),
    (chunk("workflow-step-start", {"stepName": "a", "id": "a", "status": "running"}),
     "malformed 'workflow-step-start' event: $.payload.startedAt: required field missing"),
    (chunk("workflow-step-output", {"stepName": "a", "output": 1}, origin="USER"),
     "malformed 'workflow-step-output' event: $.payload.runId: required field missing"),
    (chunk("workflow-step-progress",
           {"stepName": "w", "id": "w", "totalCount": 2, "currentIndex": 0,
            "iterationStatus": "success"}),
     "malformed 'workflow-step-progress' event: $.payload.completedCount: required field missing"),
    (chunk("workflow-step-result",
           {"stepName": "a", "id": "a", "stepCallId": "c1", "status": "success"}),
     "malformed 'workflow-step-result' event: $.payload.endedAt: required field missing"),
    (chunk("workflow-step-result", {"stepName": "w", "id": "w", "endedAt": 9}),
     "malformed 'workflow-step-result' event: $.payload.status: required field missing"),
    (chunk("workflow-step-suspended",
           {"stepName": "s", "id": "s", "status": "suspended", "startedAt": 1}),
     "malformed 'workflow-step-suspended' event: $.payload.suspendedAt: required field missing"),
    (chunk("workflow-step-waiting", {"stepName": "z", "id": "z", "status": "waiting"}),
     "malformed 'workflow-step-waiting' event: $.payload.startedAt: required field missing"),
    (chunk("workflow-step-finish", {"metadata": {}}),
     "malformed 'workflow-step-finish' event: $.payload.id: required field missing; "
     "$.payload.stepName: required field missing"),
    (chunk("workflow-finish",
           {"workflowStatus": "success", "metadata": {},
            "output": {"usage": {"outputTokens": 0, "totalTokens": 0}}}),
     "malformed 'workflow-finish' event: payload.output.usage.inputTokens is missing"),
    (chunk("workflow-finish",
           {"workflowStatus": "success",
            "output": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}}}),
     "malformed 'workflow-finish' event: $.payload.metadata: required field missing"),
    (chunk("workflow-step-result",
           {"stepName": "g", "id": "g", "stepCallId": "c1", "status": "failed", "endedAt": 2,
            "tripwire": {"retry": True}}),
     "malformed 'workflow-step-result' event: $.payload.tripwire.reason: required field missing"),
]  # fmt: skip


@pytest.mark.parametrize(("garbage", "message"), MISSING)
def test_a_chunk_missing_a_required_key_is_named_exactly(garbage: Any, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        from_dict(garbage)
    assert str(raised.value) == message
