"""The mirror's writer: SQLite off the event loop, one transaction per batch.

Async code sends :class:`~aioica._mirror._store.Outcome` values into a bounded memory stream
(a full stream makes the fan-out wait: memory stays bounded however slow the disk is). One
consumer task gathers sessions for up to ``delay`` seconds (at most ``batch_size``) and writes
them in one transaction in a worker thread; while that commit runs the next batch accumulates,
so batches also grow when the database is the slower side.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._report import MirrorError
from ._store import Outcome, Store

__all__ = ["StoreThread", "writer"]

T = TypeVar("T")

_POLL = 0.05  # seconds between looks at the buffer while a batch gathers


class StoreThread:
    """Runs the store's blocking calls in a worker thread, strictly one at a time.

    Not cancellable mid-call: a cancelled sync waits for the transaction in progress to commit
    or roll back, so the file is never left with a half-written session (a killed process is
    covered by SQLite's own journal).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._limiter = anyio.CapacityLimiter(1)

    async def __call__(self, func: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise MirrorError(f"{self.path}: {exc}") from exc


def _take(
    receive: MemoryObjectReceiveStream[Outcome], batch: list[Outcome], limit: int | None
) -> bool:
    """Move buffered outcomes into ``batch`` (up to ``limit`` in all); True at end of stream."""
    try:
        while limit is None or len(batch) < limit:
            batch.append(receive.receive_nowait())
    except anyio.WouldBlock:
        return False
    except (anyio.EndOfStream, anyio.ClosedResourceError):
        return True
    return False


@asynccontextmanager
async def writer(
    call: StoreThread,
    store: Store,
    run_id: int,
    *,
    buffer: int = 1024,
    batch_size: int = 1000,
    delay: float = 0.5,
) -> AsyncIterator[MemoryObjectSendStream[Outcome]]:
    """A send stream whose outcomes end up in ``store``; leaving the block writes the rest.

    An error in the block still lets everything already sent reach the database (those
    sessions were fetched; keeping them saves the next run their requests) before it
    propagates. A database error cancels the block and is raised as :class:`MirrorError`.
    """
    send, receive = anyio.create_memory_object_stream[Outcome](buffer)
    closed = anyio.Event()  # set once the block has sent its last outcome
    errors: list[BaseException] = []

    async def drain() -> None:
        batch: list[Outcome] = []
        try:
            async with receive:
                try:
                    async for first in receive:
                        batch = [first]
                        # Fewer, larger transactions: each commit rewrites the index pages
                        # it touched. Sessions pile up in the buffer meanwhile: polling it a
                        # few times per batch costs less than waking up for every session.
                        deadline = anyio.current_time() + delay
                        while True:
                            ended = _take(receive, batch, batch_size)
                            left = deadline - anyio.current_time()
                            if ended or len(batch) >= batch_size or left <= 0:
                                break
                            # A full buffer makes the fan-out wait: write it now.
                            if receive.statistics().current_buffer_used >= buffer:
                                continue
                            # The end of the stream is worth waking up for at once: the
                            # run's last batch is the one nothing else overlaps.
                            with anyio.move_on_after(min(left, _POLL)):
                                await closed.wait()
                        # Not cancellable: a cancellation arrives once this commit is done.
                        await call(store.write, batch, run_id)
                        batch = []
                except anyio.get_cancelled_exc_class():
                    # Cancelled (Ctrl-C, a caller's timeout): what was fetched is still
                    # written, so the next run need not fetch it again.
                    with anyio.CancelScope(shield=True):
                        _take(receive, batch, None)
                        if batch:
                            await call(store.write, batch, run_id)
                    raise
        except Exception as exc:
            errors.append(exc)
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        try:
            try:
                async with send:
                    yield send
            finally:
                closed.set()
        except Exception as exc:
            # Raised after the drain (and outside the group: no ExceptionGroup wrapping).
            errors.append(exc)
    if errors:
        # A failed drain breaks the stream under the block: the database error is the cause.
        raise next((e for e in errors if isinstance(e, MirrorError)), errors[0])
