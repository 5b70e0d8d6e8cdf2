"""What runs on a Dask worker: attempts of a step body (one task runs one or a few items), each
with a ``WorkerStepContext`` (the step context's API on values shipped with the task), their
effects recorded for the run."""

from __future__ import annotations

import asyncio
import pickle
import time
import traceback
from collections.abc import Callable, Generator, Mapping
from typing import Any

import attrs
import cloudpickle

from ..context import Bail, RequestContext, Suspended, TracingContext
from ..errors import RxflowError
from ..writer import check_custom_chunk

__all__ = ["Body", "Outcome", "WorkerStepContext", "WorkerTask", "run_tasks"]

#: A message relayed to the run: (invocation token, kind, pickled value); kinds below: a
#: chunk written, a custom chunk, the attempt's ``Outcome``.
WRITE, CUSTOM, OUTCOME = 0, 1, 2

# Outcomes up to this many pickled bytes go back on the worker's channel to the client as the
# attempt ends (no fetch of the task's result, and a ``foreach`` item settles at once); bigger
# ones (the scheduler keeps recent channel messages) come back as the task's result.
_RELAY_OUTCOME_BYTES = 4096


@attrs.frozen(slots=True)
class WorkerTask:
    """What one attempt needs besides the body and the shared values: sent with each task."""

    step_id: str
    is_async: bool
    token: str  # names this attempt in relayed chunks
    topic: str  # where chunks go (the client's subscription)
    run_id: str
    workflow_id: str
    resource_id: str | None
    input_data: Any
    state: dict[str, Any]
    request_context: dict[str, Any]
    retry_count: int
    resume_data: Any
    suspend_data: Any


#: Bodies this worker process already unpickled, by digest (a closure is unpickled once).
_BODIES: dict[str, Callable[[Any], Any]] = {}
_BODIES_KEPT = 256


@attrs.frozen(slots=True)
class Body:
    """A step body pickled once in the run's process: its bytes and their digest."""

    digest: str
    blob: bytes = attrs.field(repr=False)

    def load(self) -> Callable[[Any], Any]:
        """The body, unpickled on this worker the first time only."""
        body = _BODIES.get(self.digest)
        if body is None:
            if len(_BODIES) >= _BODIES_KEPT:
                _BODIES.clear()
            body = _BODIES[self.digest] = cloudpickle.loads(self.blob)
        return body


@attrs.define(slots=True)
class Outcome:
    """What an attempt did: its output or error, and the effects to apply in the run."""

    output: Any = None
    error: BaseException | None = None
    state_partials: list[dict[str, Any]] | None = None
    usage: list[dict[str, Any]] | None = None
    suspension: tuple[Any, list[str] | None] | None = None
    abort: bool = False


class _Done:
    """An awaitable that is already done: ``write`` sends at once, so a ``def`` body may call
    it without ``await`` and an ``async def`` body may await it."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


_DONE = _Done()


@attrs.define(slots=True, eq=False)
class WorkerWriter:
    """``ctx.writer`` on a worker: each chunk goes to the run's stream at once, in order."""

    _send: Callable[[int, Any], None]

    def write(self, value: Any) -> _Done:
        """Stream ``value`` as a ``workflow-step-output`` chunk (await it, or not)."""
        self._send(WRITE, value)
        return _DONE

    def custom(self, chunk: Mapping[str, Any]) -> _Done:
        """Stream a custom ``data-*`` chunk (await it, or not)."""
        check_custom_chunk(chunk)
        self._send(CUSTOM, dict(chunk))
        return _DONE


@attrs.define(slots=True, eq=False)
class WorkerAbortSignal:
    """``ctx.abort_signal`` on a worker: set once the task running the body is canceled,
    which a cancel of the run does. Read from the worker's own state: no network call."""

    _worker: Any
    _key: Any
    _aborted: bool = False

    @property
    def aborted(self) -> bool:
        """True once the run was canceled."""
        if not self._aborted:
            task = self._worker.state.tasks.get(self._key)
            self._aborted = task is None or task.state in _GIVEN_UP
        return self._aborted

    async def wait(self, poll: float = 0.05) -> None:
        """Return once the run is canceled (looks every ``poll`` seconds)."""
        while not self.aborted:
            await asyncio.sleep(poll)


#: States of a worker's task whose result nobody wants any more (its client canceled it).
_GIVEN_UP = frozenset({"cancelled", "released", "forgotten"})


@attrs.define(slots=True, eq=False)
class WorkerStepContext:
    """The step context of a body running on a Dask worker.

    It reads like ``StepContext`` (ids, ``input_data``, ``state``, a copy of the request
    context, ``retry_count``, ``resume_data``/``suspend_data``, ``get_step_result``,
    ``get_init_data``, ``abort_signal``, ``writer``); ``set_state``, ``record_usage``,
    ``suspend``, ``abort`` and ``bail`` are recorded here and take effect in the run when the
    body returns. Changes to ``request_context`` stay on the worker.
    """

    _task: WorkerTask = attrs.field(repr=False)
    _shared: tuple[Any, Mapping[str, Any]] = attrs.field(repr=False)  # init data, step outputs
    writer: WorkerWriter = attrs.field(repr=False)
    request_context: RequestContext = attrs.field(repr=False)
    abort_signal: WorkerAbortSignal = attrs.field(repr=False)
    outcome: Outcome = attrs.field(factory=Outcome, repr=False)
    tracing_context: TracingContext = attrs.field(factory=TracingContext, repr=False)

    input_data: Any = attrs.field(init=False)
    state: dict[str, Any] = attrs.field(init=False)
    retry_count: int = attrs.field(init=False)
    resume_data: Any = attrs.field(init=False)
    suspend_data: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        task = self._task
        self.input_data = task.input_data
        self.state = task.state
        self.retry_count = task.retry_count
        self.resume_data = task.resume_data
        self.suspend_data = task.suspend_data

    @property
    def run_id(self) -> str:
        return self._task.run_id

    @property
    def workflow_id(self) -> str:
        return self._task.workflow_id

    @property
    def resource_id(self) -> str | None:
        return self._task.resource_id

    def get_init_data(self) -> Any:
        """The input of the workflow this step belongs to."""
        return self._shared[0]

    def get_step_result(self, step_or_id: Any) -> Any:
        """That step's output if it succeeded, else ``None``."""
        step_id = step_or_id if isinstance(step_or_id, str) else step_or_id.id
        return self._shared[1].get(step_id)

    def set_state(self, partial: Mapping[str, Any]) -> None:
        """Merge ``partial`` into the run state when the step ends (checked in the run)."""
        if not isinstance(partial, Mapping):
            raise TypeError(f"set_state expects a mapping, got {type(partial).__name__}")
        outcome = self.outcome
        if outcome.state_partials is None:
            outcome.state_partials = []
        outcome.state_partials.append(dict(partial))

    def record_usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        *,
        reasoning_tokens: int | None = None,
        cached_input_tokens: int | None = None,
    ) -> None:
        """Add token usage to the run's totals (when the body returns or raises)."""
        outcome = self.outcome
        if outcome.usage is None:
            outcome.usage = []
        outcome.usage.append(
            {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "reasoning_tokens": reasoning_tokens,
                "cached_input_tokens": cached_input_tokens,
            }
        )

    def abort(self) -> None:
        """Cancel the run (when the body returns or raises)."""
        self.outcome.abort = True

    def bail(self, value: Any = None) -> Bail:
        """``return ctx.bail(v)`` ends the whole workflow successfully with result ``v``."""
        return Bail(value)

    async def suspend(
        self, payload: Any = None, *, resume_label: str | list[str] | None = None
    ) -> Suspended:
        """Record a suspension; the idiom is ``return await ctx.suspend(...)``."""
        if not self._task.is_async:
            raise RxflowError("suspend() is only available in async step bodies")
        labels = [resume_label] if isinstance(resume_label, str) else resume_label
        self.outcome.suspension = (payload, list(labels) if labels else None)
        return Suspended(payload)


def _relay(worker: Any, task: WorkerTask) -> Callable[[int, Any], None]:
    """Send chunks to the run's client through the worker's own channel to the scheduler
    (``log_event``): in order, and ahead of the task's result. Nothing is sent for a body
    that writes nothing."""
    topic, token = task.topic, task.token

    def send(kind: int, value: Any) -> None:
        worker.log_event(topic, (token, kind, pickle.dumps(value, protocol=5)))

    return send


def run_tasks(body: Body, shared: Any, tasks: tuple[WorkerTask, ...]) -> list[Outcome | None]:
    """Run one attempt of the body per task, in order, on this worker; what each returned or
    raised, and did: small outcomes are relayed to the run as each attempt ends (None in the
    list), big ones are in the list. Stops early once the task is canceled (the outcomes so
    far).

    ``shared`` is the workflow input and step outputs, pickled (small ones travel with the
    task) or as they are (a scattered value)."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    execute = body.load()
    if isinstance(shared, bytes):
        shared = pickle.loads(shared)
    outcomes: list[Outcome | None] = []
    for task in tasks:
        abort = WorkerAbortSignal(worker, key)
        if outcomes and abort.aborted:
            break
        outcome = _attempt(execute, shared, task, worker, abort)
        outcomes.append(None if _relayed(worker, task, outcome) else outcome)
    return outcomes


def _relayed(worker: Any, task: WorkerTask, outcome: Outcome) -> bool:
    """Send a small ``outcome`` to the run now, behind the attempt's chunks; False when it is
    too big (or does not pickle here: Dask's own serialization of the result then tries)."""
    try:
        blob = pickle.dumps(outcome, protocol=5)
    except Exception:
        return False
    if len(blob) > _RELAY_OUTCOME_BYTES:
        return False
    worker.log_event(task.topic, (task.token, OUTCOME, blob))
    return True


def _attempt(
    body: Callable[[Any], Any],
    shared: tuple[Any, Mapping[str, Any]],
    task: WorkerTask,
    worker: Any,
    abort: WorkerAbortSignal,
) -> Outcome:
    ctx = WorkerStepContext(
        task,
        shared,
        WorkerWriter(_relay(worker, task)),
        RequestContext(task.request_context),
        abort,
    )
    outcome = ctx.outcome
    try:
        output = body(ctx)
        if task.is_async:  # on an event loop of its own, in this task's thread
            output = asyncio.run(_awaited(output))
        outcome.output = output
    except Exception as error:
        outcome.error = _sendable(error, task)
    return outcome


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _sendable(error: Exception, task: WorkerTask) -> BaseException:
    """``error`` with the worker's traceback as a note, or a stand-in when it cannot be
    pickled back to the run."""
    note = f"raised on a Dask worker ({time.strftime('%H:%M:%S')}, step '{task.step_id}'):\n"
    note += "".join(traceback.format_exception(error))
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        error = RxflowError(f"{type(error).__qualname__}: {error}")
    error.add_note(note)
    return error
