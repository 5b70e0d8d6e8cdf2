"""One Dask client of a ``DaskExecutor``: attempts grouped into tasks (a few items of a
``foreach`` per task when many wait, so the cluster's per-task cost is paid less often), the
relay of chunks written on workers, and the values shared by a run's attempts."""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import cloudpickle
import distributed

from ..errors import ExecutorError, StepNotSerializableError
from .dask_pickle import first_unpicklable, not_sendable
from .dask_worker import CUSTOM, OUTCOME, Body, Outcome, WorkerTask, run_tasks

if TYPE_CHECKING:
    from ..context import StepContext

__all__ = ["Connection"]

# Shared values (workflow input, step outputs) travel with each task up to this many pickled
# bytes; bigger ones are scattered to the cluster once per version and passed by reference.
_INLINE_BYTES = 2048
_SHARED_CACHE = 32  # versions of shared values kept while their runs have attempts in flight
_FORGET_AFTER = 1.0  # seconds a run's shared values outlive its last attempt in flight

#: One attempt waiting for its task: what it runs, where its outcome goes, its context.
_Item = tuple[WorkerTask, "asyncio.Future[Outcome]", "StepContext"]


class _Task:
    """One Dask task running a few attempts: it holds a slot until all of its attempts are
    settled, and is canceled then if one of them was."""

    __slots__ = ("canceled", "future", "items", "left")

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.left = len(items)
        self.canceled = False
        self.future: Any = None


class Connection:
    """One client of an executor, on one event loop."""

    def __init__(self, client: Any, options: dict[str, Any], items_per_task: int | None) -> None:
        self.client = client
        self.options = options
        self.items_per_task = items_per_task
        # A topic of this connection's own: a client has one handler per topic, and two
        # executors may share a client.
        self.topic = f"rxflow-relay-{client.id}-{os.urandom(6).hex()}"
        self.open: dict[str, _Item] = {}  # token -> an attempt in flight
        self._pending: dict[tuple[Body, Any], list[_Item]] = {}
        self._flush_soon = False
        self._open_by_group: dict[tuple[Body, Any], int] = {}  # attempts in flight per group
        self._on_cluster = 0  # attempts sent and not settled yet
        self._threads = 0  # worker threads of the cluster, as last known
        self._shared: OrderedDict[tuple[Any, ...], tuple[list[Any], Any]] = OrderedDict()
        self._runs: dict[str, int] = {}  # run id -> attempts in flight
        self._background: set[asyncio.Future[Any]] = set()
        client.subscribe_topic(self.topic, self._relay)

    async def start(self) -> Connection:
        self._threads = sum((await self.client.nthreads()).values())
        return self

    def _thread_count(self) -> int:
        """The cluster's worker threads: the client's view, refreshed every few seconds (a
        cluster grows and shrinks, and workers restart)."""
        total = self.client.scheduler_info().get("total_threads")
        if isinstance(total, int):
            self._threads = total
        return self._threads

    # -- attempts --------------------------------------------------------------------------

    async def attempt(self, body: Body, task: WorkerTask, shared: Any, ctx: StepContext) -> Outcome:
        """Queue one attempt; its outcome once its task ran it. Attempts queued in one turn
        of the loop share tasks (see ``_flush``)."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        item = (task, outcome, ctx)
        group = (body, shared)
        self._pending.setdefault(group, []).append(item)
        self._open_by_group[group] = self._open_by_group.get(group, 0) + 1
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)
        run_id = task.run_id
        self._runs[run_id] = self._runs.get(run_id, 0) + 1
        self.open[task.token] = item
        try:  # a cancel of this attempt cancels ``outcome``; ``_settled`` takes it from there
            return await outcome
        finally:
            del self.open[task.token]
            left = self._open_by_group.pop(group) - 1
            if left:
                self._open_by_group[group] = left
            self._attempt_ended(run_id)

    def _flush(self) -> None:
        """Send the queued attempts in tasks of a group's share: its attempts in flight over
        the cluster's worker threads, at most ``items_per_task`` each. Attempts short of a
        share wait while the cluster has an attempt per thread to run, and leave once it may
        not. (A ``foreach`` window refills item by item: sent at once, each refill would be a
        task of its own, and the cluster's cost per task paid per item. A share leaves while
        the tasks before it still run: as a window's items settle across the workers, a
        share's worth of refills is queued before a worker's task ends.)"""
        self._flush_soon = False
        pending, self._pending = self._pending, {}
        threads = self._thread_count()
        starving = self._on_cluster < threads  # a worker thread may soon have nothing to run
        spread_over = threads or 1 << 30  # no workers yet: one item per task
        for group, queued in pending.items():
            items = [item for item in queued if not item[1].done()]  # not canceled meanwhile
            if not items:
                continue
            size = -(-self._open_by_group.get(group, len(items)) // spread_over)
            if self.items_per_task is not None:
                size = min(size, self.items_per_task)
            ready = len(items) if starving else len(items) - len(items) % size
            for start in range(0, ready, size):
                self._submit(group, items[start : min(start + size, ready)])
            if ready < len(items):
                self._pending[group] = items[ready:]

    def _submit(self, group: tuple[Body, Any], items: list[_Item]) -> None:
        body, shared = group
        task = _Task(items)
        first = items[0][0]
        try:
            task.future = self.client.submit(
                run_tasks,
                body,
                shared,
                tuple(item[0] for item in items),
                key=f"rxflow-{first.step_id}-{first.run_id}-{first.token}",
                pure=False,
                **self.options,
                retries=0,
            )
        except Exception as error:
            _fail(items, error)
            return
        for item in items:
            item[1].add_done_callback(functools.partial(self._settled, task))
        self._on_cluster += len(items)
        self._spawn(self._await(task))

    async def _await(self, task: _Task) -> None:
        """Settle the task's attempts once it ended. Small outcomes came on the relay, ahead
        of the task's end: its result is fetched only when some did not (too big)."""
        future = task.future
        try:
            await _finished(future)
            outcomes: list[Outcome | None] = []
            if future.status != "finished" or not all(item[1].done() for item in task.items):
                outcomes = await future  # raises what made the task fail
        except BaseException as error:  # a lost task, or the connection closing
            _fail(task.items, error)
            return
        for (_, outcome, _), value in zip(task.items, outcomes, strict=False):
            if value is not None and not outcome.done():
                outcome.set_result(value)
        _fail(task.items, ExecutorError("the Dask task stopped before running this item"))

    def _settled(self, task: _Task, outcome: asyncio.Future[Outcome]) -> None:
        """One attempt of ``task`` settled (relayed, fetched, failed or canceled): attempts
        waiting may leave now. Once all of the task's are settled, a task with a canceled
        attempt is dropped: at once if not running yet, else its body sees the abort."""
        self._on_cluster -= 1
        task.left -= 1
        task.canceled = task.canceled or outcome.cancelled()
        if not task.left and task.canceled and not task.future.done():
            self._spawn(self.client.cancel([task.future], force=True))
        if self._pending and not self._flush_soon:
            self._flush()

    def _spawn(self, work: Any) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    # -- chunks written on workers ---------------------------------------------------------

    def _relay(self, event: tuple[float, Any]) -> None:
        """A chunk a body wrote on a worker: into its step's stream (on the loop); or the
        outcome of an attempt that ended."""
        token, kind, blob = event[1]
        item = self.open.get(token)
        if item is None:  # the attempt was given up (canceled), or ran again: dropped
            return
        _, outcome, ctx = item
        value = pickle.loads(blob)
        if kind == OUTCOME:
            if not outcome.done():
                outcome.set_result(value)
        elif kind == CUSTOM:
            ctx.writer.emit_custom(value)
        else:
            ctx.writer.emit_output(value)

    # -- values the attempts of a run share ------------------------------------------------

    async def shared(self, step_id: str, run_id: str, ctx: StepContext) -> Any:
        """The workflow input and step outputs for ``get_init_data``/``get_step_result``,
        pickled once per version: the bytes when small, else scattered once to the cluster."""
        init = ctx.get_init_data()
        outputs = ctx.step_outputs()
        values = [init, *outputs.values()]
        key = (run_id, *map(id, values), *outputs)
        cached = self._shared.get(key)
        if cached is not None:
            self._shared.move_to_end(key)
            return cached[1]
        shared = (init, outputs)
        try:
            blob = cloudpickle.dumps(shared, protocol=5)
        except Exception as error:
            culprit = first_unpicklable(_shared_fields(shared)) or "a value"
            raise not_sendable(step_id, "the values its context reads", culprit, error) from error
        sent: Any = blob
        if len(blob) >= _INLINE_BYTES:
            sent = await self.client.scatter(shared, hash=False)
        self._shared[key] = (values, sent)  # values kept alive: their ids stay theirs
        if len(self._shared) > _SHARED_CACHE:
            self._shared.popitem(last=False)
        return sent

    def _attempt_ended(self, run_id: str) -> None:
        left = self._runs[run_id] - 1
        if left:
            self._runs[run_id] = left
            return
        del self._runs[run_id]
        loop = asyncio.get_running_loop()
        loop.call_later(_FORGET_AFTER, self._forget, run_id)

    def _forget(self, run_id: str) -> None:
        """Release a run's shared values (scattered ones leave the cluster) once it has had
        no attempt in flight for a while."""
        if run_id in self._runs:
            return
        for key in [key for key in self._shared if key[0] == run_id]:
            del self._shared[key]

    async def close(self) -> None:
        self._shared.clear()
        if self.client.status == "running":
            self.client.unsubscribe_topic(self.topic)
        for future in list(self._background):
            future.cancel()


async def _finished(future: Any) -> None:
    """Return once the Dask future is finished, failed or canceled. Dask's own one-future wait
    (what ``distributed.wait`` awaits) when this version has it: an ``as_completed`` per task
    costs the client several times more."""
    state = getattr(future, "_state", None)
    if state is not None and callable(getattr(state, "wait", None)):
        await state.wait()
        return
    async for _ in distributed.as_completed([future], loop=future.client.loop):
        pass


def _fail(items: list[_Item], error: BaseException) -> None:
    """Fail the attempts of ``items`` not settled yet with ``error``, told in rxflow's terms."""
    for task, outcome, _ in items:
        if not outcome.done():
            outcome.set_exception(_executor_error(task, error))


def _executor_error(task: WorkerTask, error: BaseException) -> BaseException:
    if isinstance(error, (StepNotSerializableError, ExecutorError)):
        return error
    culprit = first_unpicklable(_task_fields(task))
    if culprit is not None:
        found = not_sendable(task.step_id, "the values it runs on", culprit, _as_exception(error))
        found.__cause__ = error
        return found
    if isinstance(error, (distributed.client.FutureCancelledError, OSError)):
        lost = ExecutorError(f"step '{task.step_id}': the Dask task was lost: {error}")
    else:  # KilledWorker and the scheduler's other verdicts
        lost = ExecutorError(f"step '{task.step_id}': Dask could not run it: {error!r}")
    lost.__cause__ = error
    return lost


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else Exception(str(error))


def _task_fields(task: WorkerTask) -> dict[str, Any]:
    return {
        "its input": task.input_data,
        "the run state": task.state,
        "the request context": task.request_context,
        "its resume data": task.resume_data,
        "its suspend data": task.suspend_data,
    }


def _shared_fields(shared: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    init, outputs = shared
    fields = {"the workflow input": init}
    fields.update((f"the output of step '{step_id}'", value) for step_id, value in outputs.items())
    return fields
