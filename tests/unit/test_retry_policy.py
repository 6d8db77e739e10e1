"""RetryPolicy.delay_for: the one place that decides whether and how long to wait (pure)."""

from __future__ import annotations

import httpx
import pytest

import aioica
from aioica._errors import error_for_response


def _status_error(status: int, retry_after: str | None = None) -> aioica.APIStatusError:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    request = httpx.Request("GET", "https://ica.example/ica/rest/api/x")
    return error_for_response(httpx.Response(status, headers=headers, request=request))


def test_retry_after_is_the_wait_and_the_error_is_left_alone() -> None:
    policy = aioica.RetryPolicy(max_retry_after=60)
    error = _status_error(429, "7")
    before = str(error)
    assert policy.delay_for(error, 1) == 7.0
    assert policy.refused_wait(error) is None
    assert str(error) == before


def test_too_long_retry_after_gives_up_without_touching_the_message() -> None:
    policy = aioica.RetryPolicy(max_retry_after=60)
    error = _status_error(503, "120")
    before = error.message
    assert policy.delay_for(error, 1) is None
    assert policy.refused_wait(error) == 120.0
    assert error.message == before


def test_backoff_and_attempts() -> None:
    policy = aioica.RetryPolicy(max_attempts=3, backoff_base=1.0, backoff_cap=10.0)
    error = _status_error(500)
    assert policy.delay_for(error, 1, rng=lambda: 1.0) == 1.0
    assert policy.delay_for(error, 2, rng=lambda: 1.0) == 2.0
    assert policy.delay_for(error, 3, rng=lambda: 1.0) is None
    assert policy.delay_for(_status_error(404), 1) is None
    assert policy.refused_wait(_status_error(404)) is None


@pytest.mark.parametrize(
    ("error", "timeouts", "connections", "expected"),
    [
        (aioica.APITimeoutError("t"), True, False, 0.5),
        (aioica.APITimeoutError("t"), False, True, None),
        (aioica.APIConnectionError("c"), False, True, 0.5),
        (aioica.APIConnectionError("c"), True, False, None),
        (aioica.InvalidResponseError("bad"), True, True, None),
        (ValueError("not an API error"), True, True, None),
    ],
)
def test_transport_failures_follow_the_switches(
    error: BaseException, timeouts: bool, connections: bool, expected: float | None
) -> None:
    policy = aioica.RetryPolicy(
        backoff_base=1.0, retry_timeouts=timeouts, retry_connection_errors=connections
    )
    assert policy.delay_for(error, 1, rng=lambda: 0.5) == expected
    assert aioica.RetryPolicy.none().delay_for(error, 1) is None
