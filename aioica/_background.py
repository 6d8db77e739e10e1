"""Async iterators fed by a producer task that belongs to the session, not to the iterator.

Each producer runs in a task of its own, inside a cancel scope of its own, registered with the
session's :class:`Producers`. Three things stop it, whichever comes first: the iterator's
``aclose()``, the iterator being garbage-collected (a loop left by ``break``, ``return`` or an
exception without closing it), or the session closing.

For the second to work the producer must not keep the iterator alive: a task started from a
bound method of the iterator holds the iterator, and its ``weakref.finalize`` never fires. So
subclasses hand over a callable that holds only what production needs (:meth:`_producer`).

The producer never runs in an async generator, and not in a task group entered by the task
that opened the session: either would tie its lifetime to one task (anyio refuses to exit a
cancel scope from another task), and a long-lived service opens and closes its session in
different tasks. Errors travel to the consumer through the stream.
"""

from __future__ import annotations

import abc
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import attrs
import sniffio
from anyio.abc import ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream

from ._errors import IteratorFinishedError, SessionClosedError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "BackgroundIterator",
    "Closing",
    "Failed",
    "IteratorState",
    "Producer",
    "Producers",
    "StartProducer",
    "abandon",
]

T = TypeVar("T")

logger = logging.getLogger("aioica")

IteratorState = Literal["new", "running", "exhausted", "closed", "failed"]
"""``new``: nothing asked for yet; ``running``: started; ``exhausted``: everything delivered;
``closed``: closed (or session closed) before the end; ``failed``: an error was raised."""

FINISHED: frozenset[str] = frozenset({"exhausted", "closed", "failed"})

Producer = Callable[[ObjectSendStream[Any]], Awaitable[None]]
"""Sends items to the stream until done; raises on failure (the error reaches the consumer)."""

#: How long closing a session waits for cancelled producers to end (they end at once unless
#: something swallows cancellation).
_CLOSE_GRACE = 10.0


@attrs.define
class Failed:
    """A producer's error, on its way to the consumer."""

    error: BaseException


class Run:
    """One producer task's state, shared by the iterator, the task and the registry."""

    __slots__ = ("completed", "done", "scope")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        #: The producer returned (or handed its error on), rather than being cancelled.
        self.completed = False


StartProducer = Callable[[Producer, ObjectSendStream[Any]], Run]
"""Starts ``produce(send)`` in a task whose lifetime its owner (the session) controls."""


def abandon(receive: MemoryObjectReceiveStream[Any], scope: anyio.CancelScope) -> None:
    """Stop a producer: cancel its scope (and so its in-flight requests), close its stream.

    Registered with ``weakref.finalize`` rather than ``__del__``: finalizers run before the
    garbage collector finalises the stream itself, so the stream is closed, never reported as
    leaked, even when consumer and stream die together in a reference cycle.
    """
    try:
        scope.cancel()
    except RuntimeError:  # the event loop is already gone
        pass
    receive.close()


class Producers:
    """The running producer tasks of one session.

    Each runs in a task outside any task group, so that the session can be closed from any
    task; :meth:`aclose` cancels every one and waits for it to end.
    """

    def __init__(self) -> None:
        # Run -> the asyncio task (kept referenced so it is not collected mid-flight) or None.
        self._runs: dict[Run, object] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._runs)

    def start(self, produce: Producer, send: ObjectSendStream[Any]) -> Run:
        """Start ``produce(send)`` in a task of its own; returns its :class:`Run`."""
        if self._closed:
            raise SessionClosedError("the Session is closed")
        run = Run()
        self._runs[run] = _start_task(_run_producer, produce, send, run, self._forget)
        return run

    def _forget(self, run: Run) -> None:
        self._runs.pop(run, None)

    async def aclose(self) -> None:
        """Cancel every producer and wait until each has ended (shielded, bounded)."""
        self._closed = True
        runs = list(self._runs)
        for run in runs:
            run.scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_GRACE) as waited:
            for run in runs:
                await run.done.wait()
        if waited.cancelled_caught:  # pragma: no cover - a producer swallowed cancellation
            logger.warning("%d background producers did not stop when cancelled", len(self))


def _start_task(func: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> object:
    """Start ``func(*args)`` in a task owned by the event loop rather than by a task group.

    anyio starts tasks only in task groups, whose scope must be exited by the task that entered
    it; a session's producers must outlive the task that opened the session. So this is the one
    place that uses the native APIs: trio's system nursery, asyncio's loop. The caller's context
    variables go with the task on both.
    """
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(
            func, *args, name="aioica producer", context=contextvars.copy_context()
        )
        return None
    import asyncio

    return asyncio.get_running_loop().create_task(func(*args), name="aioica producer")


async def _run_producer(
    produce: Producer,
    send: ObjectSendStream[Any],
    run: Run,
    forget: Callable[[Run], None],
) -> None:
    # Never raises except for cancellation from outside (the event loop shutting down): a trio
    # system task that raised would crash the whole run.
    try:
        with run.scope:
            async with send:
                try:
                    await produce(send)
                    run.completed = True
                except anyio.get_cancelled_exc_class():
                    raise
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the consumer went away
                except Exception as exc:
                    try:
                        await send.send(Failed(exc))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    # Only once the error is on its way: a producer cancelled (by the session
                    # closing) before it could hand its error on must not look finished.
                    run.completed = True
    finally:
        forget(run)
        run.done.set()


class Closing:
    """``async with`` and ``async for`` plumbing for an iterator with an ``aclose()``."""

    def __aiter__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel what is in flight."""


def reuse_error(it: object, state: str) -> IteratorFinishedError:
    """The error for a second ``async for`` over an iterator that has finished."""
    name = type(it).__name__
    return IteratorFinishedError(
        f"this {name} is {state}: an iterator runs once. Call the operation again (or iterate "
        "the Paginator again) for a new one; to continue a listing, pass its resume_token as "
        "page_token"
    )


class BackgroundIterator(Closing, Generic[T], abc.ABC):
    """Base of the iterators whose items a producer task makes ahead of the consumer.

    Subclasses implement :meth:`_producer`; the first :meth:`_receive` starts what it returns
    in a task registered with the session, inside a cancel scope that :meth:`aclose`, the
    iterator's collection and the session's close each cancel.
    """

    def __init__(self, start_producer: StartProducer, buffer_size: float) -> None:
        self._start_producer = start_producer
        self._buffer_size = buffer_size
        self._receive_stream: MemoryObjectReceiveStream[T | Failed] | None = None
        self._run: Run | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._state: IteratorState = "new"

    @property
    def state(self) -> IteratorState:
        """``"new"``, ``"running"``, ``"exhausted"``, ``"closed"`` or ``"failed"``."""
        return self._state

    def __aiter__(self) -> Self:
        # A second loop over a finished iterator would silently yield nothing.
        if self._state in FINISHED:
            raise reuse_error(self, self._state)
        return self

    async def aclose(self) -> None:
        """Stop the producer: cancel its in-flight requests and release the buffer."""
        self._finish("closed")

    def _finish(self, state: IteratorState) -> None:
        """Enter a final state (the first one sticks) and stop the producer."""
        if self._state not in FINISHED:
            self._state = state
        if self._finalizer is not None:
            self._finalizer()  # runs abandon() once, and unregisters it
        elif self._receive_stream is not None:  # pragma: no cover - always registered together
            self._receive_stream.close()

    @abc.abstractmethod
    def _producer(self) -> Producer:
        """The callable that produces this iterator's items: ``await produce(send)`` sends
        items until done and raises on failure (the error reaches the consumer).

        It must not reference the iterator (neither ``self`` nor a bound method of it), or
        an abandoned iterator could never be collected and its producer would run on.
        """

    async def _receive(self) -> T:
        """The next item; ``StopAsyncIteration`` at the end; the producer's error if it failed."""
        if self._state in FINISHED:
            raise StopAsyncIteration
        if self._receive_stream is None:
            produce = self._producer()
            send, receive = anyio.create_memory_object_stream[T | Failed](self._buffer_size)
            try:
                self._run = self._start_producer(produce, send)
            except BaseException:
                send.close()
                receive.close()
                raise
            self._receive_stream = receive
            self._finalizer = weakref.finalize(self, abandon, receive, self._run.scope)
            self._finalizer.atexit = False
            self._state = "running"
        try:
            item = await self._receive_stream.receive()
        except anyio.EndOfStream:
            if self._run is not None and not self._run.completed:
                # The producer was cancelled from outside: the session closed under us.
                self._finish("closed")
                raise SessionClosedError(
                    f"the Session was closed while this {type(self).__name__} was running"
                ) from None
            self._finish("exhausted")
            raise StopAsyncIteration from None
        except anyio.ClosedResourceError:  # closed by another task meanwhile
            raise StopAsyncIteration from None
        if isinstance(item, Failed):
            self._finish("failed")
            raise item.error
        return item
