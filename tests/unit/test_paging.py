"""Paginators: await vs async for, look-ahead, early exit, loops, offset mode."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import pytest

import aioica
from tests.support.mock_ica import BASE, PagedServer, make_ids, session_for


@pytest.fixture
def open_session() -> Callable[..., Any]:
    def factory(server: PagedServer, **kwargs: Any) -> Any:
        return session_for(server, **kwargs)

    return factory


@pytest.mark.parametrize("last", [None, "", "<absent>"])
@pytest.mark.anyio
async def test_items_across_pages_every_item_once(last: Any) -> None:
    server = PagedServer(250, last_token=last)
    async with session_for(server) as ica:
        page = await ica.search_workflow_sessions("p", page_size=100)
        assert len(page.items) == 100 and page.next_page_token == "c/100"
        server.requests.clear()
        seen = [str(ws.id) async for ws in ica.search_workflow_sessions("p", page_size=100)]
    assert seen == server.ids
    assert len(server.requests) == 3
    assert [r.url.params.get("pageToken") for r in server.requests] == [None, "c/100", "c/200"]


@pytest.mark.anyio
async def test_iteration_defaults_to_page_size_1000_and_await_sends_what_was_given() -> None:
    server = PagedServer(1500)
    async with session_for(server) as ica:
        await ica.search_workflow_sessions("p")
        assert "pageSize" not in server.requests[-1].url.params
        n = 0
        async for _ in ica.search_workflow_sessions("p"):
            n += 1
    assert n == 1500
    assert [r.url.params["pageSize"] for r in server.requests[1:]] == ["1000", "1000"]


@pytest.mark.anyio
async def test_pages_and_resume_token() -> None:
    server = PagedServer(30)
    async with session_for(server) as ica:
        async with ica.search_workflow_sessions("p", page_size=10).pages() as pages:
            assert pages.state == "new" and pages.resume_token is None
            first = await pages.__anext__()
            assert len(first.items) == 10
            # the cursor of the first page not yet delivered
            assert pages.resume_token == "c/10" and pages.state == "running"
            second = await pages.__anext__()
            assert pages.resume_token == "c/20"
            assert second.items[0].id is not None
        assert pages.state == "closed"
        # resume later: exactly the pages not delivered, none repeated
        rest = [
            str(ws.id)
            async for ws in ica.search_workflow_sessions(
                "p", page_size=10, page_token=pages.resume_token
            )
        ]
        assert rest == server.ids[20:]
        async with ica.search_workflow_sessions("p", page_size=10, page_token="c/20").pages() as it:
            assert it.resume_token == "c/20"  # not started: where it will start
            last = await it.__anext__()
            # the last page: nothing left, and the state says so before StopAsyncIteration
            assert it.resume_token is None and it.state == "exhausted"
            assert len(last.items) == 10
            assert [p async for p in _rest(it)] == []


async def _rest(it: Any) -> AsyncIterator[Any]:
    while True:
        try:
            yield await it.__anext__()
        except StopAsyncIteration:
            return


@pytest.mark.anyio
async def test_lookahead_fetches_next_page_while_consumer_works() -> None:
    server = PagedServer(50)
    async with session_for(server) as ica:
        async with ica.search_workflow_sessions("p", page_size=10).pages() as pages:
            await pages.__anext__()
            # Without asking for page 2, its request is already under way (look-ahead of 1).
            with anyio.fail_after(5):
                await server.event("c/10").wait()
            await anyio.sleep(0.05)
            assert "c/20" not in server.requested  # ...but not further than prefetch=1
            got = [p async for p in pages]
    assert len(got) == 4


@pytest.mark.anyio
async def test_prefetch_zero_and_prefetch_three() -> None:
    server = PagedServer(100)
    async with session_for(server, prefetch=0) as ica:
        async with ica.search_workflow_sessions("p", page_size=10).pages() as pages:
            await pages.__anext__()
            await anyio.sleep(0.05)
            assert "c/10" not in server.requested
        async with ica.search_workflow_sessions("p", page_size=10, prefetch=3).pages() as pages:
            await pages.__anext__()
            with anyio.fail_after(5):
                await server.event("c/30").wait()
            await anyio.sleep(0.05)
            assert "c/40" not in server.requested


@pytest.mark.anyio
async def test_early_exit_cancels_in_flight_request() -> None:
    server = PagedServer(100)
    server.delay = 30  # every page request hangs: the look-ahead must be cancelled
    async with session_for(server) as ica:
        it = ica.search_workflow_sessions("p", page_size=10).pages()
        with anyio.move_on_after(0.2):
            await it.__anext__()
        await it.aclose()
        await anyio.sleep(0.05)
        assert server.in_flight == 0
        assert server.cancelled >= 1


@pytest.mark.anyio
async def test_break_with_aclosing_leaves_nothing_running() -> None:
    server = PagedServer(1000)
    async with session_for(server) as ica:
        async with aclosing(ica.search_workflow_sessions("p", page_size=10).__aiter__()) as it:
            async for _ws in it:
                break
        await anyio.sleep(0.05)
        assert server.in_flight == 0
        sent = len(server.requests)
        await anyio.sleep(0.1)
        assert len(server.requests) == sent <= 3


@pytest.mark.anyio
async def test_exception_in_consumer_then_session_close_leaks_nothing() -> None:
    server = PagedServer(1000)
    ica = session_for(server)
    with pytest.raises(RuntimeError, match="boom"):
        async with ica:
            async for _ws in ica.search_workflow_sessions("p", page_size=10):
                raise RuntimeError("boom")
    assert server.in_flight == 0


@pytest.mark.anyio
async def test_repeated_cursor_is_detected() -> None:
    server = PagedServer(100)
    server.loop_token = "c/10"
    async with session_for(server) as ica:
        with pytest.raises(aioica.PaginationError, match="second time"):
            async for _ in ica.search_workflow_sessions("p", page_size=10):
                pass
    assert len(server.requests) <= 3


@pytest.mark.anyio
async def test_max_items_and_raw_mode() -> None:
    server = PagedServer(100)
    async with session_for(server) as ica:
        got = await ica.search_workflow_sessions("p", page_size=10, max_items=25).collect()
        assert len(got) == 25
        assert len(server.requests) <= 4
        raw = await ica.search_workflow_sessions("p", raw=True, max_items=3).collect()
    assert all(isinstance(x, dict) for x in raw)
    assert [x["id"] for x in raw] == server.ids[:3]


@pytest.mark.anyio
async def test_offset_mode_concurrent_in_order_deduplicated() -> None:
    server = PagedServer(95, dup_offsets=True)
    server.delay = 0.02
    async with session_for(server) as ica:
        got = [
            str(ws.id)
            async for ws in ica.search_workflow_sessions("p", page_size=10, sort="startDate desc")
        ]
    assert got == server.ids  # in order, every row once, though pages overlapped
    assert server.max_in_flight > 1  # the pages after the first were fetched concurrently
    offsets = sorted(int(r.url.params["pageOffset"]) for r in server.requests)
    assert offsets == list(range(0, 100, 10))


@pytest.mark.anyio
async def test_offset_mode_caps_at_200k_rows_with_warning() -> None:
    server = PagedServer(0)
    server.ids = make_ids(10)

    async def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["pageOffset"])
        size = int(request.url.params["pageSize"])
        server.requests.append(request)
        items = [{"id": f"00000000-0000-4000-8000-{i:012d}"} for i in range(offset, offset + size)]
        return httpx.Response(200, json={"items": items, "totalItemCount": 250_000})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with aioica.Session(
        auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client
    ) as ica:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n = 0
            async for _ in ica.search_workflow_sessions(
                "p", sort="status", page_size=1000, raw=True
            ):
                n += 1
    assert n == 200_000
    assert any("200,000" in str(w.message) for w in caught)
    assert max(int(r.url.params["pageOffset"]) for r in server.requests) == 199_000


async def _drain(it: AsyncIterator[Any]) -> int:
    return len([x async for x in it])
