"""Paginators: one call that can be awaited (one page) or iterated (every item, every page).

Look-ahead runs in a producer task owned by the :class:`~aioica.Session`'s task group (see
``_background``); the number of pages it may fetch ahead is bounded by credits, one per page the
consumer asks for.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Awaitable, Callable, Generator, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
import httpx
from anyio.abc import ObjectSendStream

from ._background import BackgroundIterator, Closing, Failed
from ._errors import ICAError, InvalidParameterError, InvalidResponseError, PaginationError
from ._params import MAX_OFFSET_ROWS, PageParams

if TYPE_CHECKING:
    from ._session import Session

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


class PageIterator(BackgroundIterator[tuple[str | None, Any]], Generic[PageT]):
    """Async iterator over pages, with look-ahead. Close it (``aclose()`` or ``async with``).

    ``resume_token`` is the cursor that fetches the next page not yet yielded (``None`` once the
    last page has been yielded, or in offset mode): pass it as ``page_token`` to resume later.
    """

    def __init__(self, paginator: Paginator[PageT, Any]) -> None:
        # Unbounded buffer, bounded by credits: at most prefetch + 1 pages exist ahead of the
        # consumer, and with prefetch=0 nothing is fetched until asked for.
        super().__init__(paginator.session, math.inf)
        self._p = paginator
        self._credits = anyio.Semaphore(paginator.prefetch)
        self.resume_token: str | None = paginator.params.page_token
        self.pages_yielded = 0

    async def __anext__(self) -> PageT:
        # One credit per page asked for: the producer never runs more than `prefetch` ahead.
        self._credits.release()
        try:
            token, page = await self._receive()
        except StopAsyncIteration:
            self.resume_token = None
            raise
        self.resume_token = token
        self.pages_yielded += 1
        return page  # type: ignore[no-any-return]

    async def _produce(self, send: ObjectSendStream[Any]) -> None:
        produce = _produce_offset if self._p.params.offset_mode else _produce_cursor
        await produce(self._p, send, self._credits)


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
    p: Paginator[Any, Any], send: ObjectSendStream[Any], credits: anyio.Semaphore
) -> None:
    params: PageParams | None = p.params
    seen: set[str] = set()
    fetched = 0
    while params is not None:
        await credits.acquire()
        page = await p.fetch(params)
        fetched += len(page_items(page))
        await send.send((params.page_token, page))
        if p.max_items is not None and fetched >= p.max_items:
            return
        params = next_params(params, page, seen)


async def _produce_offset(
    p: Paginator[Any, Any], send: ObjectSendStream[Any], credits: anyio.Semaphore
) -> None:
    params = p.params
    start = params.page_offset or 0
    size = params.page_size or DEFAULT_ITERATION_PAGE_SIZE
    await credits.acquire()
    first = await p.fetch(attrs.evolve(params, page_offset=start, page_size=size))
    seen: set[Hashable] = set()
    await send.send((None, _dedup(first, seen)))
    total = _field(first, "totalItemCount", "total_item_count")
    if len(page_items(first)) < size:
        return
    if not isinstance(total, int):
        # Without a total the pages can only be walked one after another.
        offset = start + size
        while offset < MAX_OFFSET_ROWS:
            await credits.acquire()
            page = await p.fetch(attrs.evolve(params, page_offset=offset, page_size=size))
            await send.send((None, _dedup(page, seen)))
            if len(page_items(page)) < size:
                return
            offset += size
        _warn_cap(None)
        return
    end = total
    if p.max_items is not None:
        end = min(end, start + p.max_items)
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
        for offset in offsets:
            await ready[offset].wait()
            result = results.pop(offset)
            slots.release()
            if isinstance(result, Failed):
                tg.cancel_scope.cancel()
                error = result.error
                break
            await credits.acquire()
            await send.send((None, _dedup(result, seen)))
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
    """Async iterator over every item across pages. Close it (``aclose()`` or ``async with``).

    ``resume_token`` is the cursor of the page holding the next item not yet yielded: resuming
    from it may repeat up to one page's worth of items already seen.
    """

    def __init__(self, paginator: Paginator[Any, ItemT]) -> None:
        self._pages: PageIterator[Any] = PageIterator(paginator)
        self._buffer: list[ItemT] = []
        self._index = 0
        self._max = paginator.max_items
        self.items_yielded = 0

    @property
    def resume_token(self) -> str | None:
        """Cursor to resume from (see the class docstring)."""
        return self._pages.resume_token

    async def aclose(self) -> None:
        """Stop fetching: cancel in-flight page requests."""
        await self._pages.aclose()

    async def __anext__(self) -> ItemT:
        if self._max is not None and self.items_yielded >= self._max:
            await self.aclose()
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

    Leaving a loop early leaves the look-ahead to finish its current request in the background;
    to cancel it at once use ``async with`` / ``contextlib.aclosing`` around the iterator.
    """

    def __init__(
        self,
        session: Session,
        fetch_with_response: Callable[[PageParams], Awaitable[tuple[Any, httpx.Response]]],
        params: PageParams,
        *,
        prefetch: int,
        max_items: int | None,
    ) -> None:
        self.session = session
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
    if prefetch is not None and (
        isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0
    ):
        raise _param("prefetch", "must be an integer >= 0")
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
    ):
        raise _param("max_items", "must be an integer >= 1")
    return prefetch, max_items


def _param(name: str, message: str) -> ICAError:
    return InvalidParameterError(name, message)
