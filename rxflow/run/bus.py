"""A run's event bus: the hot channel the engine emits into, and its outputs, watchers and Rx
subscribers listen to; it keeps the outputs it feeds until their segment ends them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from ..events import EventRecord, UsageRecorded, build_event
from ..output import WorkflowRunOutput
from ..replay import IsolatedObserver
from ..results import WorkflowResult

__all__ = ["EventBus"]

_log = logging.getLogger("rxflow")

Sink = Callable[[Any], None]
RecordSink = Callable[[EventRecord], None]


@attrs.define(slots=True, eq=False)
class EventBus:
    """The run's hot stream of events: every listener gets each event as it is emitted, none
    gets earlier ones (outputs keep their own history for replay).

    Events are emitted on the loop thread only, so delivery takes no lock and copies nothing.
    Listeners attach as plain sinks; those that also take compact step records (outputs) get
    step starts and results as records, built into events only when read (see
    ``rxflow.events.build_event``). ``observable()`` is the same stream for Rx subscribers.
    """

    _sinks: tuple[Sink, ...] = ()
    _record_sinks: tuple[RecordSink | None, ...] = ()
    # Some listener takes event objects only: every record is built into its event.
    _objects_only: bool = False
    # The outputs fed that are still open, and the latest one made (``observe_stream``).
    outputs: tuple[WorkflowRunOutput, ...] = ()
    latest: WorkflowRunOutput | None = None

    def attach(self, sink: Sink, record_sink: RecordSink | None = None) -> Callable[[], None]:
        """Call ``sink`` with every event from now on; returns the function that detaches it.

        A listener that also gives ``record_sink`` is handed compact step records as they are.
        """
        self._sinks = (*self._sinks, sink)
        self._record_sinks = (*self._record_sinks, record_sink)
        self._objects_only = None in self._record_sinks

        def detach() -> None:
            for index, attached in enumerate(self._sinks):
                if attached is sink:
                    sinks, records = self._sinks, self._record_sinks
                    self._sinks = sinks[:index] + sinks[index + 1 :]
                    self._record_sinks = records[:index] + records[index + 1 :]
                    self._objects_only = None in self._record_sinks
                    return

        return detach

    def watch(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback`` with every event but usage records, from now on; a callback that
        raises is logged and the run goes on. Returns the function that stops it."""

        def on_next(event: Any) -> None:
            if event.__class__ is UsageRecorded:
                return
            try:
                callback(event)
            except Exception:  # a watcher's bug must not break the run
                _log.exception("run.watch callback raised; the run goes on")

        return self.attach(on_next)

    def feed(self, output: WorkflowRunOutput) -> None:
        """Feed ``output`` from now on, until its segment ends it (``end_outputs``)."""
        output.feed_from(self.attach)
        self.outputs = (*self.outputs, output)
        self.latest = output

    def drop(self, output: WorkflowRunOutput) -> None:
        """Forget an output that ended on its own (an error before its segment ran)."""
        self.outputs = tuple(kept for kept in self.outputs if kept is not output)

    def resume_outputs(self) -> None:
        """A segment starts: open outputs kept at a suspension are fed again."""
        for output in self.outputs:
            output.feed_resumed()

    def end_outputs(self, result: WorkflowResult) -> None:
        """A segment ended with ``result``: end its outputs, but keep those that stay open
        across a suspension (``close_on_suspend=False``) for the next segment to feed."""
        keep: list[WorkflowRunOutput] = []
        for output in self.outputs:
            if result.status == "suspended" and not output.close_on_suspend:
                output.feed_suspended()
                keep.append(output)
            else:
                output.feed_result(result)
        self.outputs = tuple(keep)

    def on_next(self, event: Any) -> None:
        """Emit ``event`` to every listener."""
        for sink in self._sinks:
            sink(event)

    def on_record(self, record: EventRecord) -> None:
        """Emit a step start or result given as a compact record: record sinks keep it as it
        is; if any listener wants objects, everyone gets the built event."""
        if self._objects_only:
            self.on_next(build_event(record))
            return
        for sink in self._record_sinks:
            sink(record)  # type: ignore[misc]  # no None among them (_objects_only)

    def observable(self) -> reactivex.Observable[Any]:
        """The events from the moment of subscribing, as a hot Observable (it never completes:
        dispose the subscription to stop)."""

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            # a subscriber that raises gets its own on_error; the run goes on
            return Disposable(self.attach(IsolatedObserver(observer).on_next))

        return reactivex.create(subscribe)
