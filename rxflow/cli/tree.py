"""A run as a tree of entries, built from the workflow's serialized graph and kept up to date from
its events (a live run) or its stored snapshots; plain data, drawn by ``render`` and ``live``."""

from __future__ import annotations

import collections
import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["FINAL", "Node", "RunTree", "now_ms"]

FINAL = frozenset({"success", "failed", "canceled", "tripwire", "bailed", "skipped", "suspended"})
_BLOCKS = frozenset({"parallel", "conditional"})
_WRITER_LINES = 3  # writer outputs kept per running step


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.define(slots=True, eq=False)
class Node:
    """One entry of the run: a step, a block (parallel, branch), a loop, a foreach, a map, a
    sleep or a nested workflow (whose steps are its children)."""

    key: str  # the id its events carry ("outer.inner" inside a nested workflow)
    name: str
    kind: str
    detail: str = ""
    children: list[Node] = attrs.field(factory=list)
    status: str = "pending"
    started_at: int | None = None
    ended_at: int | None = None
    retries: int = 0  # the retry budget, when the workflow is known
    # Retries so far, of every invocation (a loop's iterations, a foreach's items). They are
    # told as they happen, which can be before the step's start event is read.
    retried: int = 0
    iteration: int = 0
    completed: int = 0
    total: int | None = None
    failures: int = 0
    writes: collections.deque[Any] = attrs.field(
        factory=lambda: collections.deque(maxlen=_WRITER_LINES)
    )
    payload: Any = None
    output: Any = None
    error: Any = None
    suspend_payload: Any = None

    def duration_ms(self, now: int) -> int | None:
        if self.started_at is None:
            return None
        return (self.ended_at if self.ended_at is not None else now) - self.started_at


class RunTree:
    """The entries of one run and where each stands."""

    def __init__(self, graph: list[dict[str, Any]] | None, workflow_id: str = "") -> None:
        self.workflow_id = workflow_id
        self.run_id = ""
        self.status = "pending"
        self.started_at: int | None = None
        self.ended_at: int | None = None
        self.error: Any = None
        self.tripwire: Any = None
        self.notes: list[str] = []
        self.roots: list[Node] = []
        self.by_key: dict[str, Node] = {}
        self._by_name: dict[str, list[Node]] = {}
        self._reached = -1  # the last top-level entry that started
        if graph:
            self.roots = [self._entry(entry, "", index) for index, entry in enumerate(graph)]

    # -- building ---------------------------------------------------------------------------

    def _entry(self, entry: Mapping[str, Any], prefix: str, index: int) -> Node:
        kind = entry.get("type", "step")
        if kind in _BLOCKS:
            block = Node(f"{prefix}#{index}", "parallel" if kind == "parallel" else "branch", kind)
            block.children = [self._step(s.get("step", {}), prefix, "step") for s in entry["steps"]]
            return block
        if kind in ("sleep", "sleepUntil"):
            when = entry.get("duration") if kind == "sleep" else entry.get("date")
            detail = "" if when is None else (f"{when} ms" if kind == "sleep" else f"until {when}")
            return self._add(Node(prefix + entry["id"], entry["id"], kind, detail))
        node = self._step(entry.get("step", {}), prefix, kind)
        if kind == "loop":
            node.detail = entry.get("loopType", "loop")
        elif kind == "foreach":
            node.detail = f"concurrency {entry.get('opts', {}).get('concurrency', 1)}"
        return node

    def _step(self, info: Mapping[str, Any], prefix: str, kind: str) -> Node:
        step_id = str(info.get("id", "?"))
        node = self._add(Node(prefix + step_id, step_id, kind))
        if info.get("component") == "WORKFLOW":
            node.detail = "workflow"
            inner = info.get("serializedStepFlow") or []
            node.children = [self._entry(e, f"{prefix}{step_id}.", i) for i, e in enumerate(inner)]
        return node

    def _add(self, node: Node) -> Node:
        self.by_key[node.key] = node
        self._by_name.setdefault(node.name, []).append(node)
        return node

    def _node(self, key: str) -> Node:
        """The node of an event's id; an id the graph did not have gets a node of its own."""
        node = self.by_key.get(key)
        if node is None:
            parent_key, _, name = key.rpartition(".")
            node = self._add(Node(key, name, "step"))
            parent = self.by_key.get(parent_key) if parent_key else None
            (parent.children if parent is not None else self.roots).append(node)
        return node

    def set_retries(self, retries: Mapping[str, int]) -> None:
        """The retry budget of each step, by key (from the workflow object, when known)."""
        for key, count in retries.items():
            node = self.by_key.get(key)
            if node is not None:
                node.retries = count

    def retry(self, step_id: str) -> Node:
        """A failed attempt of step ``step_id`` is tried again (``run.watch_retries``)."""
        node = self._node(step_id)
        node.retried += 1
        return node

    # -- live events ------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        """Take one stream event (an event object from ``rxflow.events``) into the tree."""
        kind = event.type
        if kind == "workflow-step-progress":  # by far the most frequent
            p = event.payload
            node = self._node(p.id)
            node.completed = p.completed_count
            node.total = p.total_count
            if p.iteration_status == "failed":
                node.failures += 1
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(self, event)

    def _start(self, event: Any) -> None:
        p = event.payload
        node = self._node(p.id)
        node.status, node.started_at, node.ended_at = "running", p.started_at, None
        node.payload = p.payload
        node.writes.clear()
        iteration = getattr(p.metadata, "iteration_count", None)
        if iteration is not None:
            node.iteration = iteration
        if p.step_call_id is None and isinstance(p.payload, list):  # a whole foreach
            node.total, node.completed, node.failures = len(p.payload), 0, 0
            node.kind = "foreach"  # known already from a graph; news to a tree without one
        self._reach(node)

    def _waiting(self, event: Any) -> None:
        p = event.payload
        node = self._node(p.id)
        node.status, node.started_at = "waiting", p.started_at
        self._reach(node)

    def _result(self, event: Any) -> None:
        p = event.payload
        node = self._node(p.id)
        node.status = "tripwire" if getattr(p, "tripwire", None) is not None else p.status
        node.ended_at = p.ended_at
        node.output, node.error = p.output, p.error
        if node.started_at is None:
            node.started_at = getattr(p, "started_at", None) or p.ended_at

    def _suspended(self, event: Any) -> None:
        p = event.payload
        node = self._node(p.id)
        node.status, node.suspend_payload = "suspended", p.suspend_payload
        node.ended_at = p.suspended_at
        if node.started_at is None:
            node.started_at = p.started_at

    def _write(self, event: Any) -> None:
        p = event.payload
        candidates = self._by_name.get(p.step_name) or [self._node(p.step_name)]
        running = [n for n in candidates if n.status == "running"]
        (running or candidates)[-1].writes.append(p.output)

    def _run_start(self, event: Any) -> None:
        self.run_id = event.run_id
        self.workflow_id = event.payload.workflow_id or self.workflow_id
        self.status = "running"
        self.started_at = self.started_at or now_ms()
        self.ended_at = None

    def _run_finish(self, event: Any) -> None:
        p = event.payload
        self.status, self.ended_at = p.workflow_status, now_ms()
        self.error = p.metadata.get("error") if isinstance(p.metadata, Mapping) else None
        self.tripwire = p.tripwire
        self.settle()

    def _canceled(self, event: Any) -> None:
        self.status = "canceled"

    def _paused(self, event: Any) -> None:
        self.status = "paused"

    def _reach(self, node: Node) -> None:
        top = node.key.split(".", 1)[0]
        for index, root in enumerate(self.roots):
            if root.key == top or any(c.key == top for c in root.children):
                if index > self._reached:
                    self._reached = index
                    self._skip_before(index)
                return

    # -- stored snapshots -------------------------------------------------------------------

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Take a stored snapshot (its ``context`` of step results) into the tree."""
        self.run_id = str(snapshot.get("runId") or self.run_id)
        self.status = str(snapshot.get("status") or self.status)
        context = snapshot.get("context") or {}
        for key, wire in context.items():
            if key != "input" and isinstance(wire, Mapping):
                self._stored(self._node(key), wire)
        active = snapshot.get("activePaths") or []
        if active and isinstance(active[0], int) and self.status in ("running", "restarting"):
            self._reached = max(self._reached, active[0])
            self._skip_before(active[0])
        self.error = snapshot.get("error")
        if self.status not in ("running", "restarting", "pending", "waiting"):
            self.settle()

    def _stored(self, node: Node, wire: Mapping[str, Any]) -> None:
        node.status = str(wire.get("status", node.status))
        if wire.get("tripwire") is not None:
            node.status = "tripwire"
        node.started_at = wire.get("startedAt", node.started_at)
        node.ended_at = wire.get("endedAt") or wire.get("suspendedAt")
        node.payload, node.output = wire.get("payload"), wire.get("output")
        node.error, node.suspend_payload = wire.get("error"), wire.get("suspendPayload")
        metadata = wire.get("metadata")
        if isinstance(metadata, Mapping):
            if isinstance(metadata.get("iterationCount"), int):
                node.iteration = metadata["iterationCount"]
            foreach = metadata.get("foreach")
            if isinstance(foreach, Mapping):
                node.completed = len(foreach.get("done") or [])
                node.total = len(node.payload) if isinstance(node.payload, list) else None
        if node.kind == "foreach" and node.status == "success" and isinstance(node.payload, list):
            node.total = node.completed = len(node.payload)

    # -- ends -------------------------------------------------------------------------------

    def _skip_before(self, index: int) -> None:
        """Branch steps that never started before a later entry did were not taken."""
        for root in self.roots[:index]:
            if root.kind == "conditional":
                for child in root.children:
                    if child.status == "pending":
                        child.status = "skipped"

    def settle(self) -> None:
        """The run ended: untaken branches are skipped; what was still running took the
        run's end (a canceled run's running steps are canceled)."""
        if self.status == "success":
            self._skip_before(len(self.roots))
        if self.status in ("canceled", "failed", "tripwire"):
            for node in self.by_key.values():
                if node.status in ("running", "waiting"):
                    node.status = "canceled" if self.status == "canceled" else node.status

    def block_status(self, block: Node) -> str:
        """A parallel or branch block's status, from its steps."""
        statuses = {c.status for c in block.children} - {"skipped"}
        for status in ("running", "waiting", "failed", "tripwire", "suspended", "canceled"):
            if status in statuses:
                return status
        if not statuses or statuses == {"pending"}:
            return "skipped" if block.children and not statuses else "pending"
        return "pending" if "pending" in statuses else "success"

    def status_of(self, node: Node) -> str:
        return self.block_status(node) if node.kind in _BLOCKS else node.status

    def suspended_nodes(self) -> list[Node]:
        return [n for n in self.by_key.values() if n.status == "suspended"]

    # Each event type's handler (a progress event, the most frequent, is handled in apply).
    _handlers = {
        "workflow-step-start": _start,
        "workflow-step-waiting": _waiting,
        "workflow-step-result": _result,
        "workflow-step-suspended": _suspended,
        "workflow-step-output": _write,
        "workflow-start": _run_start,
        "workflow-finish": _run_finish,
        "workflow-canceled": _canceled,
        "workflow-paused": _paused,
    }
