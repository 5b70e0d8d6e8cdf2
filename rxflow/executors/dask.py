"""``DaskExecutor``: step bodies run as tasks on a Dask cluster (``pip install rxflow[dask]``);
results, retries, events, state and checkpoints stay with the run, in its process."""

from __future__ import annotations

import asyncio
import itertools
import os
import pickle
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cloudpickle

try:
    import distributed
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "DaskExecutor needs dask.distributed: pip install 'rxflow[dask]'"
    ) from missing

from ..errors import ExecutorError, StepNotSerializableError
from .dask_pickle import check_sendable, not_sendable, type_name
from .dask_worker import CUSTOM, Outcome, WorkerTask, run_task

if TYPE_CHECKING:
    from ..context import StepContext
    from ..graph import StepNode

__all__ = ["DaskExecutor"]

# Step outputs shipped with tasks up to this many pickled bytes; bigger ones are scattered to
# the cluster once and passed by reference.
_INLINE_BYTES = 64 * 1024
_SHARED_CACHE = 32  # (run, step results) versions whose shared values stay cached


class DaskExecutor:
    """Runs step bodies as tasks on a Dask cluster; the run stays in this process.

    ``client`` is an existing ``Client(asynchronous=True)`` on the run's event loop;
    ``address`` a scheduler to connect to (within ``connect_timeout`` seconds, else
    ``ExecutorError``); with neither, a ``LocalCluster`` of worker processes
    (``cluster_options``: its arguments, such as ``n_workers``) is started on first use and
    closed by ``close()``. ``submit_options`` go to every ``client.submit``
    (``resources``, ``priority``, ``workers``...); ``retries`` is always 0: the step's own
    retry policy applies.

    Each attempt of a body is one task. ``async def`` bodies run on an event loop of their own
    in the task's thread. Chunks written with ``ctx.writer`` reach the run's stream while the
    body runs (in order, before the step's result); ``set_state``, ``record_usage``,
    ``suspend``, ``abort`` and ``bail`` take effect when the body returns. A cancel of the run
    cancels the tasks not yet running and sets ``ctx.abort_signal`` on the workers.

    Delivery is at least once: a worker that dies mid-task makes Dask run the task again on
    another worker; a task Dask gives up on fails the step with ``ExecutorError`` (retried by
    the step's policy).
    """

    def __init__(
        self,
        client: Any = None,
        address: str | None = None,
        *,
        connect_timeout: float = 5.0,
        cluster_options: Mapping[str, Any] | None = None,
        **submit_options: Any,
    ) -> None:
        if client is not None and address is not None:
            raise ValueError("DaskExecutor takes a client or an address, not both")
        submit_options.pop("retries", None)
        self.address = address
        self.connect_timeout = connect_timeout
        self.submit_options = submit_options
        self.cluster_options = dict(cluster_options or {})
        self._given = client
        # One client per event loop (a Client(asynchronous=True) belongs to its loop).
        self._clients: dict[asyncio.AbstractEventLoop, asyncio.Future[_Connection]] = {}
        self._cluster: Any = None
        self._checked: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
        # Task keys are unique across executors and processes: a key the scheduler still
        # holds would hand back that task's result.
        self._token_head = os.urandom(8).hex()
        self._tokens = itertools.count(1)

    @property
    def in_process(self) -> bool:
        return False

    async def __aenter__(self) -> DaskExecutor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the clients this executor opened (and the cluster it started)."""
        loop = asyncio.get_running_loop()
        for owner, pending in list(self._clients.items()):
            if owner is loop and pending.done() and pending.exception() is None and not self._given:
                await pending.result().client.close()
        self._clients.clear()
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            await cluster.close()

    async def run(self, step: StepNode, ctx: StepContext) -> Any:
        """Run one attempt of ``step``'s body as a Dask task; its output (see the class)."""
        if step not in self._checked:
            check_sendable(step.id, step.execute)
            self._checked[step] = True
        conn = await self._connection()
        token = f"{self._token_head}-{next(self._tokens)}"
        run_id = ctx.run_id
        task = WorkerTask(
            step.id,
            step.is_async,
            token,
            conn.topic,
            _abort_event(run_id),
            run_id,
            ctx.workflow_id,
            ctx.resource_id,
            ctx.input_data,
            ctx.state,
            ctx.request_context.to_dict(),
            ctx.retry_count,
            ctx.resume_data,
            ctx.suspend_data,
        )
        shared = await conn.shared(step.id, run_id, ctx)
        conn.open[token] = ctx
        try:
            outcome = await conn.submit(step, ctx, task, shared, self.submit_options)
        finally:
            del conn.open[token]
        return await _apply(outcome, ctx)

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        pending = self._clients.get(loop)
        if pending is None:
            pending = self._clients[loop] = loop.create_future()
            try:
                pending.set_result(_Connection(await self._connect()))
            except BaseException as error:
                del self._clients[loop]
                pending.set_exception(error)
                pending.exception()  # retrieved: later callers connect again
                raise
        return await asyncio.shield(pending)

    async def _connect(self) -> Any:
        if self._given is not None:
            return self._given
        if self.address is None:
            if self._cluster is None:
                options = {"processes": True, "dashboard_address": None}
                options.update(self.cluster_options)
                self._cluster = await distributed.LocalCluster(asynchronous=True, **options)
            address = self._cluster.scheduler_address
        else:
            address = self.address
        try:
            return await asyncio.wait_for(
                distributed.Client(
                    address,
                    asynchronous=True,
                    timeout=self.connect_timeout,
                    set_as_default=False,
                ),
                self.connect_timeout + 1,
            )
        except (OSError, TimeoutError) as error:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {address!r} within "
                f"{self.connect_timeout:g} s: {error}"
            ) from error

    def __repr__(self) -> str:
        where = self.address or ("client" if self._given is not None else "LocalCluster")
        return f"DaskExecutor({where})"


def _abort_event(run_id: str) -> str:
    return f"rxflow-abort-{run_id}"


class _Connection:
    """One client: the chunk relay (one event topic per client) and the shared-values cache."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.topic = f"rxflow-chunks-{client.id}"
        self.open: dict[str, StepContext] = {}  # token -> context of an attempt in flight
        self._shared: OrderedDict[tuple[Any, ...], tuple[list[Any], Any]] = OrderedDict()
        self._aborted: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        client.subscribe_topic(self.topic, self._relay)

    def _relay(self, event: tuple[float, Any]) -> None:
        """A chunk a body wrote on a worker: into its step's stream (on the loop)."""
        token, kind, blob = event[1]
        ctx = self.open.get(token)
        if ctx is None:  # the attempt was given up (canceled): its chunks are dropped
            return
        value = pickle.loads(blob)
        if kind == CUSTOM:
            ctx.writer.emit_custom(value)
        else:
            ctx.writer.emit_output(value)

    async def shared(self, step_id: str, run_id: str, ctx: StepContext) -> Any:
        """The workflow input and step outputs for ``get_init_data``/``get_step_result``:
        inline when small, else scattered once per version of the step results."""
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
            size = len(cloudpickle.dumps(shared, protocol=5))
        except Exception as error:
            raise not_sendable(
                step_id, "the values its context reads", _shared_culprit(shared), error
            ) from error
        if size >= _INLINE_BYTES:
            shared = await self.client.scatter(shared, hash=False)
        self._shared[key] = (values, shared)  # values kept alive: their ids stay theirs
        if len(self._shared) > _SHARED_CACHE:
            self._shared.popitem(last=False)
        return shared

    async def submit(
        self,
        step: StepNode,
        ctx: StepContext,
        task: WorkerTask,
        shared: Any,
        options: dict[str, Any],
    ) -> Outcome:
        future = None
        try:
            future = self.client.submit(
                run_task,
                step.execute,
                shared,
                task,
                key=f"rxflow-{step.id}-{task.run_id}-{task.token}",
                pure=False,
                **options,
                retries=0,
            )
            outcome: Outcome = await future
        except asyncio.CancelledError:
            if future is not None:
                self._cancel(future, task.run_id if ctx.abort_signal.aborted else None)
            raise
        except StepNotSerializableError:
            raise
        except Exception as error:
            culprit = _task_culprit(task)
            if culprit is not None:
                raise not_sendable(step.id, "the values it runs on", culprit, error) from error
            if isinstance(error, (distributed.client.FutureCancelledError, OSError)):
                raise ExecutorError(f"step '{step.id}': the Dask task was lost: {error}") from error
            # KilledWorker and the scheduler's other verdicts
            raise ExecutorError(f"step '{step.id}': Dask could not run it: {error!r}") from error
        return outcome

    def _cancel(self, future: Any, aborted_run: str | None) -> None:
        """The awaiting step was canceled: drop its task (at once if not running yet) and, when
        its run was canceled (``aborted_run``), set the abort event bodies on workers watch."""
        work = [self.client.cancel([future], force=True)]
        if aborted_run is not None and aborted_run not in self._aborted:
            self._aborted.add(aborted_run)
            event = distributed.Event(_abort_event(aborted_run), client=self.client)
            work.append(event.set())
        task = asyncio.ensure_future(asyncio.gather(*work, return_exceptions=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _task_culprit(task: WorkerTask) -> str | None:
    """What of an attempt's data does not pickle, by name (None: it all does)."""
    fields = {
        "its input": task.input_data,
        "the run state": task.state,
        "the request context": task.request_context,
        "its resume data": task.resume_data,
        "its suspend data": task.suspend_data,
    }
    return _first_unpicklable(fields)


def _shared_culprit(shared: tuple[Any, dict[str, Any]]) -> str:
    init, outputs = shared
    fields = {"the workflow input": init}
    fields.update((f"the output of step '{step_id}'", value) for step_id, value in outputs.items())
    return _first_unpicklable(fields) or "a value"


def _first_unpicklable(fields: dict[str, Any]) -> str | None:
    for name, value in fields.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"{name} ({type_name(value)})"
    return None


async def _apply(outcome: Outcome, ctx: StepContext) -> Any:
    """Apply what the body did on the worker to its context; its output, or raise its error."""
    for usage in outcome.usage or ():
        ctx.record_usage(**usage)
    for partial in outcome.state_partials or ():
        ctx.set_state(partial)
    if outcome.abort:
        ctx.abort()
    if outcome.error is not None:
        raise outcome.error
    if outcome.suspension is not None:
        payload, labels = outcome.suspension
        await ctx.suspend(payload, resume_label=labels)
    return outcome.output
