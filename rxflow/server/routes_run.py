"""Routes that create, start, resume, cancel, observe and restart runs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..convert import conform
from ..errors import ResumeAlreadyClaimedError, RxflowError, ValidationError
from ..output import WorkflowRunOutput
from ..run import Run
from ..storage import EventLog
from ..workflow import Workflow
from .http import (
    RecordStream,
    Refusal,
    encode_record,
    json_response,
    query,
    query_int,
    read_body,
    require_run_id,
)
from .live import RunLog
from .state import Handler, ServerState, issues

__all__ = [
    "EXECUTE",
    "body_field",
    "cancel",
    "create_run",
    "finished_result",
    "observe",
    "recorded",
    "segment_stream",
]

_FINISHED = ("success", "failed", "canceled", "tripwire", "bailed")
_POLL_SECONDS = 0.05
_WAIT_SECONDS = 1.0
_GRACE_SECONDS = 2.0


_KINDS = {str: "a string", dict: "an object", bool: "a boolean", int: "an integer"}


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is not None and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        raise Refusal(
            400,
            "Invalid request body",
            [{"field": name, "message": f"expected {_KINDS[kind]}"}],
        )
    return value


def _stream(chunks: AsyncIterator[bytes]) -> RecordStream:
    return RecordStream(chunks)


def _result_body(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = result.to_dict()
    error = body.get("error")
    if error is not None and not isinstance(error, dict):
        body["error"] = {"message": str(error), "name": "Error"}
    return body


async def _finished_result(output: WorkflowRunOutput) -> dict[str, Any]:
    try:
        return _result_body(await output.result)
    except ValidationError as error:
        raise Refusal(400, str(error), issues(error, "resumeData")) from None
    except ResumeAlreadyClaimedError as error:
        raise Refusal(409, str(error)) from None
    except RxflowError as error:
        raise Refusal(409, str(error)) from None


async def create_run(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    body = await read_body(request, state.max_body_bytes)
    resource_id = _field(body, "resourceId", str)
    run = await wf.create_run(run_id=query(request).get("runId") or None, resource_id=resource_id)
    return json_response({"runId": run.run_id})


async def _recorded(
    state: ServerState, wf: Workflow, run: Run, launch: Any
) -> tuple[RunLog, int, WorkflowRunOutput]:
    """Open the run's log, launch the run (``launch()`` gives its output) and record it."""
    log = await state.live.open(wf.id, run.run_id, state.events_of(wf))
    start = log.end
    output: WorkflowRunOutput = launch()
    state.background(state.live.record(log, output))
    return log, start, output


async def _segment(log: RunLog, start: int) -> AsyncIterator[bytes]:
    async for piece in log.follow(start, until_finish=True):
        yield piece
    await log.stored()


async def _start(state: ServerState, request: Request, mode: str) -> Response:
    wf = state.workflow(request)
    run_id = require_run_id(request)
    body = await read_body(request, state.max_body_bytes)
    input_data = body.get("inputData")
    initial_state = _field(body, "initialState", dict)
    request_context = _field(body, "requestContext", dict)
    resource_id = _field(body, "resourceId", str)
    close_on_suspend = _field(body, "closeOnSuspend", bool)
    per_step = _field(body, "perStep", bool)
    if mode == "start" and await wf.get_run(run_id) is None:
        raise Refusal(404, "Workflow run not found")
    try:
        conform(input_data, wf.input_schema)
    except ValidationError as error:
        raise Refusal(400, "Invalid inputData", issues(error, "inputData")) from None
    # The run, made now if it does not exist (a stream may name a run never created).
    run = await wf.create_run(run_id=run_id, resource_id=resource_id)
    _check_startable(run)
    # A pending run never ran, so its event log is empty.
    log = await state.live.open(wf.id, run_id, state.events_of(wf), fresh=True)
    try:
        _check_startable(run)  # again: another request may have started it meanwhile
    except Refusal:
        state.live.drop_unused(log)
        raise
    start = log.end
    output = run.stream(
        input_data=input_data,
        initial_state=initial_state,
        request_context=request_context,
        close_on_suspend=True if close_on_suspend is None else close_on_suspend,
        per_step=bool(per_step),
    )
    state.background(state.live.record(log, output))
    if mode == "stream":
        return _stream(_segment(log, start))
    if mode == "start":
        return json_response({"message": "Workflow run started"})
    return json_response(await _finished_result(output))


def _check_startable(run: Run) -> None:
    if run.status in _FINISHED:
        raise Refusal(409, f"Workflow run '{run.run_id}' has already finished ({run.status})")
    if run.status != "pending":
        raise Refusal(409, f"Workflow run '{run.run_id}' was already started ({run.status})")


async def _resume(state: ServerState, request: Request, mode: str) -> Response:
    wf = state.workflow(request)
    run_id = require_run_id(request)
    body = await read_body(request, state.max_body_bytes)
    step = body.get("step")
    if step is not None and not (
        isinstance(step, str) or (isinstance(step, list) and all(isinstance(s, str) for s in step))
    ):
        raise Refusal(
            400,
            "Invalid request body",
            [{"field": "step", "message": "expected a step id or a list of step ids"}],
        )
    request_context = _field(body, "requestContext", dict)
    for_each_index = _field(body, "forEachIndex", int)
    per_step = _field(body, "perStep", bool)
    run = await state.stored_run(wf, run_id)
    if run.status not in ("suspended", "paused"):
        raise Refusal(409, f"This workflow run was not suspended (run '{run_id}' is {run.status})")
    log, start, output = await _recorded(
        state,
        wf,
        run,
        lambda: run.resume_stream(
            step=step,
            resume_data=body.get("resumeData"),
            request_context=request_context,
            for_each_index=for_each_index,
            per_step=bool(per_step),
        ),
    )
    if mode == "stream":
        return _stream(_segment(log, start))
    if mode == "resume":
        return json_response({"message": "Workflow run resumed"})
    if mode == "no-wait":
        return json_response({"runId": run_id})
    return json_response(await _finished_result(output))


async def _restart(state: ServerState, request: Request, wait: bool) -> Response:
    wf = state.workflow(request)
    run_id = require_run_id(request)
    await read_body(request, state.max_body_bytes)
    run = await state.stored_run(wf, run_id)
    if run.status not in ("running", "restarting") and run.status not in _FINISHED:
        raise Refusal(409, f"Workflow run '{run_id}' is not running ({run.status})")
    if run.status in _FINISHED:
        if not wait:
            return json_response({"message": "Workflow run restarted"})
        return json_response(_result_body(await run.restart()))
    # The log is opened before the claim, so a run claimed here is recorded from its first
    # chunk; a refused claim records nothing.
    log = await state.live.open(wf.id, run_id, state.events_of(wf))
    try:
        output = await run.restart_stream()
    except RxflowError as error:
        state.live.drop_unused(log)
        raise Refusal(409, str(error)) from None
    state.background(state.live.record(log, output))
    if not wait:
        return json_response({"message": "Workflow run restarted"})
    return json_response(await _finished_result(output))


async def cancel(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    run_id = request.path_params["runId"]
    run = await state.stored_run(wf, run_id)
    await run.cancel()
    record = await wf.storage.get_run(wf.id, run_id)
    if record is not None and record.status in ("running", "restarting"):
        # Executed by another process: its owner sees the request at its next renewal.
        await wf.storage.request_cancel(wf.id, run_id)
    return json_response({"message": "Workflow run cancelled"})


async def observe(state: ServerState, request: Request) -> Response:
    wf = state.workflow(request)
    run_id = require_run_id(request)
    offset = query_int(request, "offset", 0) or 0
    if await wf.storage.get_run(wf.id, run_id) is None and state.live.get(wf.id, run_id) is None:
        raise Refusal(404, "Workflow run not found")
    return _stream(_observed(state, wf, run_id, offset))


async def _observed(
    state: ServerState, wf: Workflow, run_id: str, offset: int
) -> AsyncIterator[bytes]:
    store = state.events_of(wf)
    log = state.live.get(wf.id, run_id)
    after = offset - 1
    limit = log.base if log is not None else None
    finished = await _ends_a_stream(store, wf, run_id, after)
    grace = time.monotonic() + _GRACE_SECONDS
    while store is not None and (limit is None or after + 1 < limit):
        page = await store.read_events(wf.id, run_id, after_seq=after, limit=256)
        page = [r for r in page if limit is None or r.seq < limit]
        if page:
            yield b"".join(encode_record(r.event) for r in page)
            after = page[-1].seq
            finished = page[-1].event.get("type") == "workflow-finish"
            continue
        if log is not None:
            break
        if not await _running_elsewhere(wf, run_id):
            # A run's end is stored before its last chunk is logged: an ended run whose log
            # does not end with a workflow-finish yet gets a moment for it to arrive.
            if finished or time.monotonic() > grace:
                break
        else:
            grace = time.monotonic() + _GRACE_SECONDS
        await _more(store, wf.id, run_id, after)
    if log is not None:
        async for piece in log.follow(max(offset, log.base), until_finish=False):
            yield piece


async def _ends_a_stream(store: EventLog | None, wf: Workflow, run_id: str, seq: int) -> bool:
    """Whether record ``seq`` is a ``workflow-finish`` (true too when there is no record
    before the reader's first: nothing to complete)."""
    if store is None or seq < 0:
        return True
    before = await store.read_events(wf.id, run_id, after_seq=seq - 1, limit=1)
    return not before or before[0].seq != seq or before[0].event.get("type") == "workflow-finish"


async def _more(store: EventLog, workflow_id: str, run_id: str, after: int) -> None:
    """Wait for records above ``after``: woken by the store where it can wake readers
    (PostgreSQL's NOTIFY), else a short poll; either way at most a second, so an owner that
    died is noticed."""
    wait = getattr(store, "wait_events", None)
    if wait is None:
        await asyncio.sleep(_POLL_SECONDS)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait(workflow_id, run_id, after), _WAIT_SECONDS)


async def _running_elsewhere(wf: Workflow, run_id: str) -> bool:
    """Whether another process is executing the run (a run whose owner's lease expired is
    not: its process is gone, and nothing more will be logged until it is restarted)."""
    record = await wf.storage.get_run(wf.id, run_id)
    if record is None or record.status not in ("running", "restarting"):
        return False
    return record.lease is None or record.lease.expires_at > time.time_ns() // 1_000_000


# What the time-travel routes share with these.
body_field = _field
finished_result = _finished_result
recorded = _recorded


def segment_stream(log: RunLog, start: int) -> RecordStream:
    """The stream response of one segment of the run's log, from record ``start``."""
    return _stream(_segment(log, start))


# The POST routes under /workflows/{workflowId}/ that take ?runId=, by their last segment.
EXECUTE: dict[str, Handler] = {
    "create-run": create_run,
    "start": partial(_start, mode="start"),
    "start-async": partial(_start, mode="async"),
    "stream": partial(_start, mode="stream"),
    "resume": partial(_resume, mode="resume"),
    "resume-async": partial(_resume, mode="async"),
    "resume-no-wait": partial(_resume, mode="no-wait"),
    "resume-stream": partial(_resume, mode="stream"),
    "observe": observe,
    "restart": partial(_restart, wait=False),
    "restart-async": partial(_restart, wait=True),
}
