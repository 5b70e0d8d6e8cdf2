"""The state an execution carries through the operators.

``RunScope`` is shared by a run and every nested workflow it runs (event channel, abort
signal, request context); ``ExecutionState`` is one workflow execution's data (input, current
value, step results, run state, outcome). Entry operators read and update it in place.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..context import AbortSignal, RequestContext
from ..events import EventRecord, UsageRecorded, build_event
from ..results import StepResult, TripwireInfo, Usage
from ..status import ExecutionStatus

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ..graph import WorkflowGraph
    from .persist import Persister
    from .program import Program

__all__ = [
    "NO_INPUT",
    "ExecutionState",
    "ResumeTarget",
    "RunScope",
    "new_call_id",
    "new_run_id",
    "now_ms",
]


def now_ms() -> int:
    """Integer milliseconds since the epoch (the wire's timestamp unit)."""
    return int(time.time() * 1000)


def _call_id_head() -> str:
    random = os.urandom(10).hex()
    return f"{random[:8]}-{random[8:12]}-4{random[13:16]}-{random[16:20]}-"


# Step call ids are shaped like UUIDs but made from a random per-process prefix and a counter:
# unique, and far cheaper than uuid4() on the per-step path. A forked child draws its own
# prefix, so workers forked after import do not repeat each other's ids.
_ID_HEAD = _call_id_head()
_counter = itertools.count(1)


# Random bytes for run ids, drawn from the OS 64 ids at a time (one system call instead of one
# per run); the pool is per process: a forked child drops what it inherited.
_RUN_ID_BYTES = 16 * 64
_run_id_pool = b""
_run_id_at = 0


def _new_call_id_head() -> None:
    global _ID_HEAD, _run_id_pool, _run_id_at
    _ID_HEAD = _call_id_head()
    _run_id_pool, _run_id_at = b"", 0


os.register_at_fork(after_in_child=_new_call_id_head)


def new_call_id() -> str:
    return f"{_ID_HEAD}{next(_counter):012x}"


def new_run_id() -> str:
    """A random UUID (version 4) as a string: distinct across processes (forked workers
    included) and not guessable from other runs' ids, since a run id is often the only handle
    an app gives out to approve or cancel a run. Formatted by hand (``str(uuid.uuid4())``
    costs several times more, on every run's start)."""
    global _run_id_pool, _run_id_at
    at = _run_id_at
    if at >= len(_run_id_pool):
        _run_id_pool, at = os.urandom(_RUN_ID_BYTES), 0
    _run_id_at = at + 16
    h = _run_id_pool[at : at + 16].hex()
    # version 4 in the 13th digit, the RFC 4122 variant (8, 9, a or b) in the 17th
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT = "89ab"


class RecordSink(Protocol):
    """What takes compact step records (the run's event bus)."""

    def on_record(self, record: EventRecord) -> None: ...


class RunScope:
    """What a run and its nested workflows share: ids, the event channel, cancellation."""

    __slots__ = (
        "_signal",
        "aborted",
        "can_suspend",
        "emit",
        "emit_record",
        "loop",
        "loop_thread",
        "on_abort_request",
        "on_retry",
        "persister",
        "request_context",
        "resource_id",
        "run_id",
        "threads",
        "threads_width",
        "tracing",
        "watched",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        run_id: str,
        workflow_id: str,
        resource_id: str | None,
        emit: Callable[[Any], None],
        request_context: RequestContext,
        loop: asyncio.AbstractEventLoop,
        on_abort_request: Callable[[], None],
        bus: RecordSink | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.resource_id = resource_id
        self.emit = emit
        # Step starts and results go out as compact records (``rxflow.events.build_event``):
        # the run's event bus takes them as they are; otherwise they are built for ``emit``.
        self.emit_record: Callable[[EventRecord], None] = (
            bus.on_record if bus is not None else lambda record: emit(build_event(record))
        )
        self.request_context = request_context
        self.loop = loop
        self.loop_thread = threading.get_ident()
        # Whether the run was canceled; the AbortSignal object that step bodies see is made
        # only when one asks for it (most runs never do).
        self.aborted = False
        self._signal: AbortSignal | None = None
        self.on_abort_request = on_abort_request
        # Emit workflow-step-finish events only while someone watches the raw events.
        self.watched = False
        # False where nothing could resume a suspension (a step run as an Rx operator).
        self.can_suspend = True
        # True while the run's span records (an SDK is configured): then spans are made.
        self.tracing = False
        # Writes the run's snapshots; None where nothing is stored (a step as an operator).
        self.persister: Persister | None = None
        # The run's own thread pool for ``def`` bodies, once a wide foreach needs one
        # (``threads.widen_threads``); None: asyncio's default pool.
        self.threads: ThreadPoolExecutor | None = None
        self.threads_width = 0
        # Told (step id, retry number) before each retry while someone watches retries: a
        # retry emits no event (Mastra's stream has none), live views learn of it here.
        self.on_retry: Callable[[str, int], None] | None = None

    def mark(self, key: str | None = None) -> None:
        """The top-level execution changed (``key``: the step result under it): let the
        persister write a snapshot soon."""
        persister = self.persister
        if persister is not None and persister.durable:
            persister.mark(key)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self.loop_thread:
            fn()
        else:
            self.loop.call_soon_threadsafe(fn)

    @property
    def abort_signal(self) -> AbortSignal:
        """The signal step bodies watch (``ctx.abort_signal``)."""
        signal = self._signal
        if signal is None:
            signal = self._signal = AbortSignal()
            if self.aborted:
                signal.mark_aborted()
        return signal

    def fire_abort(self) -> None:
        """Mark the run canceled and wake whoever waits on its abort signal (loop thread)."""
        self.aborted = True
        if self._signal is not None:
            self._signal.mark_aborted()

    def absorb_cancel(self) -> bool:
        """Call inside ``except CancelledError``: True when the run's own abort caused it.

        The task's cancellation is then taken back (``uncancel``), so the entry can report
        ``canceled`` and return normally; any other cancellation must propagate (re-raise
        when this returns False).
        """
        if not self.aborted:
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    def request_abort(self) -> None:
        """Cancel the run (thread-safe); the run decides what that means right now."""
        self._on_loop(self.on_abort_request)

    def add_usage(self, usage: Usage) -> None:
        """Send a usage report down the event channel (thread-safe)."""
        notice = UsageRecorded(usage)
        self._on_loop(lambda: self.emit(notice))


class ExecutionState:
    """One workflow execution: top-level, or a nested workflow inside a step.

    ``program`` is what runs it and ``workflow`` the graph it runs (``program.graph``).
    ``value`` is the output of the last finished entry (the next entry's input). ``status``
    stays ``"running"`` until an entry ends otherwise (``failed``, ``suspended``, ``bailed``,
    ``tripwire``, ``canceled``) or the last entry succeeds (``success``).
    """

    __slots__ = (
        "entry_index",
        "error",
        "execution_path",
        "input",
        "labels",
        "nested_paths",
        "nested_snapshots",
        "prefix",
        "previous_attempts",
        "program",
        "run_id",
        "scope",
        "state",
        "status",
        "step_results",
        "suspended",
        "tripwire",
        "value",
        "workflow",
    )

    def __init__(
        self,
        *,
        scope: RunScope,
        program: Program,
        run_id: str,
        input: Any,
        state: dict[str, Any] | None = None,
        prefix: str = "",
    ) -> None:
        self.scope = scope
        self.program = program
        self.workflow: WorkflowGraph = program.graph
        self.run_id = run_id
        self.prefix = prefix
        self.input = input
        self.value = input
        self.state: dict[str, Any] = state if state is not None else {}
        self.step_results: dict[str, StepResult] = {}
        self.execution_path: list[str] = []
        self.status: ExecutionStatus = "running"
        self.error: BaseException | None = None
        self.tripwire: TripwireInfo | None = None
        # step id -> suspend payload of each suspended top-level step (in order).
        self.suspended: dict[str, Any] = {}
        # step id -> inner path, for a suspended step that is a nested workflow.
        self.nested_paths: dict[str, list[str]] = {}
        # step id -> snapshot of the nested workflow suspended inside that step.
        self.nested_snapshots: dict[str, dict[str, Any]] = {}
        # resume label -> {"stepId": ..., "foreachIndex"?: ...}
        self.labels: dict[str, dict[str, Any]] = {}
        # Index of the top-level entry being run (the snapshot's activePaths).
        self.entry_index = 0
        # step id -> earlier results (wire form) that time travels replaced; None: none did.
        self.previous_attempts: dict[str, list[Any]] | None = None

    @property
    def is_root(self) -> bool:
        """True for the run's own execution, False for a nested workflow inside a step."""
        return not self.prefix

    def record(self, step_id: str, result: StepResult, *, again: bool = False) -> None:
        """Keep a step's result and note it on the execution path (unless ``again``: a resumed
        step is already on the path)."""
        self.step_results[step_id] = result
        if not again:
            self.execution_path.append(step_id)
        if not self.prefix:
            self.scope.mark(step_id)

    def fail(self, error: BaseException, tripwire: TripwireInfo | None = None) -> None:
        self.status = "tripwire" if tripwire is not None else "failed"
        self.error = error
        self.tripwire = tripwire

    def release_frames(self) -> None:
        """The execution ended: the tracebacks of its errors keep where each was raised (files,
        lines, functions) but let go of the frames' local variables. Those hold this state, the
        step contexts and whatever the bodies made, and a failed run's results outlive the run
        (an in-memory store keeps them by reference, as long as the workflow lives)."""
        if self.status == "success":
            return
        pending: list[object] = [self.error]
        pending += [result.error for result in self.step_results.values()]
        seen: set[int] = set()
        while pending:
            error = pending.pop()
            if not isinstance(error, BaseException) or id(error) in seen:
                continue
            seen.add(id(error))
            if error.__traceback__ is not None:
                traceback.clear_frames(error.__traceback__)
            pending += [error.__cause__, error.__context__]


NO_INPUT: Any = object()
"""``ResumeTarget.entry_input`` when the entry's input is read back from the stored results."""


class ResumeTarget:
    """What a resume asks for: the suspended path (outer step id first), the resume data, and
    for a foreach which item (``None``: every suspended item).

    A time travel is a resume too: its target step is made to look suspended (so the entry
    runs it again and keeps its stored siblings), ``resumed_at`` is ``None`` unless it was given
    resume data, and ``entry_input`` is the input the innermost entry (where ``path`` has one
    step left) gets when the caller gave one.
    """

    __slots__ = ("entry_input", "for_each_index", "path", "resume_data", "resumed_at")

    def __init__(
        self,
        path: list[str],
        resume_data: Any,
        for_each_index: int | None,
        resumed_at: int | None,
        entry_input: Any = NO_INPUT,
    ) -> None:
        self.path = path
        self.resume_data = resume_data
        self.for_each_index = for_each_index
        self.resumed_at = resumed_at
        self.entry_input = entry_input

    def inner(self) -> ResumeTarget:
        """The same resume, one nesting level down."""
        return ResumeTarget(
            self.path[1:], self.resume_data, self.for_each_index, self.resumed_at, self.entry_input
        )

    def __repr__(self) -> str:
        return f"ResumeTarget({'.'.join(self.path)!r}, for_each_index={self.for_each_index})"
