"""What a step body and a condition see: StepContext, ConditionContext, RequestContext,
the abort signal and the writer. Nothing here runs steps; the engine builds these objects."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic

import attrs
from typing_extensions import TypeVar

from .convert import conform
from .errors import RxflowError
from .results import Usage
from .schema import check_state_partial
from .writer import StepWriter

if TYPE_CHECKING:
    from .engine.state import ExecutionState
    from .graph import StepNode

__all__ = [
    "AbortSignal",
    "Bail",
    "ConditionContext",
    "RequestContext",
    "StepContext",
    "StepWriter",
    "Suspended",
    "TracingContext",
]

_MISSING: Any = object()

#: The type of a step's input (``StepContext[Order]``: ``ctx.input_data`` is an ``Order``);
#: ``Any`` when not given.
In = TypeVar("In", default=Any)


class RequestContext:
    """A mutable, mapping-like bag of request values shared by every step of a run.

    The same instance is handed to every step, condition and nested workflow of a run, so a
    value set by one step is seen by the next ones.
    """

    __slots__ = ("_values",)

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(initial) if initial else {}

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def has(self, key: str) -> bool:
        return key in self._values

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it was there."""
        return self._values.pop(key, _MISSING) is not _MISSING

    def clear(self) -> None:
        self._values.clear()

    def keys(self) -> list[str]:
        return list(self._values)

    def values(self) -> list[Any]:
        return list(self._values.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._values.items())

    def to_dict(self) -> dict[str, Any]:
        """A shallow copy of the values, as a plain dict."""
        return dict(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RequestContext):
            return self._values == other._values
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RequestContext({self._values!r})"


@attrs.frozen(slots=True)
class TracingContext:
    """Where spans go: ``current_span`` is the OpenTelemetry span new spans are children of."""

    current_span: Any = None


@attrs.define(slots=True, eq=False)
class AbortSignal:
    """Tells step bodies that the run was canceled: ``.aborted``, or ``await .wait()``.

    ``mark_aborted`` is the engine's side (it calls it when the run is canceled); bodies only
    read the signal.
    """

    _aborted: bool = attrs.field(init=False, default=False)
    _event: asyncio.Event | None = attrs.field(init=False, default=None)  # made on first wait

    @property
    def aborted(self) -> bool:
        return self._aborted

    async def wait(self) -> None:
        """Return once the run is canceled (at once when it already is)."""
        if self._aborted:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()

    def mark_aborted(self) -> None:
        """Engine-facing: mark the run canceled and wake ``wait()``-ers (loop thread only)."""
        self._aborted = True
        if self._event is not None:
            self._event.set()


@attrs.frozen(slots=True, eq=False)
class Bail:
    """The marker ``ctx.bail(value)`` returns: ends the whole workflow successfully."""

    value: Any


@attrs.frozen(slots=True, eq=False)
class Suspended:
    """The marker ``await ctx.suspend(...)`` returns; the step ends suspended."""

    payload: Any


@attrs.define(slots=True, eq=False)
class _ContextBase(Generic[In]):
    """What steps and conditions share: identifiers, input, state and the run's services.

    Built by the engine (positionally: execution, input, retry count, tracing context, state).
    """

    _exec: ExecutionState = attrs.field(repr=False)
    input_data: In
    retry_count: int
    tracing_context: TracingContext = attrs.field(repr=False)
    state: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self._exec.run_id

    @property
    def workflow_id(self) -> str:
        return self._exec.workflow.id

    @property
    def resource_id(self) -> str | None:
        return self._exec.scope.resource_id

    @property
    def request_context(self) -> RequestContext:
        return self._exec.scope.request_context

    @property
    def abort_signal(self) -> AbortSignal:
        return self._exec.scope.abort_signal

    def get_init_data(self) -> Any:
        """The input of the workflow this step belongs to."""
        return self._exec.input

    def get_step_result(self, step_or_id: Any) -> Any:
        """That step's output if it succeeded, else ``None``."""
        step_id = step_or_id if isinstance(step_or_id, str) else step_or_id.id
        result = self._exec.step_results.get(step_id)
        if result is None or result.status != "success":
            return None
        return result.output

    def step_outputs(self) -> dict[str, Any]:
        """Engine-facing: the output of every step of this workflow that succeeded, by id (what
        ``get_step_result`` reads; an executor ships it with a body run elsewhere)."""
        return {
            step_id: result.output
            for step_id, result in self._exec.step_results.items()
            if result.status == "success"
        }

    def abort(self) -> None:
        """Cancel the run from inside (same as ``await run.cancel()``); thread-safe."""
        self._exec.scope.request_abort()

    def record_usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        *,
        reasoning_tokens: int | None = None,
        cached_input_tokens: int | None = None,
    ) -> None:
        """Add token usage to the run's totals; thread-safe."""
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            reasoning_tokens=reasoning_tokens,
            cached_input_tokens=cached_input_tokens,
        )
        self._exec.scope.add_usage(usage)


@attrs.define(slots=True, eq=False)
class ConditionContext(_ContextBase[Any]):
    """What a branch or loop condition sees: like StepContext without suspend/set_state.

    ``iteration_count`` (1-based) is set for loop conditions, ``None`` elsewhere;
    ``retry_count`` is -1 (conditions are not retried).
    """

    iteration_count: int | None = None


@attrs.define(slots=True, eq=False)
class StepContext(_ContextBase[In]):
    """What a step body receives: one instance per invocation (each retry gets a fresh one).

    ``set_state``, ``bail``, ``abort`` and ``record_usage`` are plain methods (callable from
    sync and async bodies); ``suspend`` and the writer are async.

    Engine-facing members (read by the engine once the body has returned; bodies leave them
    alone): ``suspension``, ``state_partials`` and ``merged_state()``.
    """

    _step: StepNode = attrs.field(repr=False)
    resume_data: Any = None
    suspend_data: Any = None
    _writer: StepWriter | None = attrs.field(init=False, default=None, repr=False)
    #: Engine-facing: the ``set_state`` partials of this invocation, in call order (or None).
    state_partials: list[dict[str, Any]] | None = attrs.field(init=False, default=None, repr=False)
    #: Engine-facing: ``(payload, resume labels)`` once the body called ``suspend``, else None.
    suspension: tuple[Any, list[str] | None] | None = attrs.field(
        init=False, default=None, repr=False
    )

    @property
    def writer(self) -> StepWriter:
        """``await ctx.writer.write(x)`` streams ``x`` as a ``workflow-step-output`` event."""
        writer = self._writer
        if writer is None:
            scope = self._exec.scope
            writer = self._writer = StepWriter(scope.emit, scope.run_id, self._step.id)
        return writer

    def set_state(self, partial: Mapping[str, Any]) -> None:
        """Merge ``partial`` into the run state when this step succeeds, bails or suspends.

        Partials of one invocation merge in call order (per key, last wins). Checked key by key
        against the state schema at once; a bad key raises ``ValidationError`` here.
        """
        if not isinstance(partial, Mapping):
            raise TypeError(f"set_state expects a mapping, got {type(partial).__name__}")
        schema = self._step.state_schema or self._exec.workflow.state_schema
        partial = dict(partial)
        if schema is not None:
            check_state_partial(partial, schema, what=f"state set by step '{self._step.id}'")
        if self.state_partials is None:
            self.state_partials = []
        self.state_partials.append(partial)

    def merged_state(self) -> dict[str, Any]:
        """Engine-facing: the run's current state with this invocation's ``set_state``
        partials merged in call order (a new dict), checked against the state schema.

        Raises ``ValidationError`` when the merged state breaks the schema.
        """
        merged = dict(self._exec.state)
        for partial in self.state_partials or ():
            merged.update(partial)
        schema = self._step.state_schema or self._exec.workflow.state_schema
        if schema is not None:
            conform(merged, schema, what=f"state after step '{self._step.id}'")
        return merged

    def bail(self, value: Any = None) -> Bail:
        """``return ctx.bail(v)`` ends the whole workflow successfully with result ``v``."""
        return Bail(value)

    async def suspend(
        self, payload: Any = None, *, resume_label: str | list[str] | None = None
    ) -> Suspended:
        """Record a suspension; the idiom is ``return await ctx.suspend(...)``.

        On resume the body runs again from the top with ``resume_data`` set.
        """
        scope = self._exec.scope
        if threading.get_ident() != scope.loop_thread:
            raise RxflowError("suspend() is only available in async step bodies")
        if not scope.can_suspend:
            raise RxflowError(
                f"step '{self._step.id}' cannot suspend here: nothing could resume it "
                "(it runs outside a workflow run)"
            )
        if self._step.suspend_schema is not None:
            payload = conform(
                payload,
                self._step.suspend_schema,
                what=f"suspend payload of step '{self._step.id}'",
            )
        labels = [resume_label] if isinstance(resume_label, str) else resume_label
        self.suspension = (payload, list(labels) if labels else None)
        return Suspended(payload)
