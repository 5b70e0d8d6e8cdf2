"""The workflow builder (SPEC §3): ``create_workflow(...).then(...)...commit()``.

Building only records graph entries; ``commit()`` freezes them and compiles the engine program.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .errors import WorkflowDefinitionError
from .graph import (
    BranchEntry,
    Entry,
    ForeachEntry,
    LoopEntry,
    MapEntry,
    ParallelEntry,
    SleepEntry,
    SleepUntilEntry,
    StepEntry,
    StepLike,
    entry_steps,
)
from .step import Step

if TYPE_CHECKING:
    from .context import StepContext
    from .engine.program import Program
    from .run import Run
    from .storage import Storage

__all__ = ["RetryConfig", "Workflow", "create_workflow"]


@attrs.frozen(slots=True)
class RetryConfig:
    """Retries of a workflow's steps: ``attempts`` extra tries, ``delay`` ms apart (fixed)."""

    attempts: int = 0
    delay: float = 0

    def __attrs_post_init__(self) -> None:
        if type(self.attempts) is not int or self.attempts < 0:
            raise WorkflowDefinitionError(
                f"RetryConfig.attempts must be an int >= 0, got {self.attempts!r}"
            )
        if (
            isinstance(self.delay, bool)
            or not isinstance(self.delay, (int, float))
            or self.delay < 0
        ):
            raise WorkflowDefinitionError(f"RetryConfig.delay must be ms >= 0, got {self.delay!r}")


def _as_step(value: object, where: str) -> StepLike:
    if isinstance(value, (Step, Workflow)):
        return value
    raise WorkflowDefinitionError(f"{where}: expected a Step or Workflow, got {value!r}")


def _get_path(value: Any, path: str) -> Any:
    """Read ``a.b.c`` from nested mappings / objects; ``.`` is the whole value."""
    if path in (".", ""):
        return value
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    return value


def _read_step(step: StepLike, path: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.get_step_result(step), path)


def _read_value(value: Any) -> Callable[[StepContext], Any]:
    return lambda ctx: value


def _read_init_data(path: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.get_init_data(), path)


def _read_request_context(head: str, rest: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _get_path(ctx.request_context.get(head), rest or ".")


def _mapping_body(spec: Mapping[str, Mapping[str, Any]], workflow_id: str) -> Callable[..., Any]:
    """Check a ``map({...})`` spec at build time and return the body that evaluates it."""
    readers: dict[str, Callable[[StepContext], Any]] = {}
    for key, source in spec.items():
        where = f"workflow '{workflow_id}': map key '{key}'"
        if not isinstance(source, Mapping):
            raise WorkflowDefinitionError(
                f"{where}: expected a mapping source dict, got {source!r}"
            )
        if "step" in source:
            src_step = _as_step(source["step"], where)
            path = source.get("path", ".")
            readers[key] = _read_step(src_step, path)
        elif "value" in source:
            readers[key] = _read_value(source["value"])
        elif source.get("init_data"):
            path = source.get("path", ".")
            readers[key] = _read_init_data(path)
        elif "request_context_path" in source:
            rc_path = str(source["request_context_path"])
            head, _, rest = rc_path.partition(".")
            readers[key] = _read_request_context(head, rest)
        else:
            raise WorkflowDefinitionError(
                f"{where}: expected one of 'step', 'value', 'init_data' or "
                f"'request_context_path', got keys {sorted(source)}"
            )

    async def mapping(ctx: StepContext) -> dict[str, Any]:
        return {key: read(ctx) for key, read in readers.items()}

    return mapping


def _function_body(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mapping functions run on the loop (they are cheap); async ones are awaited."""
    if inspect.iscoroutinefunction(fn):
        return fn

    async def mapping(ctx: StepContext) -> Any:
        result = fn(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result

    return mapping


class Workflow:
    """A workflow: a graph of steps built with the methods below, then ``commit()``-ed.

    A workflow is itself a step: pass it to ``then``, ``parallel``, ``foreach``... of another
    workflow to nest it. Every builder method returns the workflow, so calls chain.
    """

    # Step-like attributes of a workflow used as a nested step.
    retries: int | None = None
    resume_schema: Any = None
    suspend_schema: Any = None
    is_async = True
    _plain_async = False  # run by the engine's nested-workflow path

    def __init__(
        self,
        *,
        id: str,
        input_schema: Any = None,
        output_schema: Any = None,
        state_schema: Any = None,
        request_context_schema: Any = None,
        retry_config: RetryConfig | None = None,
        storage: Storage | None = None,
        executor: Any = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(id, str) or not id:
            raise WorkflowDefinitionError(f"a workflow id must be a non-empty string, got {id!r}")
        if executor is not None:
            raise WorkflowDefinitionError(
                "executor= only accepts None in this version (the local asyncio executor)"
            )
        if retry_config is not None and not isinstance(retry_config, RetryConfig):
            raise WorkflowDefinitionError(
                f"retry_config must be a RetryConfig, got {retry_config!r}"
            )
        self.id = id
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.state_schema = state_schema
        self.request_context_schema = request_context_schema
        self.retry_config = retry_config or RetryConfig()
        self.description = description
        self.metadata = dict(metadata) if metadata else None
        self.executor = None
        self._storage = storage
        self._entries: list[Entry] = []
        self._committed = False
        self._map_count = 0
        self._sleep_count = 0
        self._program: Program | None = None
        self._runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()

    # -- introspection -------------------------------------------------------------------

    @property
    def committed(self) -> bool:
        return self._committed

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def storage(self) -> Storage:
        """The storage runs of this workflow persist to (``InMemoryStorage`` by default)."""
        if self._storage is None:
            from .storage import InMemoryStorage

            self._storage = InMemoryStorage()
        return self._storage

    @property
    def steps(self) -> dict[str, StepLike]:
        """Every step of the top-level graph, by id."""
        found: dict[str, StepLike] = {}
        for entry in self._entries:
            for s in entry_steps(entry):
                found.setdefault(s.id, s)
        return found

    @property
    def program(self) -> Program:
        """The compiled engine program (after ``commit()``)."""
        if self._program is None:
            raise WorkflowDefinitionError(f"workflow '{self.id}' is not committed")
        return self._program

    def __repr__(self) -> str:
        state = "committed" if self._committed else "building"
        return f"<Workflow {self.id!r} {state}, {len(self._entries)} entries>"

    # -- building ------------------------------------------------------------------------

    def _add(self, entry: Entry) -> Workflow:
        if self._committed:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' is committed; it cannot be changed (build a new one)"
            )
        self._entries.append(entry)
        return self

    def then(self, step: StepLike) -> Workflow:
        """Run ``step`` on the previous output."""
        return self._add(StepEntry(_as_step(step, f"workflow '{self.id}': then()")))

    def parallel(self, steps: Sequence[StepLike], *, allow_failure: bool = False) -> Workflow:
        """Run every step on the same input, concurrently; output ``{step_id: output}``."""
        where = f"workflow '{self.id}': parallel()"
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
            raise WorkflowDefinitionError(f"{where}: expected a non-empty list of steps")
        checked = tuple(_as_step(s, where) for s in steps)
        return self._add(ParallelEntry(checked, allow_failure=bool(allow_failure)))

    def branch(self, branches: Sequence[tuple[Callable[..., Any], StepLike]]) -> Workflow:
        """Run every step whose condition is true, concurrently; output ``{step_id: output}``."""
        where = f"workflow '{self.id}': branch()"
        if isinstance(branches, (str, bytes)) or not isinstance(branches, Sequence) or not branches:
            raise WorkflowDefinitionError(
                f"{where}: expected a non-empty list of (condition, step)"
            )
        pairs = []
        for pair in branches:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not callable(pair[0]):
                raise WorkflowDefinitionError(f"{where}: expected (condition, step), got {pair!r}")
            pairs.append((pair[0], _as_step(pair[1], where)))
        return self._add(BranchEntry(tuple(pairs)))

    def _loop(self, step: StepLike, condition: Callable[..., Any], loop_type: Any) -> Workflow:
        where = f"workflow '{self.id}': {loop_type}()"
        if not callable(condition):
            raise WorkflowDefinitionError(f"{where}: the condition must be callable")
        return self._add(LoopEntry(_as_step(step, where), condition, loop_type))

    def dowhile(self, step: StepLike, condition: Callable[..., Any]) -> Workflow:
        """Run ``step``, then repeat while ``condition(ctx)`` is true."""
        return self._loop(step, condition, "dowhile")

    def dountil(self, step: StepLike, condition: Callable[..., Any]) -> Workflow:
        """Run ``step``, then repeat until ``condition(ctx)`` is true."""
        return self._loop(step, condition, "dountil")

    def foreach(self, step: StepLike, *, concurrency: int = 1) -> Workflow:
        """Run ``step`` over every item of the input list, at most ``concurrency`` at once."""
        if type(concurrency) is not int or concurrency < 1:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}': foreach() concurrency must be a positive int, "
                f"got {concurrency!r}"
            )
        step = _as_step(step, f"workflow '{self.id}': foreach()")
        return self._add(ForeachEntry(step, concurrency))

    def map(
        self,
        mapping: Callable[..., Any] | Mapping[str, Mapping[str, Any]],
        *,
        id: str | None = None,
    ) -> Workflow:
        """A synthetic step whose output is ``fn(ctx)``, or a dict built from a mapping spec."""
        step_id = id if id is not None else f"mapping_{self.id}_{self._map_count}"
        if callable(mapping):
            body = _function_body(mapping)
        elif isinstance(mapping, Mapping):
            body = _mapping_body(mapping, self.id)
        else:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}': map() expects a function or a mapping dict, got {mapping!r}"
            )
        self._map_count += 1
        return self._add(MapEntry(Step(id=step_id, execute=body)))

    def sleep(
        self, duration: int | float | Callable[..., Any], *, id: str | None = None
    ) -> Workflow:
        """Wait ``duration`` ms (or ``fn(ctx)`` ms), passing the input through."""
        if not callable(duration) and (
            isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0
        ):
            raise WorkflowDefinitionError(
                f"workflow '{self.id}': sleep() expects ms >= 0 or a function, got {duration!r}"
            )
        return self._add(SleepEntry(id or self._next_sleep_id(), duration))

    def sleep_until(
        self, until: datetime | Callable[..., Any], *, id: str | None = None
    ) -> Workflow:
        """Wait until ``until`` (a datetime, or ``fn(ctx)`` giving one), passing the input on."""
        if not callable(until) and not isinstance(until, datetime):
            raise WorkflowDefinitionError(
                f"workflow '{self.id}': sleep_until() expects a datetime or a function, "
                f"got {until!r}"
            )
        return self._add(SleepUntilEntry(id or self._next_sleep_id(), until))

    def _next_sleep_id(self) -> str:
        sleep_id = f"sleep_{self.id}_{self._sleep_count}"
        self._sleep_count += 1
        return sleep_id

    def commit(self) -> Workflow:
        """Freeze the graph and compile it. Checks emptiness and colliding step ids."""
        if self._committed:
            return self
        if not self._entries:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' has no steps; add one before commit()"
            )
        seen: dict[str, int] = {}
        for index, entry in enumerate(self._entries):
            for s in entry_steps(entry):
                if s.id in seen and seen[s.id] != index:
                    raise WorkflowDefinitionError(
                        f"workflow '{self.id}': duplicate step id '{s.id}' "
                        f"(entries {seen[s.id]} and {index}); step ids must be unique"
                    )
                if s.id in seen and isinstance(entry, (ParallelEntry, BranchEntry)):
                    raise WorkflowDefinitionError(
                        f"workflow '{self.id}': duplicate step id '{s.id}' in entry {index}"
                    )
                seen[s.id] = index
            for s in entry_steps(entry):
                if isinstance(s, Workflow) and not s.committed:
                    raise WorkflowDefinitionError(
                        f"workflow '{self.id}': nested workflow '{s.id}' must be committed first"
                    )
        from .engine.program import compile_program

        self._program = compile_program(self)
        self._committed = True
        return self

    # -- running -------------------------------------------------------------------------

    async def create_run(self, run_id: str | None = None, resource_id: str | None = None) -> Run:
        """A run of this workflow. With the id of a live or stored run, attaches to it."""
        if not self._committed:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' is not committed; call commit() before create_run()"
            )
        if run_id is not None:
            live = self._runs.get(run_id)
            if live is not None:
                return live
        from .run import Run

        run = await Run.create(self, run_id=run_id, resource_id=resource_id)
        self._runs[run.run_id] = run
        return run


Step.register(Workflow)  # a workflow is itself a step (SPEC §2)


def create_workflow(
    *,
    id: str,
    input_schema: Any = None,
    output_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retry_config: RetryConfig | None = None,
    storage: Storage | None = None,
    executor: Any = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Workflow:
    """Start building a workflow (SPEC §3). ``executor`` accepts only ``None`` for now."""
    return Workflow(
        id=id,
        input_schema=input_schema,
        output_schema=output_schema,
        state_schema=state_schema,
        request_context_schema=request_context_schema,
        retry_config=retry_config,
        storage=storage,
        executor=executor,
        description=description,
        metadata=metadata,
    )
