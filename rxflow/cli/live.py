"""Showing a run while it goes: the live Rich view (a terminal), plain lines (anything else) or
JSON lines (``--json``), and following an output to its end with Ctrl-C cancelling the run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import IO, Any, Protocol

from rich.console import Console
from rich.live import Live

from ..output import WorkflowRunOutput
from ..results import WorkflowResult
from .render import format_ms, frame, preview
from .tree import RunTree, now_ms

__all__ = ["JsonView", "LiveView", "PlainView", "View", "follow", "follow_events"]


class View(Protocol):
    """Where a run's events go while it runs."""

    tree: RunTree

    def start(self) -> None: ...
    def event(self, chunk: Any) -> None: ...
    def retried(self, step_id: str, retry: int) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class LiveView:
    """The Rich live tree, redrawn at most ``refresh_per_second`` times a second (never once
    per event): events only update the tree, a timer on the loop draws it."""

    def __init__(
        self,
        tree: RunTree,
        console: Console,
        *,
        refresh_per_second: float = 8,
        transient: bool = False,
    ) -> None:
        self.tree = tree
        self.event = tree.apply  # the per-event path: one method call, no drawing
        self._console = console
        self._period = 1 / refresh_per_second
        redirect = console.file is sys.stdout or sys.stdout.isatty()
        self._live = Live(
            console=console,
            auto_refresh=False,
            transient=transient,
            redirect_stdout=redirect,
            redirect_stderr=redirect,
        )
        self._ticker: asyncio.Task[None] | None = None

    def retried(self, step_id: str, retry: int) -> None:
        self.tree.retry(step_id)  # drawn at the next tick

    def start(self) -> None:
        self._live.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        spin = 0
        while True:
            self._live.update(frame(self.tree, spin), refresh=True)
            spin += 1
            await asyncio.sleep(self._period)

    def note(self, text: str) -> None:
        self.tree.notes.append(text)
        self._live.update(frame(self.tree, None), refresh=True)

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._live.update(frame(self.tree, None), refresh=True)
        self._live.stop()


class PlainView:
    """One line per step change (no colour, no redraw); foreach progress at most once a second."""

    def __init__(self, tree: RunTree, file: IO[str]) -> None:
        self.tree = tree
        self._file = file
        self._last_progress: dict[str, float] = {}

    def _line(self, text: str) -> None:
        self._file.write(text + "\n")
        self._file.flush()

    def start(self) -> None:
        pass

    def retried(self, step_id: str, retry: int) -> None:
        self.tree.retry(step_id)  # told before the step's start is read: its result line says

    def event(self, chunk: Any) -> None:
        self.tree.apply(chunk)
        kind = chunk.type
        if kind == "workflow-step-progress":
            p = chunk.payload
            now = time.monotonic()
            if p.completed_count == p.total_count or now - self._last_progress.get(p.id, 0) >= 1:
                self._last_progress[p.id] = now
                node = self.tree.by_key[p.id]
                failed = f", {node.failures} failed" if node.failures else ""
                self._line(f"{p.id}: {p.completed_count}/{p.total_count} done{failed}")
        elif kind in _PLAIN:
            self._line(_PLAIN[kind](self.tree, chunk))

    def note(self, text: str) -> None:
        self._line(text)

    def stop(self) -> None:
        self._file.flush()


def _start_line(tree: RunTree, chunk: Any) -> str:
    node = tree.by_key[chunk.payload.id]
    extra = f" (iteration {node.iteration})" if node.iteration else ""
    if node.kind == "foreach" and node.total is not None:
        extra = f" ({node.total} items)"
    return f"{node.key}: running{extra}"


def _result_line(tree: RunTree, chunk: Any) -> str:
    node = tree.by_key[chunk.payload.id]
    retried = f", {node.retried} {'retry' if node.retried == 1 else 'retries'}"
    line = f"{node.key}: {node.status} ({format_ms(node.duration_ms(now_ms()))}"
    line += (retried if node.retried else "") + ")"
    if node.error is not None:
        error = node.error
        line += f" {error.get('name')}: {error.get('message')}" if isinstance(error, dict) else ""
    return line


_PLAIN: dict[str, Callable[[RunTree, Any], str]] = {
    "workflow-start": lambda t, c: f"run {c.run_id} of workflow {c.payload.workflow_id}: running",
    "workflow-step-start": _start_line,
    "workflow-step-waiting": lambda t, c: f"{c.payload.id}: waiting",
    "workflow-step-result": _result_line,
    "workflow-step-suspended": lambda t, c: (
        f"{c.payload.id}: suspended {preview(c.payload.suspend_payload)}"
    ),
    "workflow-step-output": lambda t, c: (
        f"{c.payload.step_name}> "
        + (c.payload.output if isinstance(c.payload.output, str) else preview(c.payload.output))
    ),
    "workflow-canceled": lambda t, c: "run canceled",
    "workflow-paused": lambda t, c: "run paused (step by step)",
}


class JsonView:
    """Each event as one line of ``json.dumps(chunk.to_dict())``, nothing else; flushed at
    least every 0.1 s, so a pipe into ``jq`` sees events as they come."""

    def __init__(self, tree: RunTree, file: IO[str]) -> None:
        self.tree = tree
        self._file = file
        self._flushed = time.monotonic()

    def start(self) -> None:
        pass

    def retried(self, step_id: str, retry: int) -> None:
        self.tree.retry(step_id)  # stdout carries the events only

    def event(self, chunk: Any) -> None:
        self.tree.apply(chunk)
        self._file.write(json.dumps(chunk.to_dict()) + "\n")
        now = time.monotonic()
        if now - self._flushed > 0.1:
            self._file.flush()
            self._flushed = now

    def note(self, text: str) -> None:
        sys.stderr.write(text + "\n")

    def stop(self) -> None:
        self._file.flush()


class Interrupts:
    """Ctrl-C while a run goes: the first cancels the run for real, the second leaves at once."""

    def __init__(self, view: View, cancel: Callable[[], Awaitable[Any]] | None) -> None:
        self._view = view
        self._cancel = cancel
        self._count = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGINT, self._interrupted)

    def _interrupted(self) -> None:
        self._count += 1
        if self._count == 1 and self._cancel is not None:
            self._view.note("Canceling the run... (Ctrl-C again to quit at once)")
            self._loop.create_task(self._cancel())  # type: ignore[arg-type]
            return
        try:
            self._view.stop()  # gives the terminal its cursor back
        finally:
            os._exit(130)

    def remove(self) -> None:
        self._loop.remove_signal_handler(signal.SIGINT)


async def follow(
    output: WorkflowRunOutput,
    view: View,
    cancel: Callable[[], Awaitable[Any]] | None = None,
    *,
    run: Any = None,
) -> WorkflowResult:
    """Show ``output`` in ``view`` to its end and return its result; with ``cancel``, Ctrl-C
    calls it (the run's ``cancel``) and a second Ctrl-C exits at once. With the ``run``, its
    retries are shown too (they have no event of their own)."""
    interrupts = Interrupts(view, cancel) if cancel is not None else None
    stop_retries = run.watch_retries(view.retried) if run is not None else None
    view.start()
    try:
        event = view.event
        async for chunk in output:
            event(chunk)
        result: WorkflowResult = await output.result
        return result
    finally:
        view.stop()
        if stop_retries is not None:
            stop_retries()
        if interrupts is not None:
            interrupts.remove()


async def follow_events(
    run: Any, view: View, go: Callable[[], Awaitable[WorkflowResult]]
) -> WorkflowResult:
    """Show the events ``run.watch`` sees while ``go()`` runs (a restart, which has no output)."""
    interrupts = Interrupts(view, run.cancel)
    view.start()
    stop_watching = run.watch(
        lambda chunk: view.event(chunk) if chunk.type != "workflow-step-finish" else None
    )
    stop_retries = run.watch_retries(view.retried)
    try:
        return await go()
    finally:
        stop_retries()
        stop_watching()
        view.stop()
        interrupts.remove()
