"""What a caller asks of a run, checked at the call: ``RunOptions`` and the run's own keys.

A wrong type raises ``TypeError`` (a bad ``history_limit``, ``ValueError``) naming the
parameter, before the run changes in any way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import attrs

from ..context import RequestContext, TracingContext
from ..durability import check_durability
from ..engine.persist import Durability
from ..output import check_history_limit
from ..resume import StepSelector, path_of
from ..tracing import TracingOptions

__all__ = ["RunOptions", "as_request_context", "check_run_keys"]


def as_request_context(value: RequestContext | Mapping[str, Any] | None) -> RequestContext:
    """The ``request_context`` a caller gave, as a ``RequestContext`` (a mapping is copied)."""
    if value is None:
        return RequestContext()
    if isinstance(value, RequestContext):
        return value
    if isinstance(value, Mapping):
        return RequestContext(value)
    raise TypeError(f"request_context must be a RequestContext or a mapping, got {value!r}")


@attrs.define(slots=True, eq=False, on_setattr=attrs.setters.NO_OP)
class RunOptions:
    """The options of ``start``, ``stream``, ``resume``, ``resume_stream`` and ``restart``.

    Each verb passes the ones it has; the rest keep their defaults. Building the record checks
    them all, so every verb rejects a wrong argument the same way, at the call.
    """

    request_context: RequestContext = attrs.field(default=None, converter=as_request_context)
    tracing_context: TracingContext | None = None
    tracing_options: TracingOptions | None = None
    initial_state: Mapping[str, Any] | None = None
    close_on_suspend: bool = True
    history_limit: int | None = None
    # Which suspension a resume continues.
    step: StepSelector = None
    for_each_index: int | None = None
    label: str | None = None
    allow_changed_graph: bool = False
    # The checkpoint mode of this segment (None: the workflow's).
    durability: Durability | None = None
    # Step by step: run one top-level entry, then pause the run.
    per_step: bool = False

    def __attrs_post_init__(self) -> None:
        # One method of plain checks: a run is started per call, and most options are None.
        if self.tracing_context is not None and not isinstance(
            self.tracing_context, TracingContext
        ):
            _wrong("tracing_context", "a TracingContext", self.tracing_context)
        if self.tracing_options is not None and not isinstance(
            self.tracing_options, TracingOptions
        ):
            _wrong("tracing_options", "a TracingOptions", self.tracing_options)
        if self.initial_state is not None and not isinstance(self.initial_state, Mapping):
            _wrong("initial_state", "a mapping", self.initial_state)
        if self.close_on_suspend is not True and self.close_on_suspend is not False:
            _wrong("close_on_suspend", "a bool", self.close_on_suspend)
        if self.history_limit is not None:
            check_history_limit(self.history_limit)
        if self.step is not None:
            path_of(self.step)  # raises TypeError for what cannot name a step
        index = self.for_each_index
        if index is not None and (type(index) is not int or index < 0):
            _wrong("for_each_index", "an int >= 0", index)
        if self.label is not None and not isinstance(self.label, str):
            _wrong("label", "a string", self.label)
        if self.allow_changed_graph is not False and self.allow_changed_graph is not True:
            _wrong("allow_changed_graph", "a bool", self.allow_changed_graph)
        if self.durability is not None:
            check_durability(self.durability)
        if self.per_step is not False and self.per_step is not True:
            _wrong("per_step", "a bool", self.per_step)


def _wrong(name: str, what: str, value: Any) -> NoReturn:
    raise TypeError(f"{name} must be {what}, got {value!r}")


def check_run_keys(run_id: Any, resource_id: Any) -> None:
    """Reject a ``run_id`` or ``resource_id`` of ``create_run`` that is not a string."""
    if run_id is not None and not isinstance(run_id, str):
        raise TypeError(f"run_id must be a string, got {run_id!r}")
    if resource_id is not None and not isinstance(resource_id, str):
        raise TypeError(f"resource_id must be a string, got {resource_id!r}")
