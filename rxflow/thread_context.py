"""The step context of a plain ``def`` body, which runs in a worker thread: its writer hands
chunks to the event loop, and ``suspend`` says at once that only ``async def`` bodies can
suspend (a coroutine a ``def`` body made could otherwise be dropped without a word)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, NoReturn

import attrs

from .context import StepContext, Suspended
from .errors import RxflowError
from .writer import StepWriter

__all__ = ["Done", "ThreadStepContext", "ThreadStepWriter"]


class Done(Coroutine[Any, Any, None]):
    """What the writer of a ``def`` body returns: the chunk is already handed to the loop.
    Awaiting it (on a loop) returns at once; not awaiting it is no mistake (unlike a
    coroutine, nothing warns)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()  # nothing to wait for

    def send(self, value: Any) -> Any:
        raise StopIteration

    def throw(self, *args: Any) -> NoReturn:
        raise args[0] if args and isinstance(args[0], BaseException) else RuntimeError(args)

    def close(self) -> None:
        return None


_DONE = Done()


def _handed_to_loop(
    emit: Callable[[Any], None], loop: asyncio.AbstractEventLoop, loop_thread: int
) -> Callable[[Any], None]:
    """``emit`` callable from any thread: off the loop's thread the event is handed to the
    loop, in order, ahead of the step's result (which the loop learns of after the body)."""

    def hand_off(event: Any) -> None:
        if threading.get_ident() == loop_thread:
            emit(event)
        else:
            loop.call_soon_threadsafe(emit, event)

    return hand_off


@attrs.define(slots=True, eq=False)
class ThreadStepWriter(StepWriter):
    """``ctx.writer`` of a ``def`` body: ``ctx.writer.write(x)`` and ``ctx.writer.custom(c)``
    emit when called, from the worker thread (no ``await`` needed, none possible)."""

    def write(self, value: Any) -> Coroutine[Any, Any, None]:
        self.emit_output(value)
        return _DONE

    def custom(self, chunk: Mapping[str, Any]) -> Coroutine[Any, Any, None]:
        self.emit_custom(chunk)
        return _DONE


@attrs.define(slots=True, eq=False)
class ThreadStepContext(StepContext):
    """The ``StepContext`` a ``def`` body gets (it runs in a worker thread)."""

    _thread_writer: ThreadStepWriter | None = attrs.field(init=False, default=None, repr=False)

    @property
    def writer(self) -> StepWriter:
        """``ctx.writer.write(x)`` streams ``x`` as a ``workflow-step-output`` event, handed
        to the event loop (call it; there is nothing to await in a ``def`` body)."""
        writer = self._thread_writer
        if writer is None:
            scope = self._exec.scope
            emit = _handed_to_loop(scope.emit, scope.loop, scope.loop_thread)
            writer = self._thread_writer = ThreadStepWriter(emit, scope.run_id, self._step.id)
        return writer

    def suspend(
        self, payload: Any = None, *, resume_label: str | list[str] | None = None
    ) -> Coroutine[Any, Any, Suspended]:
        """Only an ``async def`` body can suspend: from the worker thread of a ``def`` body
        this raises ``RxflowError`` at once. (A coroutine such a body returns is awaited on
        the loop, where ``suspend`` works as in any async body.)"""
        if threading.get_ident() != self._exec.scope.loop_thread:
            raise RxflowError(
                f"step '{self._step.id}': ctx.suspend() was called in a plain def body, which "
                "runs in a worker thread; only an async def body can suspend: make it "
                "'async def' and 'return await ctx.suspend(...)'"
            )
        return super().suspend(payload, resume_label=resume_label)
