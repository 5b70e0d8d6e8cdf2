"""Routes that time-travel a stored run: ``time-travel``, ``time-travel-async`` and
``time-travel-stream`` (Mastra's body: ``step`` required, ``inputData``, ``resumeData``,
``initialState``, ``context``, ``nestedStepsContext``, ``requestContext``, ``perStep``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .http import Refusal, json_response, read_body, require_run_id
from .routes_run import body_field, finished_result, recorded, segment_stream
from .state import Handler, ServerState

__all__ = ["TRAVEL", "context_outputs"]

_RUNNING = ("running", "restarting")
# The keys of a step result on the wire: a context value made only of these is a step result.
_RESULT_KEYS = frozenset(
    {
        "status",
        "payload",
        "output",
        "error",
        "startedAt",
        "endedAt",
        "suspendPayload",
        "suspendedAt",
        "resumePayload",
        "resumedAt",
        "metadata",
    }
)


def _output_of(value: Any) -> Any:
    """A context value as Mastra sends it (a step result, ``{status, output, ...}``) or as
    rxflow takes it (the output itself): the output."""
    if isinstance(value, Mapping) and "output" in value and set(value) <= _RESULT_KEYS:
        return value["output"]
    return value


def context_outputs(context: Any, nested: Any) -> dict[str, Any] | None:
    """``context`` and ``nestedStepsContext`` (nested workflow id -> step id -> result) as
    ``time_travel``'s ``context``: step id or dotted path -> output."""
    if context is None and nested is None:
        return None
    outputs: dict[str, Any] = {}
    for name, value in (("context", context), ("nestedStepsContext", nested)):
        if value is not None and not isinstance(value, Mapping):
            raise Refusal(
                400, "Invalid request body", [{"field": name, "message": "expected an object"}]
            )
    for step_id, value in (context or {}).items():
        outputs[step_id] = _output_of(value)
    for workflow_id, steps in (nested or {}).items():
        if not isinstance(steps, Mapping):
            raise Refusal(
                400,
                "Invalid request body",
                [{"field": f"nestedStepsContext.{workflow_id}", "message": "expected an object"}],
            )
        for step_id, value in steps.items():
            outputs[f"{workflow_id}.{step_id}"] = _output_of(value)
    return outputs


def _step(body: Mapping[str, Any]) -> str | list[str]:
    step = body.get("step")
    if isinstance(step, str) and step:
        return step
    if isinstance(step, list) and step and all(isinstance(s, str) for s in step):
        return step
    raise Refusal(
        400,
        "Invalid request body",
        [{"field": "step", "message": "required: a step id or a list of step ids"}],
    )


async def _time_travel(state: ServerState, request: Request, mode: str) -> Response:
    wf = state.workflow(request)
    run_id = require_run_id(request)
    body = await read_body(request, state.max_body_bytes)
    step = _step(body)
    request_context = body_field(body, "requestContext", dict)
    initial_state = body_field(body, "initialState", dict)
    per_step = body_field(body, "perStep", bool)
    context = context_outputs(body.get("context"), body.get("nestedStepsContext"))
    run = await state.stored_run(wf, run_id)
    record = await wf.storage.get_run(wf.id, run_id)
    if record is not None and record.status in _RUNNING:
        raise Refusal(409, f"Workflow run '{run_id}' is {record.status}; it cannot time-travel")
    log, start, output = await recorded(
        state,
        wf,
        run,
        lambda: run.time_travel_stream(
            step=step,
            input_data=body.get("inputData"),
            resume_data=body.get("resumeData"),
            initial_state=initial_state,
            context=context,
            request_context=request_context,
            per_step=bool(per_step),
        ),
    )
    if mode == "stream":
        return segment_stream(log, start)
    if mode == "start":
        return json_response({"message": "Workflow run time travel started"})
    return json_response(await finished_result(output))


# The POST routes under /workflows/{workflowId}/ that time-travel a run (?runId=).
TRAVEL: dict[str, Handler] = {
    "time-travel": partial(_time_travel, mode="start"),
    "time-travel-async": partial(_time_travel, mode="async"),
    "time-travel-stream": partial(_time_travel, mode="stream"),
}
