"""Steps: ``Step``, ``create_step`` and the ``@step`` decorator.

A step is data: an id, a body and its schemas, checked when it is made. Running it is the
engine's job.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Generic, overload

import attrs
from typing_extensions import TypeVar

from .errors import WorkflowDefinitionError
from .executors.protocol import Executor
from .jsonschema import JsonSchemas
from .schema import check_schema

if TYPE_CHECKING:
    import reactivex

    from .context import StepContext

__all__ = ["Step", "StepBody", "check_executor", "check_no_dot", "create_step", "step"]

StepBody = Callable[["StepContext"], Any] | Callable[["StepContext"], Awaitable[Any]]
_T = TypeVar("_T")
#: A step's input and output types (``Step[Order, Receipt]``); ``Any`` when not given.
In = TypeVar("In", default=Any)
Out = TypeVar("Out", default=Any)


def _check_id(step_id: object) -> str:
    if not isinstance(step_id, str) or not step_id:
        raise WorkflowDefinitionError(f"a step id must be a non-empty string, got {step_id!r}")
    check_no_dot(step_id, "step")
    return step_id


def check_no_dot(owner_id: str, kind: str) -> None:
    """Refuse an id with a ``.``: dots separate the ids of nested steps in a step path
    (``resume(step="outer.inner")``), so such an id could not be told apart from a path."""
    if "." in owner_id:
        raise WorkflowDefinitionError(
            f"{kind} id {owner_id!r} contains '.', which separates the ids of nested steps in "
            "a step path (like resume(step='outer.inner')); use another character, such as "
            "'-' or '_'"
        )


def _check_retries(retries: object) -> int | None:
    if retries is not None and (type(retries) is not int or retries < 0):
        raise WorkflowDefinitionError(f"retries must be None or an int >= 0, got {retries!r}")
    return retries


_SCHEMAS = (
    "input_schema",
    "output_schema",
    "resume_schema",
    "suspend_schema",
    "state_schema",
    "request_context_schema",
)


def _check_body(step_id: str, execute: object) -> None:
    """The engine calls ``execute(ctx)``: refuse a body that cannot be called that way."""
    if not callable(execute):
        raise WorkflowDefinitionError(
            f"step '{step_id}': execute must be callable, got {execute!r}"
        )
    try:
        signature = inspect.signature(execute)
    except (TypeError, ValueError):  # no signature to read (some builtins): trust it
        return
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(execute, "__name__", type(execute).__name__)
        bare = signature.replace(  # names only: annotations may be strings, noisy to read
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        raise WorkflowDefinitionError(
            f"step '{step_id}': execute must take one positional argument (the step "
            f"context), but {name}{bare} does not"
        ) from None


def _check_step(step: Step) -> None:
    """Check a step's body, schemas and metadata (``WorkflowDefinitionError`` naming the
    parameter)."""
    _check_body(step.id, step.execute)
    for name in _SCHEMAS:
        check_schema(getattr(step, name), f"step '{step.id}': {name}")
    if step.metadata is not None and not isinstance(step.metadata, Mapping):
        raise WorkflowDefinitionError(
            f"step '{step.id}': metadata must be a mapping or None, got {step.metadata!r}"
        )
    check_executor(step.executor, f"step '{step.id}'")


def check_executor(executor: object, owner: str) -> None:
    """Refuse an ``executor=`` that is not an ``Executor`` (``WorkflowDefinitionError``)."""
    if executor is not None and not isinstance(executor, Executor):
        raise WorkflowDefinitionError(
            f"{owner}: executor must be an Executor (such as DaskExecutor) or None, "
            f"got {executor!r}"
        )


@attrs.frozen(slots=True, eq=False)
class Step(JsonSchemas, abc.ABC, Generic[In, Out]):
    """A typed unit of work. Build it with :func:`create_step` or :func:`step`.

    A committed ``Workflow`` is a step too (``isinstance(workflow, Step)`` holds): it can be
    used wherever a step is. For type checkers a step is ``Step[In, Out]``: the type its body's
    context declares (``StepContext[In]``) and the type the body returns.

    ``is_async`` tells whether ``execute`` is an ``async def`` (run on the loop) or a plain
    function (run in a worker thread).
    """

    id: str = attrs.field(converter=_check_id)
    execute: StepBody
    input_schema: Any = None
    output_schema: Any = None
    description: str | None = None
    resume_schema: Any = None
    suspend_schema: Any = None
    state_schema: Any = None
    request_context_schema: Any = None
    retries: int | None = attrs.field(default=None, converter=_check_retries)
    metadata: Mapping[str, Any] | None = None
    executor: Executor | None = attrs.field(default=None, repr=False)
    is_async: bool = attrs.field(init=False)

    @is_async.default
    def _is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.execute)

    def __attrs_post_init__(self) -> None:
        _check_step(self)

    def as_operator(self) -> Callable[[reactivex.Observable[Any]], reactivex.Observable[Any]]:
        """This step as a reactivex operator over its inputs.

        Each input runs the body with a minimal context (fresh run id, no storage); outputs go
        to ``on_next``, exceptions to ``on_error``. ``suspend`` raises ``RxflowError``.
        """
        from .operators import step_operator

        return step_operator(self)


@overload
def create_step(
    *,
    id: str,
    execute: Callable[[StepContext[In]], Coroutine[Any, Any, Out]],
    input_schema: Any = None,
    output_schema: Any = None,
    description: str | None = None,
    resume_schema: Any = None,
    suspend_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retries: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
) -> Step[In, Out]: ...


@overload
def create_step(
    *,
    id: str,
    execute: Callable[[StepContext[In]], Out],
    input_schema: Any = None,
    output_schema: Any = None,
    description: str | None = None,
    resume_schema: Any = None,
    suspend_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retries: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
) -> Step[In, Out]: ...


def create_step(
    *,
    id: str,
    execute: StepBody,
    input_schema: Any = None,
    output_schema: Any = None,
    description: str | None = None,
    resume_schema: Any = None,
    suspend_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retries: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
) -> Step[Any, Any]:
    """Create a step from a body taking one ``StepContext`` (``async def`` or ``def``).

    ``executor`` says where the body runs (for example a ``DaskExecutor``); None: where its
    workflow's steps run. A body that cannot take one argument, a schema that is not a type,
    metadata that is not a mapping, or an executor that is not an ``Executor`` raise
    ``WorkflowDefinitionError`` here.
    """
    return Step(
        id=id,
        execute=execute,
        input_schema=input_schema,
        output_schema=output_schema,
        description=description,
        resume_schema=resume_schema,
        suspend_schema=suspend_schema,
        state_schema=state_schema,
        request_context_schema=request_context_schema,
        retries=retries,
        metadata=metadata,
        executor=executor,
    )


@overload
def step(func: Callable[[StepContext[In]], Coroutine[Any, Any, Out]], /) -> Step[In, Out]: ...


@overload
def step(func: Callable[[StepContext[In]], Out], /) -> Step[In, Out]: ...


@overload
def step(
    func: None = None,
    /,
    *,
    id: str | None = None,
    input_schema: Any = None,
    output_schema: Any = None,
    description: str | None = None,
    resume_schema: Any = None,
    suspend_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retries: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
) -> Callable[[StepBody], Step]: ...


def step(
    func: StepBody | None = None,
    /,
    *,
    id: str | None = None,
    input_schema: Any = None,
    output_schema: Any = None,
    description: str | None = None,
    resume_schema: Any = None,
    suspend_schema: Any = None,
    state_schema: Any = None,
    request_context_schema: Any = None,
    retries: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
) -> Step | Callable[[StepBody], Step]:
    """Decorator form of :func:`create_step`; ``id`` defaults to the function's name."""

    def decorate(body: StepBody) -> Step:
        return create_step(
            id=id if id is not None else body.__name__,
            execute=body,
            input_schema=input_schema,
            output_schema=output_schema,
            description=description if description is not None else inspect.getdoc(body),
            resume_schema=resume_schema,
            suspend_schema=suspend_schema,
            state_schema=state_schema,
            request_context_schema=request_context_schema,
            retries=retries,
            metadata=metadata,
            executor=executor,
        )

    return decorate(func) if func is not None else decorate
