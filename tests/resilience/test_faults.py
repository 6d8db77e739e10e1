"""Resilience against the fake ICA over loopback TCP: faults, 429 storms, persistent failure,
token expiry under load, timeouts. Every item arrives exactly once, or a typed error says why."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

import aioica
from aioica.testing import Dataset, FakeICA, serve

pytestmark = pytest.mark.tcp

P = "demo-project"
PATIENT = aioica.RetryPolicy(max_attempts=12, backoff_base=0.01, backoff_cap=0.05)


async def export_ids(ica: aioica.Session, **kwargs: Any) -> dict[str, Any]:
    sessions: list[str] = []
    inputs = configurations = 0
    analyses: list[str] = []
    async for record in ica.export_workflow_sessions(P, **kwargs):
        sessions.append(str(record.workflow_session.id))
        inputs += len(record.inputs or ())
        configurations += len(record.configurations or ())
        analyses += [str(a.analysis.id) for a in record.analyses or () if a.analysis]
    return {
        "sessions": sessions,
        "inputs": inputs,
        "configurations": configurations,
        "analyses": analyses,
    }


def dataset_ids(fake: FakeICA) -> dict[str, Any]:
    ds = fake.dataset
    sessions = ds.session_ids(P)
    return {
        "sessions": sorted(sessions),
        "analyses": sorted(a for sid in sessions for a in ds.analysis_ids(P, sid)),
    }


@pytest.mark.anyio
async def test_export_with_ten_percent_faults_loses_nothing() -> None:
    fake = FakeICA(Dataset(seed=21, sessions=90, analyses=3))
    faults = fake.faults
    faults.seed = 7
    fake.reseed()
    faults.rate_429 = 0.03
    faults.retry_after = (0, 1)
    faults.rate_5xx = 0.03
    faults.statuses_5xx = (502, 503)
    faults.html_fraction = 0.5
    faults.rate_drop = 0.02
    faults.rate_truncate = 0.02
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=16, retry=PATIENT
        ) as ica:
            got = await export_ids(ica, page_size=20)
    want = dataset_ids(fake)
    assert sorted(got["sessions"]) == want["sessions"]
    assert len(got["sessions"]) == len(set(got["sessions"]))
    assert sorted(got["analyses"]) == want["analyses"]
    assert len(got["analyses"]) == len(set(got["analyses"]))
    assert got["inputs"] > 0 and got["configurations"] > 0
    # The faults really happened, every kind of them.
    for kind in ("429", "drop", "truncate"):
        assert fake.counters.faults[kind] > 0, kind
    assert fake.counters.faults["502"] + fake.counters.faults["503"] > 0


@pytest.mark.anyio
async def test_persistent_503_raises_typed_error_after_the_attempts() -> None:
    fake = FakeICA(Dataset(seed=22, sessions=10))
    fake.faults.rate_5xx = 1.0
    fake.faults.statuses_5xx = (503,)
    policy = aioica.RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_cap=0.2)
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, retry=policy
        ) as ica:
            started = time.monotonic()
            with pytest.raises(aioica.ServerError) as info:
                async for _ in ica.search_workflow_sessions(P):
                    pass
            elapsed = time.monotonic() - started
    assert info.value.status_code == 503
    assert info.value.attempts == 4
    assert len(info.value.history) == 3
    assert fake.counters.by_route["searchWorkflowSessions"] == 4
    # Nothing hangs: the backoff schedule's ceiling is 0.05 + 0.1 + 0.2 s.
    assert elapsed < 0.35 + 5


@pytest.mark.anyio
async def test_429_storm_pauses_the_whole_session() -> None:
    fake = FakeICA(Dataset(seed=23, sessions=60, analyses=1))
    fake.faults.latency_ms = 5
    fake.faults.retry_after = (1, 1)
    fake.faults.push(429, "ok", "ok", 429)
    concurrency = 8
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=concurrency
        ) as ica:
            got = await export_ids(ica, page_size=10)
    assert len(got["sessions"]) == 60
    throttles = list(fake.counters.throttle_times)
    times = sorted(fake.counters.request_times)
    assert len(throttles) == 2
    for t in throttles:
        inside = [r for r in times if t < r < t + 0.95]
        # Only requests already past the gate when the 429 arrived may land inside the window.
        assert len(inside) <= concurrency - 1, (t, inside)


@pytest.mark.anyio
async def test_budget_429s_are_absorbed() -> None:
    fake = FakeICA(Dataset(seed=24, sessions=40, analyses=1))
    fake.faults.budget_per_second = 15
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=16
        ) as ica:
            got = await export_ids(ica, page_size=10, include=("inputs",))
    assert sorted(got["sessions"]) == dataset_ids(fake)["sessions"]
    assert fake.counters.faults["budget"] > 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_token_expiry_under_load_single_flight() -> None:
    ttl = 2.0
    fake = FakeICA(Dataset(seed=25, sessions=800, analyses=2), jwt_ttl=ttl)
    fake.faults.latency_ms = 80
    auth = aioica.TokenAuth(api_key=fake.api_key)
    async with serve(fake) as url:
        async with aioica.Session(auth=auth, base_url=url, max_concurrency=32) as ica:
            started = time.monotonic()
            got = await export_ids(ica, page_size=20)
            elapsed = time.monotonic() - started
    assert sorted(got["sessions"]) == dataset_ids(fake)["sessions"]
    assert sorted(got["analyses"]) == dataset_ids(fake)["analyses"]
    assert elapsed > 2 * ttl  # the export outlived several tokens
    # Tokens are renewed ahead of expiry; a request already on the wire when its token crossed
    # `exp` (whole seconds, so a 2 s TTL lives 1-2 s with a 0.1-0.2 s margin) may meet a 401,
    # which renews once and replays once: never more than one per request in flight.
    assert fake.counters.by_status[401] <= 32
    # Roughly one mint per TTL (single-flight), not one per request.
    assert 2 <= fake.counters.tokens_minted <= elapsed / (ttl * 0.5) + 2
    assert auth.mint_count == fake.counters.tokens_minted


@pytest.mark.anyio
async def test_server_that_never_answers_times_out() -> None:
    fake = FakeICA(Dataset(seed=26, sessions=5))
    fake.faults.rate_hang = 1.0
    fake.faults.hang_seconds = 30
    policy = aioica.RetryPolicy(max_attempts=2, backoff_base=0.0)
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, timeout=0.3, retry=policy
        ) as ica:
            with anyio.fail_after(10), pytest.raises(aioica.APITimeoutError) as info:
                await ica.get_workflow_session_inputs(P, fake.dataset.session_ids(P)[0])
    assert info.value.attempts == 2
    assert "timeout" in str(info.value)


@pytest.mark.anyio
async def test_cancellation_mid_export_over_tcp_leaks_nothing() -> None:
    fake = FakeICA(Dataset(seed=27, sessions=200, analyses=2))
    fake.faults.latency_ms = 30
    async with serve(fake) as url:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=16
        ) as ica:
            with anyio.move_on_after(0.3):
                async with ica.export_workflow_sessions(P) as export:
                    async for _ in export:
                        pass
            # The server finishes the answers it was sleeping on; nothing new arrives after.
            await anyio.sleep(0.2)
            seen = fake.counters.requests
            await anyio.sleep(0.2)
            assert fake.counters.requests == seen
            assert fake.counters.in_flight == 0
            # The session is still usable after the cancelled export.
            page = await ica.search_workflow_sessions(P, page_size=5)
            assert len(page.items) == 5

            # Without closing the iterator, the work left behind is bounded and ends with the
            # session.
            with anyio.move_on_after(0.3):
                async for _ in ica.export_workflow_sessions(P):
                    pass
        await anyio.sleep(0.2)
        seen = fake.counters.requests
        await anyio.sleep(0.2)
        assert fake.counters.requests == seen
