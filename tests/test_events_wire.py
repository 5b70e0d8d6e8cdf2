"""Wire form of events: ``to_dict()`` of every event type, and ``from_dict`` reading it back."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxflow.events import (
    EVENT_TYPES,
    BlockResultPayload,
    CustomChunk,
    EmptyPayload,
    FinishOutput,
    IterationMetadata,
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
    WorkflowPaused,
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

ZERO_USAGE = {
    "inputTokens": 0,
    "outputTokens": 0,
    "totalTokens": 0,
    "reasoningTokens": 0,
    "cachedInputTokens": 0,
    "cacheCreationInputTokens": 0,
}


@attrs.frozen
class Draft:
    draft_text: str
    word_count: int


def envelope(kind: str, payload: dict[str, Any], origin: str = "WORKFLOW") -> dict[str, Any]:
    return {"type": kind, "runId": "r1", "from": origin, "payload": payload}


# --- to_dict of every event type, against literal dicts -------------------------------------


def test_workflow_start() -> None:
    chunk = WorkflowStart("r1", WorkflowStartPayload("wf"))
    assert chunk.type == "workflow-start"
    assert chunk.to_dict() == envelope("workflow-start", {"workflowId": "wf"})


def test_step_start() -> None:
    chunk = WorkflowStepStart("r1", StepStartPayload("a", "a", "c1", {"value": "hi"}, 1000))
    assert chunk.to_dict() == envelope(
        "workflow-step-start",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c1",
            "status": "running",
            "payload": {"value": "hi"},
            "startedAt": 1000,
        },
    )


def test_foreach_step_start_has_no_step_call_id() -> None:
    chunk = WorkflowStepStart("r1", StepStartPayload("work", "work", None, [1, 2], 1000))
    assert chunk.to_dict()["payload"] == {
        "id": "work",
        "stepName": "work",
        "status": "running",
        "payload": [1, 2],
        "startedAt": 1000,
    }


def test_resumed_step_start_with_null_resume_payload() -> None:
    payload = StepStartPayload("a", "a", "c9", {"t": 1}, 2000, resume_payload=None, resumed_at=9000)
    assert WorkflowStepStart("r1", payload).to_dict()["payload"] == {
        "id": "a",
        "stepName": "a",
        "stepCallId": "c9",
        "status": "running",
        "payload": {"t": 1},
        "startedAt": 2000,
        "resumePayload": None,
        "resumedAt": 9000,
    }


def test_loop_step_start_carries_iteration_count() -> None:
    payload = StepStartPayload("a", "a", "c1", 1, 5, metadata=IterationMetadata(2))
    assert WorkflowStepStart("r1", payload).to_dict()["payload"]["metadata"] == {
        "iterationCount": 2
    }


def test_step_output_is_from_user() -> None:
    chunk = WorkflowStepOutput("r1", StepOutputPayload("a", "r1", {"type": "progress", "pct": 50}))
    assert chunk.to_dict() == envelope(
        "workflow-step-output",
        {"stepName": "a", "runId": "r1", "output": {"type": "progress", "pct": 50}},
        origin="USER",
    )


def test_progress_success_keeps_null_iteration_output() -> None:
    chunk = WorkflowStepProgress("r1", StepProgressPayload("w", "w", 1, 3, 1, "success", None))
    assert chunk.to_dict() == envelope(
        "workflow-step-progress",
        {
            "id": "w",
            "stepName": "w",
            "completedCount": 1,
            "totalCount": 3,
            "currentIndex": 1,
            "iterationStatus": "success",
            "iterationOutput": None,
        },
    )


def test_progress_failed_has_no_iteration_output() -> None:
    chunk = WorkflowStepProgress("r1", StepProgressPayload("w", "w", 1, 3, 0, "failed", "x"))
    assert "iterationOutput" not in chunk.to_dict()["payload"]
    suspended = StepProgressPayload("w", "w", 0, 3, 2, "suspended")
    assert "iterationOutput" not in WorkflowStepProgress("r1", suspended).to_dict()["payload"]


def test_step_result_success_keeps_null_output() -> None:
    payload = StepResultPayload("a", "a", "c1", "success", {"v": 1}, 1000, 1004, output=None)
    assert WorkflowStepResult("r1", payload).to_dict() == envelope(
        "workflow-step-result",
        {
            "id": "a",
            "stepName": "a",
            "stepCallId": "c1",
            "status": "success",
            "output": None,
            "payload": {"v": 1},
            "startedAt": 1000,
            "endedAt": 1004,
        },
    )


def test_step_result_bailed_has_output() -> None:
    payload = StepResultPayload("a", "a", "c1", "bailed", 1, 2, 3, output={"done": True})
    assert WorkflowStepResult("r1", payload).to_dict()["payload"]["output"] == {"done": True}


def test_step_result_failed_with_exception() -> None:
    payload = StepResultPayload(
        "b", "b", "c2", "failed", {"x": 1}, 10, 20, output="ignored", error=ValueError("boom")
    )
    assert WorkflowStepResult("r1", payload).to_dict()["payload"] == {
        "id": "b",
        "stepName": "b",
        "stepCallId": "c2",
        "status": "failed",
        "error": {"message": "boom", "name": "ValueError"},
        "payload": {"x": 1},
        "startedAt": 10,
        "endedAt": 20,
    }


def test_step_result_canceled_has_neither_output_nor_error() -> None:
    payload = StepResultPayload("b", "b", "c2", "canceled", None, 10, 20)
    assert WorkflowStepResult("r1", payload).to_dict()["payload"] == {
        "id": "b",
        "stepName": "b",
        "stepCallId": "c2",
        "status": "canceled",
        "payload": None,
        "startedAt": 10,
        "endedAt": 20,
    }


def test_resumed_step_result_with_tripwire_and_loop_metadata() -> None:
    payload = StepResultPayload(
        "a",
        "a",
        "c9",
        "failed",
        {"t": 1},
        2000,
        9002,
        error={"message": "no", "name": "TripWire", "stack": "s"},
        resume_payload={"ok": True},
        resumed_at=9000,
        tripwire=TripwireInfo("no", processor_id="guard"),
        metadata=IterationMetadata(1),
    )
    assert WorkflowStepResult("r1", payload).to_dict()["payload"] == {
        "id": "a",
        "stepName": "a",
        "stepCallId": "c9",
        "status": "failed",
        "error": {"message": "no", "name": "TripWire", "stack": "s"},
        "payload": {"t": 1},
        "startedAt": 2000,
        "endedAt": 9002,
        "resumePayload": {"ok": True},
        "resumedAt": 9000,
        "tripwire": {"reason": "no", "retry": False, "metadata": None, "processorId": "guard"},
        "metadata": {"iterationCount": 1},
    }


def test_block_result_of_foreach_and_sleep() -> None:
    done = WorkflowStepResult("r1", BlockResultPayload("w", "w", "success", 50, output=[1, None]))
    assert done.to_dict() == envelope(
        "workflow-step-result",
        {"id": "w", "stepName": "w", "status": "success", "output": [1, None], "endedAt": 50},
    )
    failed = BlockResultPayload("w", "w", "failed", 50, error=KeyError("k"))
    assert WorkflowStepResult("r1", failed).to_dict()["payload"] == {
        "id": "w",
        "stepName": "w",
        "status": "failed",
        "error": {"message": "'k'", "name": "KeyError"},
        "endedAt": 50,
    }


def test_step_suspended() -> None:
    payload = StepSuspendedPayload("approve", "approve", "c2", {"t": 1}, 2000, {"r": "ok?"}, 2003)
    assert WorkflowStepSuspended("r1", payload).to_dict() == envelope(
        "workflow-step-suspended",
        {
            "id": "approve",
            "stepName": "approve",
            "stepCallId": "c2",
            "status": "suspended",
            "payload": {"t": 1},
            "startedAt": 2000,
            "suspendPayload": {"r": "ok?"},
            "suspendedAt": 2003,
        },
    )


def test_foreach_suspended_resumed_in_loop() -> None:
    payload = StepSuspendedPayload(
        "w",
        "w",
        None,
        [1],
        1,
        None,
        4,
        resume_payload=2,
        resumed_at=3,
        metadata=IterationMetadata(5),
    )
    assert WorkflowStepSuspended("r1", payload).to_dict()["payload"] == {
        "id": "w",
        "stepName": "w",
        "status": "suspended",
        "payload": [1],
        "startedAt": 1,
        "suspendPayload": None,
        "suspendedAt": 4,
        "resumePayload": 2,
        "resumedAt": 3,
        "metadata": {"iterationCount": 5},
    }


def test_step_waiting() -> None:
    chunk = WorkflowStepWaiting("r1", StepWaitingPayload("sleep_wf_0", "sleep_wf_0", {"a": 1}, 7))
    assert chunk.to_dict() == envelope(
        "workflow-step-waiting",
        {
            "id": "sleep_wf_0",
            "stepName": "sleep_wf_0",
            "payload": {"a": 1},
            "startedAt": 7,
            "status": "waiting",
        },
    )


def test_step_finish() -> None:
    chunk = WorkflowStepFinish("r1", StepFinishPayload("a", "a", "c1"))
    assert chunk.to_dict() == envelope(
        "workflow-step-finish", {"id": "a", "stepName": "a", "stepCallId": "c1", "metadata": {}}
    )
    assert WorkflowStepFinish("r1", StepFinishPayload("w", "w")).to_dict()["payload"] == {
        "id": "w",
        "stepName": "w",
        "metadata": {},
    }


def test_workflow_canceled() -> None:
    assert WorkflowCanceled("r1").to_dict() == envelope("workflow-canceled", {})
    assert WorkflowCanceled("r1", EmptyPayload()).to_dict() == envelope("workflow-canceled", {})
    assert WorkflowPaused("r1").to_dict() == envelope("workflow-paused", {})


def test_finish_success_keeps_null_final_result() -> None:
    payload = WorkflowFinishPayload("success", FinishOutput(Usage()), {}, None)
    assert WorkflowFinish("r1", payload).to_dict() == envelope(
        "workflow-finish",
        {
            "workflowStatus": "success",
            "output": {"usage": ZERO_USAGE},
            "metadata": {},
            "finalWorkflowResult": None,
        },
    )


USED = {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7, "reasoningTokens": 1}


def test_finish_failed_writes_the_error_as_message_and_name() -> None:
    metadata = {"error": RuntimeError("boom"), "errorMessage": "boom"}
    payload = WorkflowFinishPayload("failed", FinishOutput(Usage(3, 4, 7, 1)), metadata, "x")
    assert WorkflowFinish("r1", payload).to_dict() == envelope(
        "workflow-finish",
        {
            "workflowStatus": "failed",
            "output": {"usage": {**ZERO_USAGE, **USED}},
            "metadata": {
                "error": {"message": "boom", "name": "RuntimeError"},
                "errorMessage": "boom",
            },
        },
    )


def test_finish_suspended_and_tripwire() -> None:
    suspended = WorkflowFinishPayload("suspended", FinishOutput(Usage()), {})
    assert WorkflowFinish("r1", suspended).to_dict()["payload"] == {
        "workflowStatus": "suspended",
        "output": {"usage": ZERO_USAGE},
        "metadata": {},
    }
    tripped = WorkflowFinishPayload(
        "tripwire", FinishOutput(Usage()), {}, tripwire=TripwireInfo("pii", True, {"k": 1})
    )
    assert WorkflowFinish("r1", tripped).to_dict()["payload"] == {
        "workflowStatus": "tripwire",
        "output": {"usage": ZERO_USAGE},
        "metadata": {},
        "tripwire": {"reason": "pii", "retry": True, "metadata": {"k": 1}, "processorId": None},
    }


def test_custom_chunk_has_data_and_keeps_other_keys() -> None:
    chunk = CustomChunk("data-progress", "r1", {"pct": 50}, extra={"id": "p1", "transient": True})
    assert chunk.from_ == "USER"
    assert chunk.to_dict() == {
        "type": "data-progress",
        "runId": "r1",
        "from": "USER",
        "data": {"pct": 50},
        "id": "p1",
        "transient": True,
    }


def test_user_values_keep_their_own_field_names() -> None:
    draft = Draft("hello there", 2)
    start = WorkflowStepStart("r1", StepStartPayload("a", "a", "c1", draft, 1))
    assert start.to_dict()["payload"]["payload"] == {"draft_text": "hello there", "word_count": 2}
    output = WorkflowStepOutput("r1", StepOutputPayload("a", "r1", {"inner_key": draft}))
    assert output.to_dict()["payload"]["output"] == {
        "inner_key": {"draft_text": "hello there", "word_count": 2}
    }
    custom = CustomChunk("data-x", "r1", [draft])
    assert custom.to_dict()["data"] == [{"draft_text": "hello there", "word_count": 2}]


def test_user_tuples_and_sets_become_lists() -> None:
    chunk = WorkflowStepOutput("r1", StepOutputPayload("a", "r1", {"t": (1, 2), "s": {3}}))
    assert chunk.to_dict()["payload"]["output"] == {"t": [1, 2], "s": [3]}


def test_event_types_table() -> None:
    assert EVENT_TYPES == {
        "workflow-start": WorkflowStart,
        "workflow-step-start": WorkflowStepStart,
        "workflow-step-output": WorkflowStepOutput,
        "workflow-step-progress": WorkflowStepProgress,
        "workflow-step-result": WorkflowStepResult,
        "workflow-step-suspended": WorkflowStepSuspended,
        "workflow-step-waiting": WorkflowStepWaiting,
        "workflow-step-finish": WorkflowStepFinish,
        "workflow-canceled": WorkflowCanceled,
        "workflow-paused": WorkflowPaused,
        "workflow-finish": WorkflowFinish,
    }


# --- from_dict over literal dicts -----------------------------------------------------------

ERROR = {"message": "boom", "name": "Error", "stack": "Error: boom\n    at x"}

LITERAL_WIRE_DICTS: list[dict[str, Any]] = [
    envelope("workflow-start", {"workflowId": "wf"}),
    envelope(
        "workflow-step-start",
        {"id": "a", "stepName": "a", "stepCallId": "c1", "status": "running",
         "payload": {"value": "hi"}, "startedAt": 1000},
    ),
    envelope(
        "workflow-step-start",
        {"id": "w", "stepName": "w", "status": "running", "payload": [1, 2], "startedAt": 1000},
    ),
    envelope(
        "workflow-step-start",
        {"id": "a", "stepName": "a", "stepCallId": "c9", "status": "running", "payload": None,
         "startedAt": 2000, "resumePayload": {"ok": True}, "resumedAt": 9000,
         "metadata": {"iterationCount": 2}},
    ),
    envelope(
        "workflow-step-output",
        {"stepName": "a", "runId": "r1", "output": {"type": "finish", "payload": {"usage": {}}}},
        origin="USER",
    ),
    envelope(
        "workflow-step-progress",
        {"id": "w", "stepName": "w", "completedCount": 1, "totalCount": 3, "currentIndex": 1,
         "iterationStatus": "success", "iterationOutput": None},
    ),
    envelope(
        "workflow-step-progress",
        {"id": "w", "stepName": "w", "completedCount": 1, "totalCount": 3, "currentIndex": 0,
         "iterationStatus": "failed"},
    ),
    envelope(
        "workflow-step-result",
        {"id": "a", "stepName": "a", "stepCallId": "c1", "status": "success", "output": None,
         "payload": {"v": 1}, "startedAt": 1000, "endedAt": 1004},
    ),
    envelope(
        "workflow-step-result",
        {"id": "b", "stepName": "b", "stepCallId": "c2", "status": "failed", "error": ERROR,
         "payload": {}, "startedAt": 1, "endedAt": 2, "resumePayload": 3, "resumedAt": 2,
         "tripwire": {"reason": "r", "retry": True, "metadata": None, "processorId": None},
         "metadata": {"iterationCount": 1}},
    ),
    envelope(
        "workflow-step-result",
        {"id": "w", "stepName": "w", "status": "success", "output": [1, 2], "endedAt": 9},
    ),
    envelope(
        "workflow-step-result",
        {"id": "w", "stepName": "w", "status": "failed", "error": ERROR, "endedAt": 9},
    ),
    envelope(
        "workflow-step-suspended",
        {"id": "approve", "stepName": "approve", "stepCallId": "c2", "status": "suspended",
         "payload": {"t": 1}, "startedAt": 2000, "suspendPayload": {"reason": "need ok"},
         "suspendedAt": 2003},
    ),
    envelope(
        "workflow-step-waiting",
        {"id": "s", "stepName": "s", "payload": 1, "startedAt": 5, "status": "waiting"},
    ),
    envelope(
        "workflow-step-finish", {"id": "a", "stepName": "a", "stepCallId": "c1", "metadata": {}}
    ),
    envelope("workflow-step-finish", {"id": "w", "stepName": "w", "metadata": {}}),
    envelope("workflow-canceled", {}),
    envelope(
        "workflow-finish",
        {"workflowStatus": "success", "metadata": {}, "output": {"usage": ZERO_USAGE},
         "finalWorkflowResult": {"b": 2}},
    ),
    envelope(
        "workflow-finish",
        {"workflowStatus": "failed", "output": {"usage": ZERO_USAGE},
         "metadata": {"error": ERROR, "errorMessage": "Invalid input data: x"}},
    ),
    envelope(
        "workflow-finish",
        {"workflowStatus": "tripwire", "output": {"usage": ZERO_USAGE}, "metadata": {},
         "tripwire": {"reason": "r", "retry": False, "metadata": {"k": [1]}, "processorId": "p"}},
    ),
    {"type": "data-progress", "runId": "r1", "from": "USER", "data": {"pct": 5}, "id": "x"},
]  # fmt: skip


@pytest.mark.parametrize("wire", LITERAL_WIRE_DICTS, ids=lambda d: d["type"])
def test_from_dict_round_trips_literal_dicts(wire: dict[str, Any]) -> None:
    event = from_dict(wire)
    assert event.to_dict() == wire
    if not wire["type"].startswith("data-"):
        assert type(event) is EVENT_TYPES[wire["type"]]


def test_from_dict_gives_typed_payloads_and_plain_user_data() -> None:
    [block, step] = [from_dict(LITERAL_WIRE_DICTS[i]) for i in (10, 8)]
    assert isinstance(block, WorkflowStepResult)
    assert isinstance(step, WorkflowStepResult)
    assert isinstance(block.payload, BlockResultPayload)
    assert block.payload.error == ERROR
    assert isinstance(step.payload, StepResultPayload)
    assert step.payload.metadata == IterationMetadata(1)
    assert step.payload.tripwire == TripwireInfo("r", True)
    start = from_dict(LITERAL_WIRE_DICTS[1])
    assert isinstance(start, WorkflowStepStart)
    assert start.payload.step_name == "a"
    assert start.payload.payload == {"value": "hi"}
    finish = from_dict(LITERAL_WIRE_DICTS[16])
    assert isinstance(finish, WorkflowFinish)
    assert finish.payload.output.usage == Usage(0, 0, 0, 0, 0, 0)
    custom = from_dict(LITERAL_WIRE_DICTS[-1])
    assert custom == CustomChunk("data-progress", "r1", {"pct": 5}, "USER", {"id": "x"})


# --- from_dict over generated wire dicts ----------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
names = st.text(min_size=1, max_size=8)
times = st.integers(min_value=0, max_value=2**42)
counts = st.integers(min_value=0, max_value=10_000)
errors = st.fixed_dictionaries(
    {"message": st.text(max_size=10), "name": names}, optional={"stack": st.text(max_size=10)}
)
tripwires = st.fixed_dictionaries(
    {
        "reason": st.text(max_size=10),
        "retry": st.booleans(),
        "metadata": st.none() | json_dicts,
        "processorId": st.none() | names,
    }
)
iteration_metadata = st.builds(lambda n: {"iterationCount": n}, counts)
usages = st.fixed_dictionaries({key: counts for key in ZERO_USAGE})


def optional(draw: st.DrawFn, payload: dict[str, Any], parts: dict[str, Any]) -> None:
    """Add each group of keys, or leave it out (fields that do not apply are omitted)."""
    for strategy in parts.values():
        if draw(st.booleans()):
            payload.update(draw(strategy))


def resume_part() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"resumePayload": json_values, "resumedAt": times})


@st.composite
def step_start(draw: st.DrawFn) -> dict[str, Any]:
    payload = {
        "id": draw(names),
        "stepName": draw(names),
        "status": "running",
        "payload": draw(json_values),
        "startedAt": draw(times),
    }
    optional(
        draw,
        payload,
        {
            "call": st.fixed_dictionaries({"stepCallId": names}),
            "resume": resume_part(),
            "metadata": st.fixed_dictionaries({"metadata": iteration_metadata}),
        },
    )
    return payload


@st.composite
def step_progress(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["success", "failed", "suspended"]))
    payload = {
        "id": draw(names),
        "stepName": draw(names),
        "completedCount": draw(counts),
        "totalCount": draw(counts),
        "currentIndex": draw(counts),
        "iterationStatus": status,
    }
    if status == "success":
        payload["iterationOutput"] = draw(json_values)
    return payload


def outcome(draw: st.DrawFn, status: str, output_statuses: tuple[str, ...]) -> dict[str, Any]:
    if status in output_statuses:
        return {"output": draw(json_values)}
    if status == "failed":
        return {"error": draw(errors)}
    return {}


@st.composite
def step_result(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["success", "failed", "bailed", "canceled"]))
    payload = {
        "id": draw(names),
        "stepName": draw(names),
        "stepCallId": draw(st.none() | names),
        "status": status,
        "payload": draw(json_values),
        "startedAt": draw(times),
        "endedAt": draw(times),
        **outcome(draw, status, ("success", "bailed")),
    }
    optional(
        draw,
        payload,
        {
            "resume": resume_part(),
            "tripwire": st.fixed_dictionaries({"tripwire": tripwires}),
            "metadata": st.fixed_dictionaries({"metadata": iteration_metadata}),
        },
    )
    return payload


@st.composite
def block_result(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["success", "failed", "canceled"]))
    return {
        "id": draw(names),
        "stepName": draw(names),
        "status": status,
        "endedAt": draw(times),
        **outcome(draw, status, ("success",)),
    }


@st.composite
def step_suspended(draw: st.DrawFn) -> dict[str, Any]:
    payload = {
        "id": draw(names),
        "stepName": draw(names),
        "status": "suspended",
        "payload": draw(json_values),
        "startedAt": draw(times),
        "suspendPayload": draw(json_values),
        "suspendedAt": draw(times),
    }
    optional(
        draw,
        payload,
        {
            "call": st.fixed_dictionaries({"stepCallId": names}),
            "resume": resume_part(),
            "metadata": st.fixed_dictionaries({"metadata": iteration_metadata}),
        },
    )
    return payload


@st.composite
def step_finish(draw: st.DrawFn) -> dict[str, Any]:
    step_id = draw(names)
    payload = {"id": step_id, "stepName": step_id, "metadata": draw(json_dicts)}
    optional(draw, payload, {"call": st.fixed_dictionaries({"stepCallId": names})})
    return payload


@st.composite
def workflow_finish(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["success", "failed", "suspended", "canceled", "tripwire"]))
    metadata: dict[str, Any] = {}
    if status == "failed":
        metadata = {"error": draw(errors), "errorMessage": draw(st.text(max_size=10))}
    payload: dict[str, Any] = {
        "workflowStatus": status,
        "output": {"usage": draw(usages)},
        "metadata": metadata,
    }
    if status == "success":
        payload["finalWorkflowResult"] = draw(json_values)
    if status == "tripwire":
        payload["tripwire"] = draw(tripwires)
    return payload


PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "workflow-start": st.fixed_dictionaries({"workflowId": names}),
    "workflow-step-start": step_start(),
    "workflow-step-output": st.fixed_dictionaries(
        {"stepName": names, "runId": names, "output": json_values}
    ),
    "workflow-step-progress": step_progress(),
    "workflow-step-result": step_result() | block_result(),
    "workflow-step-suspended": step_suspended(),
    "workflow-step-waiting": st.fixed_dictionaries(
        {
            "id": names,
            "stepName": names,
            "payload": json_values,
            "startedAt": times,
            "status": st.just("waiting"),
        }
    ),
    "workflow-step-finish": step_finish(),
    "workflow-canceled": st.just({}),
    "workflow-paused": st.just({}),
    "workflow-finish": workflow_finish(),
}

origins = st.sampled_from(["WORKFLOW", "USER", "AGENT"])


@st.composite
def custom_chunks(draw: st.DrawFn) -> dict[str, Any]:
    wire = {
        "type": "data-" + draw(st.text(max_size=8)),
        "runId": draw(names),
        "from": draw(origins),
        "data": draw(json_values),
    }
    extra = draw(json_dicts)
    wire.update({k: v for k, v in extra.items() if k not in wire})
    return wire


@st.composite
def wire_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*PAYLOADS, "data-*"]))
    if kind == "data-*":
        return draw(custom_chunks())
    return {
        "type": kind,
        "runId": draw(names),
        "from": draw(origins),
        "payload": draw(PAYLOADS[kind]),
    }


def test_generated_events_cover_every_type() -> None:
    assert set(PAYLOADS) == set(EVENT_TYPES)


@given(wire_events())
def test_from_dict_round_trips_generated_wire_dicts(wire: dict[str, Any]) -> None:
    assert from_dict(wire).to_dict() == wire


# --- from_dict on garbage -------------------------------------------------------------------

START = LITERAL_WIRE_DICTS[1]


def with_payload(**changes: Any) -> dict[str, Any]:
    payload = {**START["payload"], **changes}
    return {**START, "payload": {k: v for k, v in payload.items() if v is not DROP}}


DROP = object()


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (3, "an event must be a mapping"),
        ({}, "an event needs a string 'type'"),
        ({"type": 7}, "an event needs a string 'type'"),
        ({"type": "workflow-nope"}, "unknown event type 'workflow-nope'"),
        ({"type": "workflow-start", "runId": "r", "from": "WORKFLOW"}, r"\$\.payload: required"),
        ({**START, "extra": 1}, "extra"),
        ({**START, "payload": []}, r"\$\.payload: expected"),
        (with_payload(startedAt="1000"), r"\$\.payload\.startedAt: expected int, got '1000'"),
        (with_payload(startedAt=True), r"\$\.payload\.startedAt: expected int, got True"),
        (with_payload(stepName=DROP), r"\$\.payload\.stepName: required field missing"),
        (with_payload(unknown=1), "unknown"),
        (with_payload(status=DROP), "payload.status is missing"),
        (with_payload(stepCallId=None), "payload.stepCallId is not expected here"),
        (with_payload(metadata=None), "payload.metadata is not expected here"),
        (
            envelope("workflow-step-progress", {**LITERAL_WIRE_DICTS[6]["payload"],
                                                "iterationOutput": 1}),
            "payload.iterationOutput is not expected here",
        ),
        (
            envelope("workflow-step-result", {**LITERAL_WIRE_DICTS[7]["payload"], "error": ERROR}),
            "payload.error is not expected here",
        ),
        (
            envelope("workflow-step-result", {**LITERAL_WIRE_DICTS[10]["payload"], "error": "x"}),
            r"\$\.payload\.error: expected error",
        ),
        (
            envelope("workflow-finish", {**LITERAL_WIRE_DICTS[17]["payload"],
                                         "finalWorkflowResult": 1}),
            "payload.finalWorkflowResult is not expected here",
        ),
        (
            envelope("workflow-finish", {**LITERAL_WIRE_DICTS[16]["payload"],
                                         "output": {"usage": {"inputTokens": "1"}}}),
            r"\$\.payload\.output\.usage\.inputTokens: expected int, got '1'",
        ),
        ({"type": "data-x", "runId": "r", "from": "USER"}, "custom chunk is missing 'data'"),
        ({"type": "data-x", "runId": 1, "from": "USER", "data": 1}, "'runId' must be a string"),
    ],
)  # fmt: skip
def test_from_dict_rejects_garbage(garbage: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_dict(garbage)
