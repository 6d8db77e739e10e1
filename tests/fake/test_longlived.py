"""Long-lived sessions: abandoned iterators stop by themselves, close from any task, one event
loop per session, single-use iterators and resume tokens, fail-fast under the 429 pause."""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica.testing import Dataset, FakeICA
from tests.support.mock_ica import BASE, PagedServer, session_for
from tests.support.payloads import SID
from tests.support.tasks import settle, tasks

P = "demo-project"


# -- abandoned iterators ------------------------------------------------------------------------


async def _abandon_every_way(ica: aioica.Session) -> None:
    async for _ws in ica.search_workflow_sessions(P, page_size=100):
        break
    async for _page in ica.search_workflow_sessions(P, page_size=100).pages():
        break
    async for _rec in ica.export_workflow_sessions(P, page_size=20, concurrency=4):
        break
    with pytest.raises(LookupError):
        async for _ws in ica.search_workflow_sessions(P, page_size=100, raw=True):
            raise LookupError

    async def first() -> Any:
        async for ws in ica.search_orchestrated_analyses(P, SESSION_ID[0], page_size=1):
            return ws
        return None

    assert await first() is not None


SESSION_ID: list[str] = []


@pytest.mark.anyio
async def test_many_abandoned_loops_leave_no_tasks_and_no_memory() -> None:
    fake = FakeICA(Dataset(seed=21, sessions=300, analyses=1))
    SESSION_ID[:] = [fake.dataset.session_ids(P)[0]]
    async with fake.session(max_concurrency=8) as ica:
        await _abandon_every_way(ica)  # warm up: imports, pools, caches
        await settle(lambda: len(ica._producers) == 0)
        gc.collect()
        baseline = tasks()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(40):
                await _abandon_every_way(ica)
            await settle(lambda: len(ica._producers) == 0 and fake.counters.in_flight == 0)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert tasks() == baseline
        sent = fake.counters.requests
        await anyio.sleep(0.1)
        assert fake.counters.requests == sent  # nothing goes on in the background
    # Before producers were cancelled on collection, 40 rounds kept 360 tasks and ~45 MiB
    # (each abandoned loop held its producer and its buffered pages).
    assert grown < 8 * 2**20, f"{grown / 2**20:.1f} MiB retained by 40 abandoned rounds"


def _hanging_after_first_page() -> tuple[PagedServer, aioica.Session]:
    server = PagedServer(100)
    original = server.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        if not token:
            return await original(request)
        # Every look-ahead request hangs until cancelled.
        server.requests.append(request)
        server.event(token).set()
        server.in_flight += 1
        try:
            await anyio.sleep(3600)
        except anyio.get_cancelled_exc_class():
            server.cancelled += 1
            raise
        finally:
            server.in_flight -= 1
        raise AssertionError("unreachable")

    server.handler = handler  # type: ignore[method-assign]
    return server, session_for(server)


@pytest.mark.parametrize("how", ["items", "pages", "exception", "return"])
@pytest.mark.anyio
async def test_dropping_an_iterator_cancels_its_in_flight_request(how: str) -> None:
    server, ica = _hanging_after_first_page()
    async with ica:
        if how == "items":
            async for _ in ica.search_workflow_sessions("p", page_size=10):
                await server.event("c/10").wait()
                break
        elif how == "pages":
            async for _ in ica.search_workflow_sessions("p", page_size=10).pages():
                await server.event("c/10").wait()
                break
        elif how == "exception":
            with pytest.raises(KeyError):
                async for _ in ica.search_workflow_sessions("p", page_size=10):
                    await server.event("c/10").wait()
                    raise KeyError
        else:

            async def first() -> Any:
                async for ws in ica.search_workflow_sessions("p", page_size=10):
                    await server.event("c/10").wait()
                    return ws
                return None

            assert await first() is not None
        # The look-ahead request (hanging for an hour) is cancelled without aclose().
        await settle(lambda: server.cancelled == 1 and server.in_flight == 0)
        assert len(ica._producers) == 0
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_dropping_an_export_cancels_its_requests() -> None:
    fake = FakeICA(Dataset(seed=22, sessions=300, analyses=3))
    fake.faults.latency_ms = 20
    async with fake.session(max_concurrency=16) as ica:
        async for _ in ica.export_workflow_sessions(P, page_size=50):
            break
        await settle(lambda: fake.counters.in_flight == 0 and len(ica._producers) == 0)
        seen = fake.counters.requests
        await anyio.sleep(0.1)
        assert fake.counters.requests == seen < 300


@pytest.mark.anyio
async def test_an_iterator_kept_referenced_keeps_running_until_closed() -> None:
    server = PagedServer(50)
    async with session_for(server) as ica:
        it = ica.search_workflow_sessions("p", page_size=10).__aiter__()
        async for _ in it:
            break
        gc.collect()
        # Still referenced: it may be continued, so its look-ahead is still there.
        assert len(ica._producers) == 1 and it.state == "running"
        rest = [ws async for ws in it]
        assert len(rest) == 49 and it.state == "exhausted"


# -- closing from anywhere ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_aclose_from_another_task_than_the_one_that_opened() -> None:
    server = PagedServer(1000)
    server.delay = 0.01
    ica = session_for(server)
    async with anyio.create_task_group() as tg:
        opened = anyio.Event()

        async def startup() -> None:  # a web framework's startup hook: enters, then ends
            await ica.__aenter__()
            opened.set()

        tg.start_soon(startup)
        await opened.wait()
    # The opening task is gone; the session works from other tasks.
    assert (await ica.search_workflow_sessions("p", page_size=10)).items
    it = ica.search_workflow_sessions("p", page_size=10).__aiter__()
    await it.__anext__()
    errors: list[BaseException] = []

    async def consumer() -> None:
        try:
            async for _ in it:
                await anyio.sleep(0.001)
        except BaseException as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        await anyio.sleep(0.05)

        async def shutdown() -> None:  # the shutdown hook runs in yet another task
            await ica.aclose()

        tg.start_soon(shutdown)
        tg.start_soon(shutdown)  # concurrent and repeated closes are fine
    await ica.aclose()
    assert len(ica._producers) == 0 and server.in_flight == 0
    # The loop still running when the session closed is told so, not silently ended.
    assert len(errors) == 1 and isinstance(errors[0], aioica.SessionClosedError)
    assert it.state == "closed"
    with pytest.raises(aioica.SessionClosedError):
        await ica.search_workflow_sessions("p")
    with pytest.raises(aioica.SessionClosedError):
        async for _ in ica.search_workflow_sessions("p"):
            pass


@pytest.mark.anyio
async def test_session_exit_cancels_everything_still_running() -> None:
    server, ica = _hanging_after_first_page()
    async with ica:
        kept = [ica.search_workflow_sessions("p", page_size=10).pages() for _ in range(5)]
        for it in kept:
            await it.__anext__()
        await settle(lambda: server.in_flight == 5)
    assert server.in_flight == 0 and server.cancelled == 5
    assert len(ica._producers) == 0
    assert all(it.state == "running" for it in kept)  # not exhausted: just cut off


# -- one event loop -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_trio_guest_task_in_the_sessions_thread_is_refused(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("a trio guest runs inside an asyncio loop")
    import sniffio

    fake = FakeICA(Dataset(seed=23, sessions=5))
    async with fake.session() as ica:
        await ica.get_workflow_sessions(P)
        sent = fake.counters.requests
        # What trio sets for each step of its tasks, guest mode included.
        sniffio.thread_local.name = "trio"
        try:
            with pytest.raises(aioica.WrongEventLoopError):
                await ica.get_workflow_sessions(P)
        finally:
            sniffio.thread_local.name = None
        assert fake.counters.requests == sent
        assert (await ica.get_workflow_sessions(P)).items


@pytest.mark.anyio
async def test_a_session_used_from_another_event_loop_raises_before_sending() -> None:
    fake = FakeICA(Dataset(seed=23, sessions=5))
    async with fake.session() as ica:
        await ica.get_workflow_sessions(P)
        sent = fake.counters.requests
        caught: list[BaseException] = []

        async def elsewhere() -> None:
            for attempt in (
                lambda: ica.search_workflow_sessions(P),
                lambda: ica.search_workflow_sessions(P).collect(),
                lambda: ica.export_workflow_sessions(P).__anext__(),
                ica.aclose,
            ):
                try:
                    await attempt()
                except aioica.ICAError as exc:
                    caught.append(exc)

        def in_thread() -> None:
            anyio.run(elsewhere, backend="asyncio")

        await anyio.to_thread.run_sync(in_thread)
        assert len(caught) == 4
        assert all(isinstance(e, aioica.WrongEventLoopError) for e in caught)
        assert "another event loop" in str(caught[0])
        assert fake.counters.requests == sent
        assert len(ica._producers) == 0
        # still usable where it belongs
        assert (await ica.get_workflow_sessions(P)).items


@pytest.mark.anyio
async def test_aiohttp_transport_under_trio_is_a_configuration_error(anyio_backend: str) -> None:
    ica = aioica.Session(auth=aioica.ApiKeyAuth("k"), base_url=BASE, transport="aiohttp")
    if anyio_backend == "trio":
        with pytest.raises(aioica.ConfigurationError, match="asyncio only"):
            await ica.__aenter__()
    else:
        async with ica:
            assert ica.transport_name == "aiohttp"


# -- iterators mean one thing -------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_paginator_iterates_again_and_an_iterator_runs_once() -> None:
    server = PagedServer(25)
    async with session_for(server) as ica:
        paginator = ica.search_workflow_sessions("p", page_size=10)
        first = [str(ws.id) async for ws in paginator]
        again = [str(ws.id) async for ws in paginator]
        assert first == again == server.ids  # each `async for` runs the listing again

        items = paginator.__aiter__()
        assert items.state == "new"
        assert len([ws async for ws in items]) == 25
        assert items.state == "exhausted" and items.resume_token is None
        with pytest.raises(aioica.IteratorFinishedError, match="exhausted"):
            async for _ in items:
                pass
        with pytest.raises(StopAsyncIteration):  # the protocol itself stays as Python's
            await items.__anext__()

        pages = paginator.pages()
        async with pages:
            await pages.__anext__()
        assert pages.state == "closed"
        with pytest.raises(aioica.IteratorFinishedError, match="closed"):
            async for _ in pages:
                pass

        # Continuing a loop that was left early is fine: the iterator has not finished.
        it = paginator.__aiter__()
        async for _ in it:
            break
        assert len([ws async for ws in it]) == 24


@pytest.mark.anyio
async def test_an_export_runs_once() -> None:
    fake = FakeICA(Dataset(seed=24, sessions=12, analyses=1))
    async with fake.session() as ica:
        export = ica.export_workflow_sessions(P, page_size=5)
        assert export.state == "new"
        assert len([r async for r in export]) == 12
        assert export.state == "exhausted"
        with pytest.raises(aioica.IteratorFinishedError, match="Export is exhausted"):
            async for _ in export:
                pass
        failed = ica.export_workflow_sessions("no-such-project", retry=aioica.RetryPolicy.none())
        with pytest.raises(aioica.NotFoundError):
            async for _ in failed:
                pass
        assert failed.state == "failed"
        with pytest.raises(aioica.IteratorFinishedError, match="failed"):
            async for _ in failed:
                pass


@pytest.mark.parametrize("stop", range(26))
@pytest.mark.anyio
async def test_item_resume_token_never_skips(stop: int) -> None:
    server = PagedServer(25)
    async with session_for(server) as ica:
        got: list[str] = []
        it = ica.search_workflow_sessions("p", page_size=10).__aiter__()
        async with it:
            while len(got) < stop:
                got.append(str((await it.__anext__()).id))
            token, repeat = it.resume_token, it.items_in_page
        state = it.state
        if stop == 25:
            assert state == "exhausted" and token is None
            return
        assert state == "closed"
        assert repeat == stop % 10  # the delivered items of the page it points at
        rest = [
            str(ws.id)
            async for ws in ica.search_workflow_sessions("p", page_size=10, page_token=token)
        ]
        # Resuming repeats the delivered part of a partly consumed page, never skips.
        assert rest[:repeat] == got[len(got) - repeat :]
        assert got + rest[repeat:] == server.ids


@pytest.mark.anyio
async def test_page_resume_token_with_max_items_and_offset_mode() -> None:
    server = PagedServer(50)
    async with session_for(server) as ica:
        async with ica.search_workflow_sessions("p", page_size=10, max_items=20).pages() as it:
            assert len([p async for p in it]) == 2
            # The limit was reached, the listing was not: the token continues after it.
            assert it.state == "exhausted" and it.resume_token == "c/20"
        async with ica.search_workflow_sessions("p", page_size=10, sort="status").pages() as it:
            await it.__anext__()
            assert it.resume_token is None and it.state == "running"  # offset: no cursor
            assert len([p async for p in it]) == 4 and it.state == "exhausted"


# -- fail fast under the 429 pause --------------------------------------------------------------


def _pause_server(retry_after: str) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                429,
                headers={"Retry-After": retry_after, "Content-Type": "application/problem+json"},
                content=json.dumps({"title": "Too Many Requests", "status": 429}).encode(),
            )
        return httpx.Response(200, json={"items": []})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


@pytest.mark.anyio
async def test_a_call_that_may_not_wait_fails_fast_during_the_pause() -> None:
    client, seen = _pause_server("30")
    async with aioica.Session(
        auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client
    ) as ica:
        bulk_started = anyio.Event()

        async def bulk() -> None:  # default policy: honours the 30 s pause
            bulk_started.set()
            await ica.get_workflow_session_inputs("p", SID)

        async with anyio.create_task_group() as tg:
            tg.start_soon(bulk)
            await bulk_started.wait()
            await settle(
                lambda: ica._requester is not None and ica._requester.gate.paused_until > 0
            )
            for policy, why in (
                (aioica.RetryPolicy.none(), "never waits"),
                (aioica.RetryPolicy(max_retry_after=5), "max_retry_after=5 s"),
            ):
                with anyio.fail_after(5):  # at once, not after the 30 s pause
                    with pytest.raises(aioica.RateLimitError, match=why) as info:
                        await ica.get_workflow_session_inputs("p", SID, retry=policy)
                error = info.value
                assert "not sent" in str(error) and "paused for" in str(error)
                assert error.status_code == 429 and error.request is None
                assert error.retry_after is not None and 20 < error.retry_after <= 30
                assert error.attempts == 0
            assert len(seen) == 1  # neither call reached the server
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_call_that_may_wait_waits_for_the_pause() -> None:
    client, seen = _pause_server("0.3")
    async with aioica.Session(
        auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client
    ) as ica:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)
            await settle(
                lambda: ica._requester is not None and ica._requester.gate.paused_until > 0
            )
            paused_until = ica._requester.gate.paused_until  # type: ignore[union-attr]
            await ica.get_workflow_session_inputs(
                "p", SID, retry=aioica.RetryPolicy(max_attempts=2)
            )
            assert anyio.current_time() >= paused_until
    assert len(seen) == 3


# -- event hooks --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_events_for_a_retried_call_and_a_pause(caplog: pytest.LogCaptureFixture) -> None:
    answers = [503, 429, 200]
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = answers[len(seen) - 1]
        headers = {"Retry-After": "0.05"} if status == 429 else {}
        return httpx.Response(status, headers=headers, json={"items": []})

    events: list[aioica.RequestEvent] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with aioica.Session(
        auth=aioica.ApiKeyAuth("secret-key"),
        base_url=BASE,
        http_client=client,
        retry=aioica.RetryPolicy(backoff_base=0.001, backoff_cap=0.002),
        on_event=events.append,
    ) as ica:
        await ica.search_workflow_sessions("p", page_size=5, page_token="tok")
    kinds = [(e.kind, e.attempt, e.status) for e in events]
    assert kinds == [
        ("request", 1, None),
        ("response", 1, 503),
        ("retry", 1, 503),
        ("request", 2, None),
        ("response", 2, 429),
        ("retry", 2, 429),
        ("pause", 2, 429),
        ("request", 3, None),
        ("response", 3, 200),
    ]
    assert {e.call for e in events} == {1}
    assert {e.method for e in events} == {"POST"}
    assert {e.path for e in events} == {"/ica/rest/api/projects/p/workflowSessions:search"}
    assert isinstance(events[1].error, aioica.ServerError) and events[-1].error is None
    assert all(e.elapsed is not None and e.elapsed >= 0 for e in events if e.kind == "response")
    assert events[6].wait == pytest.approx(0.05)
    assert all("secret-key" not in repr(e) and "tok" not in e.path for e in events)


@pytest.mark.anyio
async def test_a_raising_hook_is_logged_and_the_request_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def hook(event: aioica.RequestEvent) -> None:
        calls.append(event.kind)
        raise ValueError("broken exporter")

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"items": []}))
    )
    with caplog.at_level("WARNING", logger="aioica"):
        async with aioica.Session(
            auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client, on_event=hook
        ) as ica:
            result = await ica.get_workflow_session_inputs("p", SID)
    assert result.items == [] and calls == ["request", "response"]
    assert "on_event hook raised" in caplog.text and "broken exporter" in caplog.text


@pytest.mark.anyio
async def test_events_for_errors_and_refusals() -> None:
    events: list[aioica.RequestEvent] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if "inputs" in request.url.path:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(429, headers={"Retry-After": "30"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with aioica.Session(
        auth=aioica.ApiKeyAuth("k"),
        base_url=BASE,
        http_client=client,
        retry=aioica.RetryPolicy.none(),
        on_event=events.append,
    ) as ica:
        with pytest.raises(aioica.APIConnectionError):
            await ica.get_workflow_session_inputs("p", SID)
        assert [e.kind for e in events] == ["request", "error"]
        assert isinstance(events[1].error, aioica.APIConnectionError)
        # A 429 retried by one call pauses the session; a call that may not wait is refused.
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: ica.get_workflow_session_configurations(
                    "p", SID, retry=aioica.RetryPolicy(max_attempts=2)
                )
            )
            await settle(lambda: any(e.kind == "pause" for e in events))
            with pytest.raises(aioica.RateLimitError):
                await ica.get_workflow_session_inputs("p", SID)
            tg.cancel_scope.cancel()
    refused = [e for e in events if e.kind == "refused"]
    assert len(refused) == 1 and refused[0].wait is not None and refused[0].wait > 20
    assert isinstance(refused[0].error, aioica.RateLimitError)
    # the paused call was cancelled while sleeping: no request event for it after the pause
    assert [e.kind for e in events if e.call == 2] == ["request", "response", "retry", "pause"]


def test_on_event_must_be_a_plain_callable() -> None:
    async def coroutine_hook(event: aioica.RequestEvent) -> None:
        pass

    with pytest.raises(aioica.ConfigurationError, match="non-async"):
        aioica.Session(auth=aioica.ApiKeyAuth("k"), on_event=coroutine_hook)
    with pytest.raises(aioica.ConfigurationError, match="callable"):
        aioica.Session(auth=aioica.ApiKeyAuth("k"), on_event="print")  # type: ignore[arg-type]
