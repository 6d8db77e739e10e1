"""Paginators: one call that can be awaited (one page) or iterated (every item, every page).

Look-ahead runs in a producer task started through the session's engine (see ``_background``
and ``_engine``); the number of pages it may fetch ahead is bounded by credits, one per page the
consumer asks for.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Awaitable, Callable, Generator, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
from anyio.abc import ObjectSendStream

from ._background import (
    FINISHED,
    BackgroundIterator,
    Closing,
    Failed,
    IteratorState,
    Producer,
    StartProducer,
    reuse_error,
)
from ._direct import Answer
from ._errors import InvalidResponseError, PaginationError
from ._params import MAX_OFFSET_ROWS, PageParams
from ._validate import param_int

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ItemIterator", "PageIterator", "Paginator"]

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")
T = TypeVar("T")

DEFAULT_ITERATION_PAGE_SIZE = 1000
_OFFSET_WINDOW_MIN = 4


def _field(page: Any, wire: str, attr: str) -> Any:
    return page.get(wire) if isinstance(page, dict) else getattr(page, attr)


def next_token(page: Any) -> str | None:
    """The cursor of the page after ``page``; null, absent and ``""`` all mean "done"."""
    token = _field(page, "nextPageToken", "next_page_token")
    return token or None


def page_items(page: Any) -> list[Any]:
    """The items of a page (model or raw dict)."""
    items = _field(page, "items", "items")
    return list(items) if items else []


def item_key(item: Any) -> Hashable | None:
    """The identity used to drop rows that offset paging repeats (``None``: no usable id).

    Raw items come straight from the server: one that is not an object, or whose id is not a
    string, raises :class:`InvalidResponseError` (never a ``TypeError`` from hashing a list).
    """
    if isinstance(item, dict):
        inner = item.get("analysis")
        if isinstance(inner, dict):
            key = _raw_id(inner, "analysis.id")
            return None if key is None else ("analysis", key)
        check_raw_item(item)
        return _raw_id(item, "id")
    if item is None or isinstance(item, (str, int, float, bool, list)):
        check_raw_item(item)
    analysis = getattr(item, "analysis", None)
    if analysis is not None:
        key = getattr(analysis, "id", None)
        # Two analyses without an id are not the same row.
        return None if key is None else ("analysis", str(key))
    key = getattr(item, "id", None)
    return None if key is None else str(key)


def _raw_id(item: dict[str, Any], name: str) -> str | None:
    key = item.get("id")
    if key is not None and not isinstance(key, str):
        raise InvalidResponseError(
            f"the server sent an item whose '{name}' is {type(key).__name__}, not a string"
        )
    return key


def check_raw_item(item: Any) -> None:
    """Raise :class:`InvalidResponseError` unless ``item`` is a JSON object whose ``id`` (if
    any) is a string: the promise of raw mode is one dict per item."""
    if not isinstance(item, dict):
        shown = "null" if item is None else type(item).__name__
        raise InvalidResponseError(f"the server sent a page item that is {shown}, not an object")
    _raw_id(item, "id")


def _with_items(page: T, items: list[Any]) -> T:
    if isinstance(page, dict):
        return {**page, "items": items}  # type: ignore[return-value]
    return attrs.evolve(page, items=items)  # type: ignore[misc]


class PageIterator(BackgroundIterator[tuple[str | None, Any, bool]], Generic[PageT]):
    """Async iterator over pages, with look-ahead. Runs once; close it (``aclose()`` or
    ``async with``) to stop at once, or just drop it: its look-ahead is then cancelled when it
    is garbage-collected.

    ``resume_token`` is the cursor of the first page not yet delivered: pass it as
    ``page_token`` to continue later without repeating or skipping a page. Before the first
    page it is the ``page_token`` the call was made with (``None``: from the start); after the
    last page it is ``None``. :attr:`state` tells "not started" from "done". In offset mode
    (``sort`` / ``page_offset``) there is no cursor and it stays ``None``.
    """

    def __init__(self, paginator: Paginator[PageT, Any]) -> None:
        # Unbounded buffer, bounded by credits: at most prefetch + 1 pages exist ahead of the
        # consumer, and with prefetch=0 nothing is fetched until asked for.
        super().__init__(paginator.start_producer, math.inf)
        self._p = paginator
        self._credits = anyio.Semaphore(paginator.prefetch)
        self.resume_token: str | None = paginator.params.page_token
        #: The cursor that fetched the page delivered last (``None``: the first page).
        self.page_cursor: str | None = paginator.params.page_token
        self.pages_yielded = 0

    async def __anext__(self) -> PageT:
        # One credit per page asked for: the producer never runs more than `prefetch` ahead.
        self._credits.release()
        cursor, page, last = await self._receive()
        self.page_cursor = cursor
        self.resume_token = None if self._p.params.offset_mode else next_token(page)
        self.pages_yielded += 1
        if last:
            self._finish("exhausted")
        return page  # type: ignore[no-any-return]

    def _producer(self) -> Producer:
        produce = _produce_offset if self._p.params.offset_mode else _produce_cursor
        return functools.partial(produce, self._p, self._credits)


def next_params(params: PageParams, page: Any, seen: set[str]) -> PageParams | None:
    """The parameters of the cursor page after ``page``, or ``None`` when it was the last.

    ``seen`` holds the cursors already followed: a cursor the server hands out twice raises
    :class:`PaginationError` instead of looping forever.
    """
    token = next_token(page)
    if token is None:
        return None
    if params.page_token:
        seen.add(params.page_token)
    if token in seen:
        raise PaginationError(
            f"the server returned cursor {token[:40]!r}... a second time; stopping "
            "instead of looping forever"
        )
    seen.add(token)
    return attrs.evolve(params, page_token=token)


async def _produce_cursor(
    p: Paginator[Any, Any], credits: anyio.Semaphore, send: ObjectSendStream[Any]
) -> None:
    # Sends (cursor, page, last): `last` says no page follows, so the consumer knows it is
    # done as soon as it has the last page.
    params: PageParams | None = p.params
    seen: set[str] = set()
    fetched = 0
    while params is not None:
        await credits.acquire()
        page = await p.fetch(params)
        fetched += len(page_items(page))
        limit_reached = p.max_items is not None and fetched >= p.max_items
        await send.send((params.page_token, page, limit_reached or next_token(page) is None))
        if limit_reached:
            return
        params = next_params(params, page, seen)


async def _produce_offset(
    p: Paginator[Any, Any], credits: anyio.Semaphore, send: ObjectSendStream[Any]
) -> None:
    params = p.params
    start = params.page_offset or 0
    size = params.page_size or DEFAULT_ITERATION_PAGE_SIZE
    await credits.acquire()
    first = await p.fetch(attrs.evolve(params, page_offset=start, page_size=size))
    seen: set[Hashable] = set()
    total = _field(first, "totalItemCount", "total_item_count")
    short = len(page_items(first)) < size
    end = total if isinstance(total, int) else MAX_OFFSET_ROWS
    if p.max_items is not None:
        end = min(end, start + p.max_items)
    await send.send((None, _dedup(first, seen), short or start + size >= end))
    if short:
        return
    if not isinstance(total, int):
        # Without a total the pages can only be walked one after another.
        offset = start + size
        while offset < MAX_OFFSET_ROWS:
            await credits.acquire()
            page = await p.fetch(attrs.evolve(params, page_offset=offset, page_size=size))
            short = len(page_items(page)) < size
            await send.send((None, _dedup(page, seen), short or offset + size >= MAX_OFFSET_ROWS))
            if short:
                return
            offset += size
        _warn_cap(None)
        return
    if end > MAX_OFFSET_ROWS:
        _warn_cap(total)
        end = MAX_OFFSET_ROWS
    offsets = list(range(start + size, end, size))
    results: dict[int, Any] = {}
    ready: dict[int, anyio.Event] = {o: anyio.Event() for o in offsets}
    slots = anyio.Semaphore(max(_OFFSET_WINDOW_MIN, p.prefetch))

    async def fetch_one(offset: int) -> None:
        try:
            page = attrs.evolve(params, page_offset=offset, page_size=size)
            results[offset] = await p.fetch(page)
        except Exception as exc:
            results[offset] = Failed(exc)
        ready[offset].set()

    async def launcher() -> None:
        for offset in offsets:
            await slots.acquire()
            tg.start_soon(fetch_one, offset)

    # Pages after the first are independent: a window of them is fetched concurrently and
    # handed on in order.
    async with anyio.create_task_group() as tg:
        tg.start_soon(launcher)
        for i, offset in enumerate(offsets):
            await ready[offset].wait()
            result = results.pop(offset)
            slots.release()
            if isinstance(result, Failed):
                tg.cancel_scope.cancel()
                error = result.error
                break
            await credits.acquire()
            await send.send((None, _dedup(result, seen), i == len(offsets) - 1))
        else:
            return
    raise error


def _warn_cap(total: int | None) -> None:
    have = f"{total:,} rows match" if total is not None else "more rows match"
    warnings.warn(
        f"{have}, but ICA serves at most {MAX_OFFSET_ROWS:,} rows with offset paging (sort); "
        "iteration stops there. Iterate without sort (cursor paging) to get every row.",
        RuntimeWarning,
        stacklevel=2,
    )


def _dedup(page: T, seen: set[Hashable]) -> T:
    items = page_items(page)
    kept = []
    for item in items:
        key = item_key(item)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(item)
    return page if len(kept) == len(items) else _with_items(page, kept)


class ItemIterator(Closing, Generic[ItemT]):
    """Async iterator over every item across pages. Runs once; close it (``aclose()`` or
    ``async with``) to stop at once, or just drop it: its look-ahead is then cancelled when it
    is garbage-collected.

    ``resume_token`` is the cursor of the page holding the next item not yet delivered (after
    a page's last item: the cursor of the next page; ``None`` once every item was delivered).
    Resuming from it with ``page_token=`` never skips an item, but repeats the items of a
    partly consumed page that were already delivered: ``items_in_page`` of them.
    """

    def __init__(self, paginator: Paginator[Any, ItemT]) -> None:
        self._pages: PageIterator[Any] = PageIterator(paginator)
        self._buffer: list[ItemT] = []
        self._index = 0
        self._max = paginator.max_items
        self._closed = False
        self.items_yielded = 0

    @property
    def state(self) -> IteratorState:
        """``"new"``, ``"running"``, ``"exhausted"``, ``"closed"`` or ``"failed"``."""
        if self._max is not None and self.items_yielded >= self._max:
            return "exhausted"
        if self._closed:
            return "closed"
        pages = self._pages.state
        if pages == "exhausted" and self._index < len(self._buffer):
            return "running"
        return pages

    @property
    def resume_token(self) -> str | None:
        """Cursor to resume from (see the class docstring)."""
        if self._index < len(self._buffer):
            return self._pages.page_cursor
        return self._pages.resume_token

    @property
    def items_in_page(self) -> int:
        """Items of the page ``resume_token`` points at that were already delivered."""
        return self._index if self._index < len(self._buffer) else 0

    def __aiter__(self) -> Self:
        state = self.state
        if state in FINISHED:
            raise reuse_error(self, state)
        return self

    async def aclose(self) -> None:
        """Stop fetching: cancel in-flight page requests."""
        if self.state not in FINISHED:
            self._closed = True
        await self._pages.aclose()

    async def __anext__(self) -> ItemT:
        if self._max is not None and self.items_yielded >= self._max:
            await self._pages.aclose()
            raise StopAsyncIteration
        while self._index >= len(self._buffer):
            page = await self._pages.__anext__()
            self._buffer = page_items(page)
            self._index = 0
            if isinstance(page, dict):  # raw mode
                for raw in self._buffer:
                    check_raw_item(raw)
        item = self._buffer[self._index]
        self._index += 1
        self.items_yielded += 1
        return item


class Paginator(Generic[PageT, ItemT]):
    """The value of a paged operation: ``await`` it for one page, ``async for`` it for items.

    * ``await ica.search_workflow_sessions(pid)`` — exactly one page, as the server sent it.
    * ``async for ws in ica.search_workflow_sessions(pid)`` — every item across pages, with
      look-ahead (``prefetch`` pages fetched ahead of the consumer).
    * ``async for page in ica.search_workflow_sessions(pid).pages()`` — every page.

    Iterating sends ``pageSize=1000`` unless ``page_size`` was given. With ``sort`` or
    ``page_offset`` it uses offset paging: after the first page, the remaining pages are fetched
    concurrently and yielded in order with repeated rows dropped (ICA caps this at 200,000 rows).

    A Paginator can be iterated any number of times: each ``async for`` (and each
    ``.pages()``) starts a new iterator from the parameters of the call. The iterators
    themselves run once. Leaving a loop early cancels the look-ahead as soon as the iterator is
    garbage-collected (at once in CPython, unless something still references it); ``async
    with`` / ``contextlib.aclosing`` around the iterator cancels it deterministically.
    """

    def __init__(
        self,
        start_producer: StartProducer,
        fetch_with_response: Callable[[PageParams], Awaitable[tuple[Any, Answer]]],
        params: PageParams,
        *,
        prefetch: int,
        max_items: int | None,
    ) -> None:
        self.start_producer = start_producer
        self.fetch_with_response = fetch_with_response
        self.given_params = params
        self.prefetch = prefetch
        self.max_items = max_items
        size = params.page_size or DEFAULT_ITERATION_PAGE_SIZE
        if max_items is not None and not params.offset_mode:
            size = min(size, max_items)
        self.params = attrs.evolve(params, page_size=size)

    def __await__(self) -> Generator[Any, None, PageT]:
        return self.fetch(self.given_params).__await__()

    async def fetch(self, params: PageParams) -> PageT:
        """Fetch the one page ``params`` select (validated, wire-ready)."""
        page, _ = await self.fetch_with_response(params)
        return page  # type: ignore[no-any-return]

    def __aiter__(self) -> ItemIterator[ItemT]:
        return ItemIterator(self)

    def pages(self) -> PageIterator[PageT]:
        """Iterate page by page (same look-ahead as item iteration)."""
        return PageIterator(self)

    async def collect(self) -> list[ItemT]:
        """Every item in a list (bounded by ``max_items`` if set)."""
        async with self.__aiter__() as it:
            return [item async for item in it]


def validate_iteration(
    prefetch: int | None, max_items: int | None
) -> tuple[int | None, int | None]:
    """Check the iteration keywords shared by the paged operations."""
    if prefetch is not None:
        param_int("prefetch", prefetch, 0)
    if max_items is not None:
        param_int("max_items", max_items, 1)
    return prefetch, max_items
