"""Following a run executing in another process, polling the store twice a second: from its
event log where the store keeps one for the run (the server's runs), else from its snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Any

from ..events import from_dict
from ..storage import EventLog, RunRecord, Storage, event_log
from .exits import ExitCode, UsageProblem
from .live import LiveView, PlainView
from .render import format_ms
from .report import Outputs, ResumeHint, report_end, stored_end
from .tree import RunTree

__all__ = ["stored_tree_of", "watch_run"]

_FINAL = frozenset({"success", "failed", "canceled", "tripwire"})
_ENDS = _FINAL | {"suspended"}


def stored_tree_of(record: RunRecord, *, with_results: bool = True) -> RunTree:
    """The tree of a stored run, from the graph its snapshot keeps (and its step results)."""
    snapshot = record.snapshot
    if snapshot is None:
        raise UsageProblem(f"run {record.run_id} cannot be read from the store: {record.error}")
    tree = RunTree(snapshot.get("serializedStepGraph"), record.workflow_id)
    tree.run_id = record.run_id
    tree.started_at = record.created_at
    if with_results:
        _update(tree, record)
    return tree


async def _logged(store: Storage, workflow_id: str, run_id: str) -> EventLog | None:
    """The store's event log when it holds records of this run."""
    log = event_log(store)
    if log is None or not await log.read_events(workflow_id, run_id, limit=1):
        return None
    return log


class _Replay:
    """Reads the run's event log from where it left off into a view."""

    def __init__(self, log: EventLog, workflow_id: str, run_id: str, view: Any) -> None:
        self._log, self._keys, self._view = log, (workflow_id, run_id), view
        self._seq = -1

    async def read(self) -> None:
        while True:
            page = await self._log.read_events(*self._keys, after_seq=self._seq, limit=1000)
            for logged in page:
                self._view.event(from_dict(logged.event))
                self._seq = logged.seq
            if len(page) < 1000:
                return


def _update(tree: RunTree, record: RunRecord) -> None:
    if record.snapshot is not None:
        tree.apply_snapshot(record.snapshot)
    tree.status = record.status
    tree.ended_at = record.updated_at if record.status in _ENDS else None


class _LineWatcher:
    """Off a terminal: a line when a step's status changes, foreach counts at most once a
    second."""

    def __init__(self, tree: RunTree, outputs: Outputs) -> None:
        self.tree = tree
        self._file = outputs.err.file
        self._seen: dict[str, tuple[str, int]] = {}
        self._progress_at = 0.0

    def start(self) -> None:
        self._file.write(f"watching run {self.tree.run_id} of workflow {self.tree.workflow_id}\n")
        self.changed()

    def changed(self) -> None:
        now = time.monotonic()
        show_progress = now - self._progress_at >= 1
        for node in self.tree.by_key.values():
            before = self._seen.get(node.key)
            if (
                before is not None
                and before[0] == node.status
                and not (show_progress and node.total is not None and before[1] != node.completed)
            ):
                continue
            if before is None and node.status == "pending":
                self._seen[node.key] = (node.status, node.completed)
                continue
            self._seen[node.key] = (node.status, node.completed)
            counts = f" {node.completed}/{node.total} done" if node.total is not None else ""
            took = node.duration_ms(int(time.time() * 1000)) if node.status != "running" else None
            took_text = f" ({format_ms(took)})" if took is not None else ""
            self._file.write(f"{node.key}: {node.status}{counts}{took_text}\n")
        if show_progress:
            self._progress_at = now
        self._file.flush()

    def stop(self) -> None:
        self._file.flush()


async def watch_run(
    store: Storage,
    workflow_id: str,
    run_id: str,
    outputs: Outputs,
    plain: bool,
    hint: ResumeHint,
    interval: float = 0.5,
    *,
    through_suspensions: bool = False,
) -> int:
    """Follow the stored run until it ends or suspends (with ``through_suspensions``, until it
    ends); its exit code (130 on Ctrl-C)."""
    ends = _FINAL if through_suspensions else _ENDS
    record = await store.get_run(workflow_id, run_id)
    if record is None:
        raise UsageProblem(f"run {run_id} of workflow {workflow_id!r} is not stored")
    log = await _logged(store, workflow_id, run_id)
    tree = stored_tree_of(record, with_results=log is None)
    live = outputs.err.is_terminal and not plain
    view: Any = LiveView(tree, outputs.err) if live else None
    if view is None:
        view = PlainView(tree, outputs.err.file) if log else _LineWatcher(tree, outputs)
    replay = _Replay(log, workflow_id, run_id, view) if log else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    view.start()
    try:
        while True:
            if replay is not None:
                await replay.read()
            if record.status in ends or stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            fresh = await store.get_run(workflow_id, run_id)
            if fresh is None:
                raise UsageProblem(f"run {run_id} was deleted while being watched")
            record = fresh
            if replay is None:
                _update(tree, record)
                if not live:
                    view.changed()
        tree.status = record.status
        tree.ended_at = record.updated_at if record.status in _ENDS else None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        view.stop()
    if stop.is_set():
        outputs.err.print(f"stopped watching run {run_id} (it is {record.status})")
        return ExitCode.INTERRUPTED
    assert record.snapshot is not None
    return report_end(stored_end(record.snapshot), tree, outputs, hint, live=live)
