"""Fault injection and counters of the fake ICA, in process and over loopback TCP."""

from __future__ import annotations

import anyio
import httpx
import pytest

from aioica.testing import Dataset, FakeICA, Faults, serve
from tests.support.contract import checked_client

WS = "/api/projects/demo-project/workflowSessions"


@pytest.fixture
def fake() -> FakeICA:
    return FakeICA(Dataset(sessions=6, analyses=1))


def _tcp_client(fake: FakeICA, url: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"X-API-Key": fake.api_key}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_429_with_retry_after(fake: FakeICA) -> None:
    fake.faults.rate_429 = 1.0
    fake.faults.retry_after = (0, 0)
    async with checked_client(fake) as c:
        r = await c.get(WS)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "0"
        fake.faults.retry_after = (2, 5)
        seconds = {int((await c.get(WS)).headers["retry-after"]) for _ in range(20)}
        assert seconds <= {2, 3, 4, 5}
        assert len(seconds) > 1
    assert fake.counters.by_status[429] == 21
    assert len(fake.counters.throttle_times) == 21
    assert fake.counters.throttle_times == sorted(fake.counters.throttle_times)
    assert fake.counters.request_times[0] <= fake.counters.throttle_times[0]


@pytest.mark.anyio
async def test_5xx_problem_and_html(fake: FakeICA) -> None:
    fake.faults.push(500, "html", 503, "ok")
    async with checked_client(fake) as c:
        first = await c.get(WS)
        html = await c.get(WS)
        third = await c.get(WS)
        fine = await c.get(WS)
        assert (first.status_code, html.status_code, third.status_code) == (500, 502, 503)
        assert first.headers["content-type"] == "application/problem+json"
        assert html.headers["content-type"] == "text/html"
        assert html.text.startswith("<html>")
        assert fine.status_code == 200
        fake.faults.rate_5xx = 1.0
        fake.faults.html_fraction = 0.0
        statuses = {(await c.get(WS)).status_code for _ in range(30)}
        assert statuses == {500, 502, 503}
    assert fake.counters.faults["html"] == 1


@pytest.mark.anyio
async def test_faults_are_reproducible_from_the_seed() -> None:
    async def run(seed: int) -> list[int]:
        fake = FakeICA(Dataset(sessions=2), faults=Faults(rate_5xx=0.3, rate_429=0.3, seed=seed))
        async with fake.http_client() as c:
            return [(await c.get(WS)).status_code for _ in range(30)]

    assert await run(1) == await run(1)
    assert await run(1) != await run(2)


@pytest.mark.anyio
async def test_request_budget(fake: FakeICA) -> None:
    fake.faults.budget_per_second = 2
    async with checked_client(fake) as c:
        statuses = [(await c.get(WS)).status_code for _ in range(6)]
    assert statuses[:2] == [200, 200]
    assert 429 in statuses
    assert fake.counters.faults["budget"] == statuses.count(429)


@pytest.mark.anyio
async def test_routes_restrict_faults_and_clear(fake: FakeICA) -> None:
    fake.faults.rate_5xx = 1.0
    fake.faults.routes = frozenset({"getWorkflowSessionInputs"})
    sid = fake.dataset.session_ids()[0]
    async with checked_client(fake) as c:
        assert (await c.get(WS)).status_code == 200
        assert (await c.get(f"{WS}/{sid}/inputs")).status_code >= 500
        fake.faults.clear()
        assert fake.faults.rate_5xx == 0
        assert (await c.get(f"{WS}/{sid}/inputs")).status_code == 200
    assert fake.counters.by_route["getWorkflowSessions"] == 1
    assert fake.counters.by_route["getWorkflowSessionInputs"] == 2
    fake.counters.reset()
    assert fake.counters.requests == 0


@pytest.mark.anyio
async def test_latency_is_applied(fake: FakeICA) -> None:
    fake.faults.latency_ms = 60_000
    async with fake.http_client() as c:
        with anyio.move_on_after(0.05) as scope:
            await c.get(WS)
    assert scope.cancelled_caught
    assert fake.counters.requests == 1
    assert not fake.counters.by_status  # never answered within the window


@pytest.mark.anyio
async def test_drop_truncate_and_hang_in_process(fake: FakeICA) -> None:
    fake.faults.push("drop", "truncate", "hang")
    async with fake.http_client() as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(WS)
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(WS)
        with anyio.move_on_after(0.2) as scope:
            await c.get(WS)
        assert scope.cancelled_caught
        assert (await c.get(WS)).status_code == 200
    assert fake.counters.faults["drop"] == fake.counters.faults["hang"] == 1


@pytest.mark.anyio
@pytest.mark.tcp
async def test_drop_truncate_hang_over_tcp(fake: FakeICA) -> None:
    async with serve(fake) as url, _tcp_client(fake, url) as c:
        fake.faults.push("drop")
        with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
            await c.get(WS)
        fake.faults.push("truncate")
        with pytest.raises(httpx.RemoteProtocolError, match="complete message"):
            await c.get(WS)
        fake.faults.push("hang")
        with pytest.raises(httpx.ReadTimeout):
            await c.get(WS, timeout=0.2)
        assert (await c.get(WS)).status_code == 200
    counters = fake.counters
    assert counters.faults["drop"] == counters.faults["truncate"] == counters.faults["hang"] == 1
    assert counters.requests == 4


@pytest.mark.anyio
@pytest.mark.tcp
async def test_in_flight_and_connections_over_tcp(fake: FakeICA) -> None:
    fake.faults.latency_ms = 100
    async with serve(fake) as url:
        async with _tcp_client(fake, url) as c:

            async def one() -> None:
                assert (await c.get(WS)).status_code == 200

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(one)
        assert fake.counters.max_in_flight == 8
        assert fake.counters.connections_seen == 8
        fake.faults.latency_ms = 0
        fake.counters.reset()
        async with _tcp_client(fake, url) as c:
            for _ in range(5):
                assert (await c.get(WS)).status_code == 200
        assert fake.counters.connections_seen == 1  # keep-alive reuse
        assert fake.counters.max_in_flight == 1
    assert fake.counters.by_status[200] == 5


@pytest.mark.anyio
async def test_random_drop_and_truncate_rates(fake: FakeICA) -> None:
    fake.faults.rate_drop = 0.5
    fake.faults.rate_truncate = 0.5
    async with fake.http_client() as c:
        for _ in range(10):
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(WS)
    assert fake.counters.faults["drop"] + fake.counters.faults["truncate"] == 10
    assert fake.counters.faults["drop"] and fake.counters.faults["truncate"]


@pytest.mark.anyio
@pytest.mark.tcp
async def test_stopping_the_server_releases_a_hanging_request(fake: FakeICA) -> None:
    fake.faults.rate_hang = 1.0
    outcome: list[object] = []
    with anyio.fail_after(10):  # a guard: hang_seconds is 300
        async with _tcp_client(fake, "http://unused") as c, anyio.create_task_group() as tg:
            async with serve(fake) as url:

                async def hang() -> None:
                    try:
                        outcome.append((await c.get(url + WS)).status_code)
                    except httpx.TransportError as exc:
                        outcome.append(exc)

                tg.start_soon(hang)
                for _ in range(1000):  # until the server holds the request
                    if fake.counters.faults["hang"]:
                        break
                    await anyio.sleep(0.01)
    assert len(outcome) == 1
    assert fake.counters.in_flight == 0


@pytest.mark.anyio
async def test_fail_session_breaks_one_session_always(fake: FakeICA) -> None:
    bad, good = fake.dataset.session_ids("demo-project")[:2]
    fake.faults.fail_session(bad, 503)
    fake.faults.routes = frozenset({"searchWorkflowSessions"})  # does not shield the session
    async with checked_client(fake) as c:
        for _ in range(3):
            assert (await c.get(f"{WS}/{bad}/inputs")).status_code == 503
            assert (await c.get(f"{WS}/{bad}/configurations")).status_code == 503
            assert (await c.post(f"{WS}/{bad}/analyses:search", json={})).status_code == 503
        assert (await c.get(f"{WS}/{good}/inputs")).status_code == 200
        assert (await c.post(f"{WS}:search", json={})).status_code == 200
        fake.faults.fail_session(bad, 404)
        assert (await c.get(f"{WS}/{bad}/inputs")).status_code == 404
        fake.faults.clear()
        assert (await c.get(f"{WS}/{bad}/inputs")).status_code == 200
    assert fake.counters.faults["503"] == 9
    with pytest.raises(ValueError, match="unknown fault action"):
        fake.faults.fail_session(bad, "ok")
    with pytest.raises(ValueError, match="unknown fault action"):
        fake.faults.fail_session(bad, "explode")
