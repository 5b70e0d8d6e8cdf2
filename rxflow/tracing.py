"""Tracing with opentelemetry-api: the run, block and step spans, and their options.

Spans are made current while their work runs, so parenthood follows the engine's structure on
its own: sibling tasks inherit their block's span, thread bodies inherit their step's span, a
nested workflow's run span sits under its step's span, and spans a step body makes nest under
that step. When the run span is not recording (no SDK configured), the run turns tracing off
and the rest costs one attribute check per step. The tracer is looked up at each run, never
cached at import, so an SDK configured later is picked up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from .status import RunStatus, StepStatus

if TYPE_CHECKING:
    from .context import RequestContext, TracingContext
    from .engine.state import ExecutionState

__all__ = [
    "TracingOptions",
    "block_span",
    "end_span",
    "run_span",
    "span_ids",
    "start_span",
]

TRACER_NAME = "rxflow"

_HEX = re.compile(r"[0-9a-fA-F]+")


def _hex_id(value: str | None, option: str, width: int) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= width
        or not _HEX.fullmatch(value)
        or int(value, 16) == 0
    ):
        raise ValueError(
            f"TracingOptions.{option} must be 1-{width} hex characters and not all zeros, "
            f"got {value!r}"
        )
    return value.lower().rjust(width, "0")


def _trace_id(value: str | None) -> str | None:
    return _hex_id(value, "trace_id", 32)


def _parent_span_id(value: str | None) -> str | None:
    return _hex_id(value, "parent_span_id", 16)


def _tags(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"TracingOptions.tags must be a list of strings, got {value!r}")
    return tuple(value)


def _keys(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(k, str) and k for k in value):
        raise ValueError(
            f"TracingOptions.request_context_keys must be a list of strings, got {value!r}"
        )
    return tuple(value)


def _metadata(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"TracingOptions.metadata must be a mapping, got {value!r}")
    return dict(value)


@attrs.frozen(slots=True)
class TracingOptions:
    """Per-run tracing options.

    ``trace_id`` (1–32 hex, left-padded to 32) and ``parent_span_id`` (1–16 hex, padded to 16)
    place the run span in that trace under that parent; an invalid one raises ``ValueError``
    naming the option. ``metadata`` and ``tags`` go on the run span; ``request_context_keys``
    (dot notation, ``"user.id"``) are read from the request context into span attributes.
    """

    metadata: dict[str, Any] | None = attrs.field(default=None, converter=_metadata)
    request_context_keys: tuple[str, ...] | None = attrs.field(default=None, converter=_keys)
    trace_id: str | None = attrs.field(default=None, converter=_trace_id)
    parent_span_id: str | None = attrs.field(default=None, converter=_parent_span_id)
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_tags)


def _attribute(value: Any) -> Any:
    """A span attribute value: str/bool/int/float or a list of one such type; else JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return list(value)
    return json.dumps(value, default=str, sort_keys=True)


def _set_attributes(span: Any, attributes: Mapping[str, Any]) -> None:
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, _attribute(value))


def _read_path(context: RequestContext, dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    value = context.get(head)
    for part in rest.split(".") if rest else ():
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _remote_parent(trace_id: str, span_id: str | None) -> Any:
    parent = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16) if span_id else int.from_bytes(os.urandom(8), "big") | 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def run_span(
    *,
    workflow_id: str,
    run_id: str,
    resource_id: str | None,
    tracing_context: TracingContext | None,
    options: TracingOptions | None,
    request_context: RequestContext,
    resumed_from: Mapping[str, Any] | None = None,
) -> Any | None:
    """Start a run's span (``workflow run: '<id>'``, or ``... (resumed)``); ``None`` when it
    would not record, which turns tracing off for the run.

    The parent is ``tracing_context.current_span`` if given; else ``options.trace_id`` (with
    ``parent_span_id``, or a generated remote parent); else, on a resume, the stored trace of
    the suspended segment (linked to its span); else the current OpenTelemetry context.
    """
    if type(trace.get_tracer_provider()) is trace.ProxyTracerProvider:
        return None  # no SDK configured: every span would be a no-op, so make none
    tracer = trace.get_tracer(TRACER_NAME)
    links = []
    if tracing_context is not None and tracing_context.current_span is not None:
        parent = trace.set_span_in_context(tracing_context.current_span)
    elif options is not None and options.trace_id is not None:
        parent = _remote_parent(options.trace_id, options.parent_span_id)
    elif resumed_from and resumed_from.get("traceId"):
        parent = _remote_parent(str(resumed_from["traceId"]), None)
    else:
        parent = None
    if resumed_from and resumed_from.get("traceId") and resumed_from.get("spanId"):
        links.append(
            Link(
                SpanContext(
                    trace_id=int(str(resumed_from["traceId"]), 16),
                    span_id=int(str(resumed_from["spanId"]), 16),
                    is_remote=True,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                )
            )
        )
    name = f"workflow run: '{workflow_id}'" + (" (resumed)" if resumed_from is not None else "")
    span = tracer.start_span(name, context=parent, links=links)
    if not span.is_recording():
        return None
    attributes: dict[str, Any] = {
        "rxflow.workflow.id": workflow_id,
        "rxflow.run.id": run_id,
        "rxflow.resource.id": resource_id,
    }
    if options is not None:
        for key, value in (options.metadata or {}).items():
            attributes[f"rxflow.metadata.{key}"] = value
        for key in options.request_context_keys or ():
            attributes[f"rxflow.request_context.{key}"] = _read_path(request_context, key)
        if options.tags:
            attributes["rxflow.tags"] = list(options.tags)
    if resumed_from is not None:
        attributes["rxflow.run.resumed"] = True
    _set_attributes(span, attributes)
    return span


def start_span(name: str, attributes: Mapping[str, Any]) -> tuple[Any, object]:
    """Start a span under the current one and make it current; ``(span, token)``."""
    span = trace.get_tracer(TRACER_NAME).start_span(name)
    _set_attributes(span, attributes)
    token = otel_context.attach(trace.set_span_in_context(span))
    return span, token


def end_span(
    span: Any,
    token: object | None,
    status: StepStatus | RunStatus,
    error: BaseException | Mapping[str, Any] | None = None,
    *,
    key: str = "rxflow.step.status",
) -> None:
    """End a span: ``failed``/``tripwire`` set ERROR (with the exception recorded);
    ``suspended``/``canceled`` leave the status unset, the attribute ``key`` says which."""
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]
    span.set_attribute(key, status)
    if status in ("failed", "tripwire"):
        if isinstance(error, BaseException):
            span.record_exception(error)
            description = f"{type(error).__name__}: {error}"
        else:
            description = str(error.get("message", "")) if isinstance(error, Mapping) else status
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()


@contextmanager
def block_span(ex: ExecutionState, name: str, attributes: Mapping[str, Any]) -> Iterator[None]:
    """A block's span (parallel, conditional, loop, sleep) around its work, when the run is
    traced; it ends with the block's outcome."""
    if not ex.scope.tracing:
        yield
        return
    span, token = start_span(name, {"rxflow.workflow.id": ex.workflow.id, **attributes})
    try:
        yield
    except BaseException as error:
        end_span(span, token, "failed", error, key="rxflow.block.status")
        raise
    status = "success" if ex.status == "running" else ex.status
    end_span(span, token, status, ex.error, key="rxflow.block.status")


def span_ids(span: Any) -> tuple[str | None, str | None]:
    """``(trace_id, span_id)`` of a recording span as hex, else ``(None, None)``."""
    if span is None or not span.is_recording():
        return None, None
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
