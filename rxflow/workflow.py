"""The workflow builder: ``create_workflow(...).then(...)...commit()``.

Building records graph entries; ``commit()`` freezes them into a ``WorkflowGraph`` and compiles
the engine program that runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Self, Union

from .context import In
from .durability import Durability
from .engine.program import Program, compile_program
from .errors import WorkflowDefinitionError
from .executors.protocol import Executor
from .graph import (
    BranchEntry,
    Entry,
    ForeachEntry,
    LoopEntry,
    MapEntry,
    ParallelEntry,
    RetryConfig,
    SleepEntry,
    SleepUntilEntry,
    StepEntry,
    StepLike,
    WorkflowGraph,
    entry_steps,
)
from .jsonschema import JsonSchemas
from .mapping import function_body, mapping_body
from .results import Out
from .run import Run
from .run.registry import RunRegistry
from .step import Step
from .storage import InMemoryStorage, Storage
from .storage.checks import check_storage_object
from .workflow_options import check_workflow_options

__all__ = ["RetryConfig", "StepOrWorkflow", "Workflow"]

#: What the builder methods take as a step: a ``Step``, or a committed ``Workflow`` to nest.
StepOrWorkflow = Union[Step, "Workflow"]


class Workflow(JsonSchemas, Generic[In, Out]):
    """A workflow: a graph of steps built with the methods below, then ``commit()``-ed.

    A committed workflow is itself a step: pass it to ``then``, ``parallel``, ``foreach``...
    of another workflow to nest it. Every builder method returns the workflow, so calls chain.
    ``In`` and ``Out`` are its input and output types (``Workflow[Order, Receipt]``), taken
    from ``input_schema`` and ``output_schema`` by ``create_workflow``; ``Any`` when not given.
    """

    # Step attributes of a workflow used as a nested step: its inner steps retry by its own
    # retry config, and it neither suspends itself nor takes resume data (its steps do).
    retries: int | None = None
    resume_schema: Any = None
    suspend_schema: Any = None

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
        executor: Executor | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        durability: Durability = "sync",
    ) -> None:
        schemas = {
            "input_schema": input_schema,
            "output_schema": output_schema,
            "state_schema": state_schema,
            "request_context_schema": request_context_schema,
        }
        self.durability = check_workflow_options(
            id=id,
            schemas=schemas,
            retry_config=retry_config,
            storage=storage,
            executor=executor,
            metadata=metadata,
            durability=durability,
        )
        self.id = id
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.state_schema = state_schema
        self.request_context_schema = request_context_schema
        self.retry_config = retry_config or RetryConfig()
        self.description = description
        self.metadata = dict(metadata) if metadata else None
        self.executor = executor
        self._storage = storage
        self._entries: list[Entry] = []
        self._steps: dict[str, StepOrWorkflow] = {}
        self._passed: list[StepOrWorkflow] = []  # the steps of the entry being added
        self._map_count = 0
        self._sleep_count = 0
        self._graph: WorkflowGraph | None = None
        self._program: Program | None = None
        self._runs = RunRegistry()

    @property
    def committed(self) -> bool:
        return self._graph is not None

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The graph entries so far (a nested workflow appears as its ``WorkflowGraph``)."""
        return tuple(self._entries)

    @property
    def storage(self) -> Storage:
        """The storage runs of this workflow persist to (``InMemoryStorage`` by default)."""
        if self._storage is None:
            self._storage = InMemoryStorage()
        return self._storage

    def use_storage(self, storage: Storage) -> None:
        """Make ``storage`` the store of this workflow's runs (before it has any run)."""
        check_storage_object(storage, f"workflow '{self.id}'")
        if self._runs:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' already has runs; set its storage before creating any"
            )
        self._storage = storage

    @property
    def steps(self) -> dict[str, StepOrWorkflow]:
        """Every step (or nested workflow) of the top-level graph, by id, as it was passed."""
        return dict(self._steps)

    @property
    def graph(self) -> WorkflowGraph:
        """The frozen graph (after ``commit()``): what the engine runs and snapshots store."""
        if self._graph is None:
            raise WorkflowDefinitionError(f"workflow '{self.id}' is not committed")
        return self._graph

    @property
    def program(self) -> Program:
        """The compiled engine program (after ``commit()``)."""
        if self._program is None:
            raise WorkflowDefinitionError(f"workflow '{self.id}' is not committed")
        return self._program

    def __repr__(self) -> str:
        state = "committed" if self.committed else "building"
        return f"<Workflow {self.id!r} {state}, {len(self._entries)} entries>"

    def _node(self, value: object, where: str) -> StepLike:
        """The graph node for a step argument: the step itself, or a nested workflow's graph."""
        if isinstance(value, Workflow):
            if not value.committed:
                raise WorkflowDefinitionError(
                    f"{where}: nested workflow '{value.id}' must be committed first"
                )
            node: StepLike = value.graph
        elif isinstance(value, Step):
            node = value
        else:
            raise WorkflowDefinitionError(f"{where}: expected a Step or Workflow, got {value!r}")
        self._passed.append(value)
        return node

    def _add(self, entry: Entry) -> Self:
        self._entries.append(entry)
        for value in self._passed:
            self._steps.setdefault(value.id, value)
        self._passed.clear()
        return self

    def _building(self, method: str) -> str:
        """Where a builder call is (for its errors); refuses changes after ``commit()``."""
        if self._graph is not None:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' is committed; it cannot be changed (build a new one)"
            )
        self._passed.clear()  # what an earlier call that raised had checked
        return f"workflow '{self.id}': {method}()"

    def then(self, step: StepOrWorkflow) -> Self:
        """Run ``step`` on the previous output."""
        where = self._building("then")
        return self._add(StepEntry(self._node(step, where)))

    def parallel(self, steps: Sequence[StepOrWorkflow], *, allow_failure: bool = False) -> Self:
        """Run every step on the same input, concurrently; output ``{step_id: output}``."""
        where = self._building("parallel")
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
            raise WorkflowDefinitionError(f"{where}: expected a non-empty list of steps")
        checked = tuple(self._node(s, where) for s in steps)
        return self._add(ParallelEntry(checked, allow_failure=bool(allow_failure)))

    def branch(self, branches: Sequence[tuple[Callable[..., Any], StepOrWorkflow]]) -> Self:
        """Run every step whose condition is true, concurrently; output ``{step_id: output}``."""
        where = self._building("branch")
        if isinstance(branches, (str, bytes)) or not isinstance(branches, Sequence) or not branches:
            raise WorkflowDefinitionError(
                f"{where}: expected a non-empty list of (condition, step)"
            )
        pairs = []
        for pair in branches:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not callable(pair[0]):
                raise WorkflowDefinitionError(f"{where}: expected (condition, step), got {pair!r}")
            pairs.append((pair[0], self._node(pair[1], where)))
        return self._add(BranchEntry(tuple(pairs)))

    def _loop(self, step: StepOrWorkflow, condition: Callable[..., Any], loop_type: Any) -> Self:
        where = self._building(loop_type)
        if not callable(condition):
            raise WorkflowDefinitionError(f"{where}: the condition must be callable")
        return self._add(LoopEntry(self._node(step, where), condition, loop_type))

    def dowhile(self, step: StepOrWorkflow, condition: Callable[..., Any]) -> Self:
        """Run ``step``, then repeat while ``condition(ctx)`` is true."""
        return self._loop(step, condition, "dowhile")

    def dountil(self, step: StepOrWorkflow, condition: Callable[..., Any]) -> Self:
        """Run ``step``, then repeat until ``condition(ctx)`` is true."""
        return self._loop(step, condition, "dountil")

    def foreach(self, step: StepOrWorkflow, *, concurrency: int = 1) -> Self:
        """Run ``step`` over every item of the input list, at most ``concurrency`` at once."""
        where = self._building("foreach")
        if type(concurrency) is not int or concurrency < 1:
            raise WorkflowDefinitionError(
                f"{where} concurrency must be a positive int, got {concurrency!r}"
            )
        return self._add(ForeachEntry(self._node(step, where), concurrency))

    def map(
        self,
        mapping: Callable[..., Any] | Mapping[str, Mapping[str, Any]],
        *,
        id: str | None = None,
    ) -> Self:
        """A synthetic step whose output is ``fn(ctx)``, or a dict built from a mapping spec."""
        self._building("map")
        step_id = id if id is not None else f"mapping_{self.id}_{self._map_count}"
        if callable(mapping):
            body = function_body(mapping)
        elif isinstance(mapping, Mapping):
            body = mapping_body(mapping, self.id)
        else:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}': map() expects a function or a mapping dict, got {mapping!r}"
            )
        self._map_count += 1
        step = Step(id=step_id, execute=body)
        self._passed.append(step)
        return self._add(MapEntry(step))

    def sleep(self, duration: int | float | Callable[..., Any], *, id: str | None = None) -> Self:
        """Wait ``duration`` ms (or ``fn(ctx)`` ms), passing the input through."""
        where = self._building("sleep")
        if not callable(duration) and (
            isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0
        ):
            raise WorkflowDefinitionError(
                f"{where} expects ms >= 0 or a function, got {duration!r}"
            )
        return self._add(SleepEntry(id or self._next_sleep_id(), duration))

    def sleep_until(self, until: datetime | Callable[..., Any], *, id: str | None = None) -> Self:
        """Wait until ``until`` (a datetime, or ``fn(ctx)`` giving one), passing the input on."""
        where = self._building("sleep_until")
        if not callable(until) and not isinstance(until, datetime):
            raise WorkflowDefinitionError(
                f"{where} expects a datetime or a function, got {until!r}"
            )
        return self._add(SleepUntilEntry(id or self._next_sleep_id(), until))

    def _next_sleep_id(self) -> str:
        sleep_id = f"sleep_{self.id}_{self._sleep_count}"
        self._sleep_count += 1
        return sleep_id

    def commit(self) -> Self:
        """Freeze the graph and compile it. Checks emptiness and colliding step ids."""
        if self._graph is not None:
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
        graph = WorkflowGraph(
            id=self.id,
            entries=tuple(self._entries),
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            state_schema=self.state_schema,
            request_context_schema=self.request_context_schema,
            retry_config=self.retry_config,
            metadata=self.metadata,
            executor=self.executor,
        )
        self._program = compile_program(graph)
        self._graph = graph
        return self

    async def create_run(
        self, run_id: str | None = None, resource_id: str | None = None
    ) -> Run[In, Out]:
        """A run of this workflow: attach to ``run_id`` if it exists, else create it.

        Without ``run_id`` a new run gets a random UUID (version 4) as its id. With the id of a
        run of this workflow that is live in this process, returns that same ``Run``; with the
        id of one in its storage, a ``Run`` attached to it (its status read from storage);
        with an id that is neither, creates the run under that id (its ``pending`` snapshot
        is stored). To look a run up without ever creating one (a run id from a URL, say),
        use :meth:`get_run`.
        """
        self._check_committed("create_run")
        return await self._runs.create(self, run_id, resource_id)

    async def get_run(self, run_id: str) -> Run[In, Out] | None:
        """The run ``run_id`` of this workflow, or ``None`` if there is none; never creates one.

        A run live in this process comes back as the same ``Run`` object; a run in this
        workflow's storage (written by any process) as a ``Run`` attached to it, its status
        read from storage, ready to ``resume``, ``restart``, ``cancel`` or read. Runs of other
        workflows in the same storage are not found. A storage failure raises
        ``StorageError``.
        """
        self._check_committed("get_run")
        return await self._runs.get(self, run_id)

    def _check_committed(self, method: str) -> None:
        if self._graph is None:
            raise WorkflowDefinitionError(
                f"workflow '{self.id}' is not committed; call commit() before {method}()"
            )


Step.register(Workflow)  # a workflow is itself a step
