"""``DaskExecutor``: step bodies run as tasks on a Dask cluster (``pip install rxflow[dask]``);
results, retries, events, state and checkpoints stay with the run, in its process."""

from __future__ import annotations

import asyncio
import itertools
import os
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

try:
    import distributed
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "DaskExecutor needs dask.distributed: pip install 'rxflow[dask]'"
    ) from missing

from ..errors import ExecutorError
from .dask_connection import Connection
from .dask_pickle import pickled_body
from .dask_worker import Body, Outcome, WorkerTask

if TYPE_CHECKING:
    from ..context import StepContext
    from ..graph import StepNode

__all__ = ["DaskExecutor"]


class DaskExecutor:
    """Runs step bodies as tasks on a Dask cluster; the run stays in this process.

    ``client`` is an existing ``Client(asynchronous=True)`` on the run's event loop;
    ``address`` a scheduler to connect to (within ``connect_timeout`` seconds, else
    ``ExecutorError``); with neither, a ``LocalCluster`` of worker processes
    (``cluster_options``: its arguments, such as ``n_workers``) is started on first use and
    closed by ``close()``. ``submit_options`` go to every ``client.submit``
    (``resources``, ``priority``, ``workers``...); ``retries`` is always 0: the step's own
    retry policy applies.

    Each attempt of a body runs in a task. When more attempts wait than the cluster has
    threads (a ``foreach`` with a wide window), a task runs a few of them in turn, so the
    cluster's cost per task is paid less often: a ``foreach``'s items in flight are spread
    over about one task per worker thread, at most ``items_per_task`` each (None: no limit;
    1: one task per attempt), and its refills leave together once a task's worth is queued.
    The ``foreach`` window is unchanged: its progress is per item, as its items come back.
    Each body is pickled once per executor and unpickled once per worker; the workflow input
    and step outputs a body may read are pickled once per run and step (scattered to the
    cluster when large) and released once the run has no attempt left in flight.
    ``async def`` bodies run on an event loop of their own in the task's thread. Chunks
    written with ``ctx.writer`` reach the run's stream while the body runs (in order, before
    the step's result); ``set_state``, ``record_usage``, ``suspend``, ``abort`` and ``bail``
    take effect when the body returns. A cancel of the run cancels the tasks not yet running
    and sets ``ctx.abort_signal`` on the workers (a running task's attempts not yet begun are
    skipped). Nothing of a run is left on the scheduler once it ends.

    Delivery is at least once: a worker that dies mid-task makes Dask run the task again on
    another worker (every attempt of that task); a task Dask gives up on fails the step with
    ``ExecutorError`` (retried by the step's policy).
    """

    def __init__(
        self,
        client: Any = None,
        address: str | None = None,
        *,
        connect_timeout: float = 5.0,
        cluster_options: Mapping[str, Any] | None = None,
        items_per_task: int | None = None,
        **submit_options: Any,
    ) -> None:
        if client is not None and address is not None:
            raise ValueError("DaskExecutor takes a client or an address, not both")
        if items_per_task is not None and (
            not isinstance(items_per_task, int) or items_per_task < 1
        ):
            raise ValueError(
                f"items_per_task must be a positive int or None, got {items_per_task!r}"
            )
        self.items_per_task = items_per_task
        submit_options.pop("retries", None)
        self.address = address
        self.connect_timeout = connect_timeout
        self.submit_options = submit_options
        self.cluster_options = dict(cluster_options or {})
        self._given = client
        # One client per event loop (a Client(asynchronous=True) belongs to its loop).
        self._clients: dict[asyncio.AbstractEventLoop, asyncio.Future[Connection]] = {}
        self._cluster: Any = None
        # Each body pickled once (and checked then): the bytes go with every task.
        self._bodies: weakref.WeakKeyDictionary[Any, Body] = weakref.WeakKeyDictionary()
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
            if owner is loop and pending.done() and pending.exception() is None:
                conn = pending.result()
                await conn.close()
                if not self._given:
                    await conn.client.close()
        self._clients.clear()
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            await cluster.close()

    async def run(self, step: StepNode, ctx: StepContext) -> Any:
        """Run one attempt of ``step``'s body as (part of) a Dask task; its output (see the
        class)."""
        body = self._bodies.get(step)
        if body is None:
            body = self._bodies[step] = Body(*pickled_body(step.id, step.execute))
        conn = await self._connection()
        run_id = ctx.run_id
        task = WorkerTask(
            step.id,
            step.is_async,
            f"{self._token_head}-{next(self._tokens)}",
            conn.topic,
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
        return await _apply(await conn.attempt(body, task, shared, ctx), ctx)

    async def _connection(self) -> Connection:
        loop = asyncio.get_running_loop()
        pending = self._clients.get(loop)
        if pending is None:
            pending = self._clients[loop] = loop.create_future()
            try:
                client = await self._connect()
                options = self.submit_options
                pending.set_result(await Connection(client, options, self.items_per_task).start())
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
                # dashboard_address=None still serves Dask's HTTP routes on port 8787
                # (warning when it is taken): any free local port instead.
                options = {"processes": True, "dashboard_address": "127.0.0.1:0"}
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
