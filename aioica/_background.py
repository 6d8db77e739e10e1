"""Async iterators fed by a producer task in the session's task group.

The producer never runs in an async generator: leaving a loop early, an exception or a
cancellation must be able to stop it from any task, which an async generator owning a task
group cannot do. Errors travel to the consumer through the stream; the session's task group
never sees them (raising there would tear down the caller's own code).
"""

from __future__ import annotations

import abc
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
from anyio.abc import ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._session import Session

__all__ = ["BackgroundIterator", "Closing", "Failed", "abandon"]

T = TypeVar("T")


@attrs.define
class Failed:
    """A producer's error, on its way to the consumer."""

    error: BaseException


def abandon(receive: MemoryObjectReceiveStream[Any], scope: anyio.CancelScope) -> None:
    """Stop a producer whose consumer was dropped without ``aclose()`` (a loop left by
    ``break`` or by an exception): its scope is cancelled and its stream closed.

    Registered with ``weakref.finalize`` rather than ``__del__``: finalizers run before the
    garbage collector finalises the stream itself, so the stream is closed, never reported as
    leaked, even when consumer and stream die together in a reference cycle.
    """
    try:
        scope.cancel()
    except RuntimeError:  # the event loop is already gone
        pass
    receive.close()


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


class BackgroundIterator(Closing, Generic[T], abc.ABC):
    """Base of the iterators whose items a producer task makes ahead of the consumer.

    Subclasses implement :meth:`_produce`; the first :meth:`_receive` starts it in the
    session's task group, inside a cancel scope that :meth:`aclose` cancels.
    """

    def __init__(self, session: Session, buffer_size: float) -> None:
        self._session = session
        self._buffer_size = buffer_size
        self._receive_stream: MemoryObjectReceiveStream[T | Failed] | None = None
        self._scope: anyio.CancelScope | None = None
        self._done = False

    async def aclose(self) -> None:
        """Stop the producer: cancel its in-flight requests and release the buffer."""
        self._done = True
        if self._scope is not None:
            self._scope.cancel()
        if self._receive_stream is not None:
            self._receive_stream.close()

    @abc.abstractmethod
    async def _produce(self, send: ObjectSendStream[T | Failed]) -> None:
        """Send items until done; raise on failure (the error reaches the consumer)."""

    async def _receive(self) -> T:
        """The next item; ``StopAsyncIteration`` at the end; the producer's error if it failed."""
        if self._done:
            raise StopAsyncIteration
        if self._receive_stream is None:
            send, receive = anyio.create_memory_object_stream[T | Failed](self._buffer_size)
            self._receive_stream = receive
            self._scope = anyio.CancelScope()
            weakref.finalize(self, abandon, receive, self._scope)
            self._session._spawn(self._run_producer, send, self._scope)
        try:
            item = await self._receive_stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._done = True
            raise StopAsyncIteration from None
        if isinstance(item, Failed):
            await self.aclose()
            raise item.error
        return item

    async def _run_producer(
        self, send: ObjectSendStream[T | Failed], scope: anyio.CancelScope
    ) -> None:
        with scope:
            async with send:
                try:
                    await self._produce(send)
                except anyio.get_cancelled_exc_class():
                    raise
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the consumer went away
                except Exception as exc:
                    try:
                        await send.send(Failed(exc))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
