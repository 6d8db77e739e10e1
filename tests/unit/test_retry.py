"""Retry policy, Retry-After, the session-wide 429 gate, the token bucket (in-process)."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica._errors import parse_retry_after
from aioica._limits import RateGate, TokenBucket
from tests.support.payloads import SID

BASE = "https://ica.example.org/ica/rest"
PATH = f"/ica/rest/api/projects/p/workflowSessions/{SID}/inputs"
FAST = aioica.RetryPolicy(backoff_base=0.001, backoff_cap=0.002)


def scripted(
    answers: list[Callable[[httpx.Request], httpx.Response] | httpx.Response | Exception],
) -> tuple[httpx.AsyncClient, list[float]]:
    """A client whose n-th request gets the n-th answer (the last one repeats)."""
    stamps: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(anyio.current_time())
        answer = answers[min(len(stamps), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return httpx.Response(
                answer.status_code, headers=answer.headers, content=answer.content
            )
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), stamps


def ok() -> httpx.Response:
    return httpx.Response(200, json={"items": []})


def session(client: httpx.AsyncClient, **kwargs: Any) -> aioica.Session:
    kwargs.setdefault("retry", FAST)
    return aioica.Session(auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client, **kwargs)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@pytest.mark.anyio
async def test_retryable_statuses_then_success(status: int) -> None:
    client, stamps = scripted([httpx.Response(status, text="<html>x</html>"), ok()])
    async with session(client) as ica:
        result = await ica.get_workflow_session_inputs("p", SID)
    assert result.items == [] and len(stamps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@pytest.mark.anyio
async def test_client_errors_are_not_retried(status: int) -> None:
    client, stamps = scripted([httpx.Response(status, json={"title": "x"}), ok()])
    async with session(client) as ica:
        with pytest.raises(aioica.APIStatusError):
            await ica.get_workflow_session_inputs("p", SID)
    assert len(stamps) == 1


@pytest.mark.anyio
async def test_connection_errors_and_timeouts_are_retried_for_every_operation() -> None:
    client, stamps = scripted(
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ok(),
        ]
    )
    async with session(client) as ica:
        await ica.search_workflow_sessions("p")
    assert len(stamps) == 4


@pytest.mark.anyio
async def test_exhausted_attempts_raise_last_typed_error_with_history() -> None:
    client, stamps = scripted(
        [
            httpx.ConnectError("refused"),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(503, text="<html>unavailable</html>"),
        ]
    )
    policy = aioica.RetryPolicy(max_attempts=3, backoff_base=0.001)
    async with session(client, retry=policy) as ica:
        with pytest.raises(aioica.ServerError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    err = info.value
    assert err.status_code == 503
    assert err.attempts == 3
    assert "after 3 attempts" in str(err)
    assert [type(e) for e in err.history] == [aioica.APIConnectionError, aioica.ServerError]
    assert len(stamps) == 3


@pytest.mark.anyio
async def test_per_call_policy_overrides_session_policy() -> None:
    client, stamps = scripted([httpx.Response(503)])
    async with session(client) as ica:
        with pytest.raises(aioica.ServerError) as info:
            await ica.get_workflow_session_inputs("p", SID, retry=aioica.RetryPolicy.none())
    assert info.value.attempts == 1 and len(stamps) == 1


@pytest.mark.anyio
async def test_retry_after_seconds_is_honoured() -> None:
    client, stamps = scripted([httpx.Response(429, headers={"Retry-After": "0.3"}), ok()])
    async with session(client) as ica:
        await ica.get_workflow_session_inputs("p", SID)
    assert stamps[1] - stamps[0] >= 0.3


@pytest.mark.anyio
async def test_retry_after_beyond_cap_fails_saying_how_long() -> None:
    client, stamps = scripted([httpx.Response(429, headers={"Retry-After": "3600"}), ok()])
    async with session(client, retry=aioica.RetryPolicy(max_retry_after=30)) as ica:
        with pytest.raises(aioica.RateLimitError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert info.value.retry_after == 3600
    assert "3600 s" in str(info.value)
    assert len(stamps) == 1


def test_parse_retry_after_forms() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    parsed = parse_retry_after(date, now=now)
    assert parsed is not None and 118 <= parsed <= 121
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk) is None


def test_backoff_full_jitter_is_bounded() -> None:
    policy = aioica.RetryPolicy(backoff_base=0.5, backoff_cap=4)
    assert policy.backoff(1, rng=lambda: 1.0) == 0.5
    assert policy.backoff(3, rng=lambda: 1.0) == 2.0
    assert policy.backoff(10, rng=lambda: 1.0) == 4.0
    assert policy.backoff(10, rng=lambda: 0.0) == 0.0
    with pytest.raises(ValueError, match="max_attempts"):
        aioica.RetryPolicy(max_attempts=0)
    with pytest.raises(AttributeError):
        policy.max_attempts = 3  # type: ignore[misc]


@pytest.mark.anyio
async def test_one_429_pauses_the_whole_session() -> None:
    first_429: list[float] = []
    stamps: list[float] = []
    hit = False

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal hit
        now = anyio.current_time()
        stamps.append(now)
        if not hit:
            hit = True
            first_429.append(now)
            return httpx.Response(429, headers={"Retry-After": "0.4"})
        await anyio.sleep(0.01)
        return ok()

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with session(client, max_concurrency=4) as ica, anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)
    assert len(stamps) == 21
    window_end = first_429[0] + 0.4
    # Nothing was sent inside the Retry-After window except what was already in flight
    # (at most max_concurrency - 1 requests that had passed the gate before the 429).
    inside = [t for t in stamps[1:] if first_429[0] < t < window_end - 0.01]
    assert len(inside) <= 3


@pytest.mark.anyio
async def test_max_concurrency_bounds_in_flight_requests() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.005)
        in_flight -= 1
        return ok()

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with session(client, max_concurrency=5) as ica, anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)
    assert peak == 5


@pytest.mark.anyio
async def test_rate_limit_token_bucket() -> None:
    client, stamps = scripted([ok()])
    async with session(client, rate_limit=50) as ica, anyio.create_task_group() as tg:
        for _ in range(80):
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)
    # 50 go out in the initial burst, the other 30 at 50/s: the last leaves >= 0.6 s later.
    assert stamps[-1] - stamps[0] >= 0.55
    with pytest.raises(ValueError, match="rate_limit"):
        TokenBucket(0)


@pytest.mark.anyio
async def test_persistent_503_gives_up_within_the_backoff_schedule() -> None:
    client, stamps = scripted([httpx.Response(503, text="<html>down</html>")])
    policy = aioica.RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_cap=0.1)
    started = anyio.current_time()
    async with session(client, retry=policy) as ica:
        with pytest.raises(aioica.ServerError) as info:
            async for _ in ica.search_workflow_sessions("p"):
                pass
    elapsed = anyio.current_time() - started
    assert info.value.attempts == 4 and len(stamps) == 4
    assert elapsed < 0.05 + 0.1 + 0.1 + 2.0  # the schedule's ceiling, plus generous slack


class LongestBackoff(aioica.RetryPolicy):
    """Every wait is the ceiling: no jitter draw can bring a retry inside a short window."""

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return super().backoff(attempt, lambda: 1.0)


@pytest.mark.anyio
async def test_cancellation_during_backoff_leaks_nothing() -> None:
    client, stamps = scripted([httpx.Response(503)])
    policy = LongestBackoff(max_attempts=5, backoff_base=10, backoff_cap=10)
    async with session(client, retry=policy) as ica:
        with anyio.move_on_after(0.2) as scope:
            await ica.get_workflow_session_inputs("p", SID)
        assert scope.cancelled_caught
        # The session still works afterwards: the limiter slot was released.
        client2_calls = len(stamps)
        with anyio.move_on_after(0.2):
            await ica.get_workflow_session_inputs("p", SID)
        assert len(stamps) == client2_calls + 1


@pytest.mark.anyio
async def test_gate_extends_never_shortens() -> None:
    gate = RateGate()
    gate.close_for(0.2)
    until = gate.paused_until
    gate.close_for(0.05)
    assert gate.paused_until == until
    start = anyio.current_time()
    await gate.wait()
    assert anyio.current_time() - start >= 0.19
