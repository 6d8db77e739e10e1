"""The shared-timer deadlines of asyncio sessions (aioica._deadlines)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from aioica._deadlines import DeadlineWatch

pytestmark = [
    pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Timeout is 3.11+"),
]


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_only_for_asyncio() -> None:
    assert DeadlineWatch.for_library("trio") is None
    assert DeadlineWatch.for_library(None) is None

    async def main() -> None:
        assert DeadlineWatch.for_library("asyncio") is not None

    run(main())


async def _bounded(watch: DeadlineWatch, seconds: float, work: float) -> str:
    outcome, _ = await _timed(watch, seconds, work)
    return outcome


async def _timed(watch: DeadlineWatch, seconds: float, work: float) -> tuple[str, float]:
    """Sleep ``work`` s under a ``seconds`` deadline: "done" or "expired", and the time taken."""
    started = time.monotonic()
    expiry = watch.expiry()
    try:
        async with expiry:
            watch.add(expiry, seconds)
            try:
                await asyncio.sleep(work)
            finally:
                watch.discard(expiry)
    except TimeoutError:
        assert expiry.expired()
        return "expired", time.monotonic() - started
    assert not expiry.expired()
    return "done", time.monotonic() - started


def test_each_request_ends_at_its_own_deadline() -> None:
    async def main() -> None:
        watch = DeadlineWatch(asyncio.get_running_loop())
        # The long deadline arms the timer first; the shorter ones added later re-arm it.
        results = await asyncio.gather(
            _timed(watch, 5.0, 0.3),
            _timed(watch, 0.1, 5.0),
            _timed(watch, 0.2, 5.0),
            _timed(watch, 0.05, 0.01),
        )
        assert [outcome for outcome, _ in results] == ["done", "expired", "expired", "done"]
        # Each expired at its own deadline: not before it, and not at the 5 s its work needed.
        (_, first), (_, second) = results[1], results[2]
        assert 0.1 <= first < 2.0
        assert 0.2 <= second < 2.0
        assert not watch._pending

    run(main())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        watch = DeadlineWatch(asyncio.get_running_loop())
        task = asyncio.ensure_future(_bounded(watch, 5.0, 5.0))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not watch._pending

    run(main())


def test_a_request_done_before_its_deadline_is_never_cancelled() -> None:
    async def main() -> None:
        watch = DeadlineWatch(asyncio.get_running_loop())
        for _ in range(50):
            assert await _bounded(watch, 0.02, 0) == "done"
        # The timer armed by the first request fires once, finds nothing and stops.
        await asyncio.sleep(0.05)
        assert watch._timer is None
        assert await _bounded(watch, 0.02, 0.001) == "done"

    run(main())
