"""One stretch of a run's execution (its start, a resume or a restart): launch it, drive the
program, store its end and build its ``WorkflowResult``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol, cast

import attrs
from opentelemetry import context as otel_context
from opentelemetry import trace

from ..context import TracingContext
from ..durability import CheckpointParts, claim, keep_lease, uses_leases
from ..engine.operator import coroutine_observable
from ..engine.outcome import build_result
from ..engine.persist import Durability, Persister
from ..engine.state import ExecutionState, ResumeTarget, now_ms
from ..engine.threads import close_threads
from ..errors import LeaseLostError, RunAlreadyStartedError, StorageError
from ..results import StepResult, WorkflowResult
from ..snapshot import WireCache, build_control, build_snapshot, input_wire, results_wire
from ..status import ResultStatus, RunStatus
from ..storage.protocol import Storage
from ..storage.records import Lease
from ..tracing import TracingOptions, end_span, run_span, span_ids

__all__ = ["Segment", "SegmentOwner", "launch", "stored_result"]

_log = logging.getLogger("rxflow")


class SegmentOwner(Protocol):
    """What a segment tells its run: that it ended (its ``result`` is set)."""

    def segment_ended(self, segment: Segment) -> None: ...

    def start_lost(self, segment: Segment, error: RunAlreadyStartedError) -> None:
        """Another start claimed the run first: nothing ran, nothing was stored."""


@attrs.define(slots=True, eq=False)
class Segment:
    """One stretch of execution: what its driver needs, and what the run needs at its end.

    It carries everything as attributes rather than closures: with many runs in flight, each
    closure cell and function object is one more object for the cycle collector to walk.
    """

    owner: SegmentOwner | None  # dropped at the end (the run holds its segment)
    ex: ExecutionState
    storage: Storage
    # Where a resume or restart continues (entry index, target), or None for a start.
    resume: tuple[int, ResumeTarget | None] | None
    tracing_context: TracingContext | None
    tracing_options: TracingOptions | None
    resumed_from: Mapping[str, Any] | None  # the stored span a resume links to
    running_status: RunStatus  # what its snapshots say while it runs
    mode: Durability  # its checkpoint mode
    per_step: bool = False  # step by step: one top-level entry, then the run pauses
    persister: Persister = attrs.field(init=False)
    # Under a lease, progress is stored as checkpoints: each step result written once.
    checkpoints: CheckpointParts | None = attrs.field(init=False, default=None)
    keeper: asyncio.Task[None] | None = attrs.field(init=False, default=None)  # renews it
    lost: RunAlreadyStartedError | None = attrs.field(init=False, default=None)
    result: WorkflowResult | None = attrs.field(init=False, default=None)
    ended: bool = attrs.field(init=False, default=False)
    span: Any = attrs.field(init=False, default=None)  # the run span, while it records
    # The driver task while the program runs (a cancel stops it; not while storing the end).
    driver: asyncio.Task[Any] | None = attrs.field(init=False, default=None)
    _waiter: asyncio.Future[WorkflowResult] | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        scope = self.ex.scope
        self.persister = scope.persister = Persister.open(
            self.storage,
            workflow_id=scope.workflow_id,
            run_id=scope.run_id,
            resource_id=scope.resource_id,
            build=self.snapshot,
            live_build=self.live_snapshot,
            mode=self.mode,
            build_parts=self.parts,
        )
        self.persister.gate(scope)

    @property
    def cache(self) -> WireCache:
        """Wire forms of this segment's step results (the persister's: steps of a durable run
        are converted as they end, and snapshots reuse that)."""
        return self.persister.cache

    def snapshot(self) -> dict[str, Any]:
        """The snapshot of the execution as it is now (the persister's mark-driven writes)."""
        return build_snapshot(
            self.ex, self.running_status, self.cache, now_ms(), tracing_context=self.trace_link()
        )

    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The execution as it is now, as a checkpoint: its control state and the results
        changed since the last checkpoint (built from what changed, not from every result)."""
        if self.checkpoints is None:
            self.checkpoints = CheckpointParts()
        ex = self.ex
        control = build_control(
            ex, self.running_status, now_ms(), tracing_context=self.trace_link()
        )
        persister = self.persister
        changed = persister.take_changed()
        wires = results_wire(ex, changed, self.cache) if changed else {}
        records = persister.take_records()
        if records:
            wires.update(records)
        return self.checkpoints.progress(control, wires, lambda: input_wire(ex))

    def checkpoint_parts(self, snapshot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.checkpoints is None:
            self.checkpoints = CheckpointParts()
        return self.checkpoints.split(snapshot)

    def hold_lease(self, lease: Lease, *, resumed: bool) -> None:
        """Own the run under ``lease`` from now on: keep it alive, answer cancel requests.
        A resumed execution's restored results are stored already: they are not rewritten."""
        persister = self.persister
        persister.lease = lease
        persister.on_cancel = self.ex.scope.request_abort
        if resumed:
            cache = self.cache
            stored: dict[str, Any] = {"input": True}
            for key, result in self.ex.step_results.items():
                stored[key] = cache.wire(key, result)
            self.checkpoints = CheckpointParts()
            self.checkpoints.already_stored(stored)
        self.keeper = asyncio.get_running_loop().create_task(
            keep_lease(persister, self.storage.lease_ttl)
        )

    def stop_keeper(self) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
            self.keeper = None

    def live_snapshot(self) -> dict[str, Any]:
        """The same for a store with a live lane, which takes step results as objects."""
        return build_snapshot(
            self.ex, "running", self.cache, now_ms(), tracing_context=self.trace_link(), live=True
        )

    def trace_link(self) -> dict[str, str] | None:
        """``{traceId, spanId}`` of the run span, kept in snapshots to link a resume to it."""
        trace_id, span_id = span_ids(self.span)
        return {"traceId": trace_id, "spanId": span_id} if trace_id and span_id else None

    def stop(self) -> None:
        """Cancel the driver while the program runs (the run's abort fired already)."""
        driver = self.driver
        if driver is not None and not driver.done():
            driver.cancel()

    async def settled(self) -> None:
        """Wait until an execution that has ended (a suspension) has stored how it ended, so a
        resume right after the suspension event does not find the run still being stored."""
        if not self.ended and self.ex.status != "running":
            await asyncio.shield(self.outcome())

    def outcome(self) -> asyncio.Future[WorkflowResult]:
        """A future of the segment's final result (resolved once the segment has ended)."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
            if self.ended:
                assert self.result is not None
                self._waiter.set_result(self.result)
        return self._waiter

    def done(self, result: WorkflowResult) -> None:
        """The driver returned the segment's result."""
        self.result = result
        self._end()

    def failed(self, error: Exception | BaseException) -> None:
        """The driver itself ended abnormally: canceled under an abort, else a failure."""
        self.driver = None
        if self.lost is not None:  # another start won: nothing ran, nothing is stored
            self.persister.close()
            owner, self.owner = self.owner, None
            if owner is not None:
                owner.start_lost(self, self.lost)
            return
        ex = self.ex
        if isinstance(error, asyncio.CancelledError) and ex.scope.aborted:
            ex.status = "canceled"
        else:
            ex.fail(error)
        asyncio.get_running_loop().create_task(self._store_then_end())

    async def _store_then_end(self) -> None:
        self.result = await store_end(self)
        self._end()

    def _end(self) -> None:
        # Nothing can abort or persist this segment any more: drop the links back to the run
        # and the snapshot builder, so a finished run is freed by reference counting instead
        # of waiting for the cycle collector (which matters with many runs alive at once).
        scope = self.ex.scope
        self.ex.release_frames()
        scope.on_abort_request = _ignore
        scope.on_retry = scope.persister = None
        close_threads(scope)
        self.persister.close()
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.segment_ended(self)
        self.ended = True
        if self._waiter is not None and not self._waiter.done():
            assert self.result is not None
            self._waiter.set_result(self.result)


def launch(
    owner: SegmentOwner,
    ex: ExecutionState,
    storage: Storage,
    *,
    resume: tuple[int, ResumeTarget | None] | None = None,
    tracing_context: TracingContext | None = None,
    tracing_options: TracingOptions | None = None,
    resumed_from: Mapping[str, Any] | None = None,
    running_status: RunStatus = "running",
    mode: Durability = "sync",
    lease: Lease | None = None,
    per_step: bool = False,
) -> Segment:
    """Subscribe the execution's program to ``ex`` on the running loop: the segment is one
    subscription to its driver coroutine, which ends by storing the segment's end. ``lease``
    is the claim of a resume or restart (a start claims the run in its driver)."""
    segment = Segment(
        owner,
        ex,
        storage,
        resume,
        tracing_context,
        tracing_options,
        resumed_from,
        running_status,
        mode,
        per_step,
    )
    if lease is not None:
        segment.hold_lease(lease, resumed=True)
    coroutine_observable(drive, segment).subscribe(on_next=segment.done, on_error=segment.failed)
    return segment


async def drive(segment: Segment) -> WorkflowResult:
    """The segment's driver: runs the program, then stores the final snapshot."""
    segment.driver = asyncio.current_task()
    ex = segment.ex
    scope = ex.scope
    if segment.resume is None:
        if not await claim_start(segment):
            raise segment.lost or RunAlreadyStartedError(scope.run_id)
        await segment.persister.store_started()
    span = run_span(
        workflow_id=scope.workflow_id,
        run_id=scope.run_id,
        resource_id=scope.resource_id,
        tracing_context=segment.tracing_context,
        options=segment.tracing_options,
        request_context=scope.request_context,
        resumed_from=segment.resumed_from,
    )
    token = None
    if span is not None:  # an SDK records: trace this run (else no span is made)
        segment.span = span
        scope.tracing = True
        token = otel_context.attach(trace.set_span_in_context(span))
    try:
        resume = segment.resume
        if resume is None:
            await ex.program.drive(ex, 0, segment.per_step)
        else:
            await ex.program.resume_drive(ex, resume[0], resume[1], segment.per_step)
        segment.driver = None
        result = await store_end(segment)
    except BaseException as error:
        if span is not None:
            end_span(span, token, "failed", error, key="rxflow.run.status")
        raise
    if span is not None:
        end_span(span, token, result.status, result.error, key="rxflow.run.status")
    return result


async def claim_start(segment: Segment) -> bool:
    """Claim the stored run for this start (``pending`` to ``running``): with a lease on a
    store that has leases, else by compare-and-set (a store of this process: no I/O, no wait).
    A durable store without leases gets its ``running`` snapshot from the first mark."""
    storage = segment.storage
    scope = segment.ex.scope
    won = True
    if uses_leases(storage):
        lease = await claim(storage, scope.workflow_id, scope.run_id, "running", "pending")
        if lease is not None:
            segment.hold_lease(lease, resumed=False)
        won = lease is not None
    elif not segment.persister.durable:
        won = await storage.update_status(
            scope.workflow_id, scope.run_id, "running", expected="pending"
        )
    if not won:
        segment.lost = RunAlreadyStartedError(
            f"run '{scope.run_id}' was already started by another caller (another Run object "
            "or another process claimed it first); nothing ran for this start"
        )
    return won


async def store_end(segment: Segment) -> WorkflowResult:
    """Build the result and store the final snapshot of the segment before it resolves."""
    segment.stop_keeper()  # the final write renews nothing: it gives the lease up
    ex = segment.ex
    scope = ex.scope
    if scope.aborted and ex.status == "suspended":
        ex.status = "canceled"  # canceled while its suspension was settling
    result = build_result(ex)
    trace_id, span_id = span_ids(segment.span)
    if trace_id is not None:
        result = attrs.evolve(result, trace_id=trace_id, span_id=span_id)
    try:  # a snapshot holding a value JSON cannot carry is a StorageError already here
        snapshot = build_snapshot(
            ex,
            result.status,
            segment.cache,
            now_ms(),
            result=result.result,
            error=result.error if isinstance(result.error, BaseException) else None,
            tracing_context=segment.trace_link(),
            live=segment.persister.live,
        )
        if segment.persister.lease is not None:
            await segment.persister.write(None, segment.checkpoint_parts(snapshot))
        else:
            await segment.persister.write(snapshot)
    except StorageError as error:
        _log.error(
            "run '%s' failed: its final snapshot could not be stored: %s", scope.run_id, error
        )
        if result.status != "failed":
            result = attrs.evolve(
                result,
                status="failed",
                error=error,
                result=None,
                suspended=None,
                suspend_payload=None,
                tripwire=None,
            )
        if not isinstance(error, LeaseLostError):  # the new owner's run is not ours to end
            await _store_failed(segment)
    return result


async def _store_failed(segment: Segment) -> None:
    """Best effort, so the stored run does not stay ``running`` after a failed write."""
    scope = segment.ex.scope
    lease = segment.persister.lease
    try:
        await segment.storage.update_status(scope.workflow_id, scope.run_id, "failed")
        if lease is not None:
            await segment.storage.release_lease(lease)
    except Exception as again:
        _log.error("run '%s': could not store status 'failed' either: %s", scope.run_id, again)


def stored_result(
    snapshot: Mapping[str, Any], run_id: str, *, status: ResultStatus | None = None
) -> WorkflowResult:
    """A ``WorkflowResult`` read back from a stored snapshot (plain data values)."""
    context = dict(snapshot.get("context") or {})
    steps = {key: StepResult.from_dict(wire) for key, wire in context.items() if key != "input"}
    # Called for a finished stored run only: its status is one a result can have.
    final: ResultStatus = status or cast("ResultStatus", snapshot.get("status"))
    return WorkflowResult(
        status=final,
        run_id=run_id,
        input=context.get("input"),
        steps=steps,
        step_execution_path=list(snapshot.get("stepExecutionPath") or []),
        state=dict(snapshot.get("value") or {}),
        result=snapshot.get("result") if final == "success" else None,
        error=snapshot.get("error") if final == "failed" else None,
    )


def _ignore() -> None:
    """The abort hook of a scope whose segment has ended."""
