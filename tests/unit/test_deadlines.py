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
        return "expired"
    assert not expiry.expired()
    return "done"


def test_each_request_ends_at_its_own_deadline() -> None:
    async def main() -> None:
        watch = DeadlineWatch(asyncio.get_running_loop())
        started = time.monotonic()
        # The long deadline arms the timer first; the shorter one added later re-arms it.
        outcomes = await asyncio.gather(
            _bounded(watch, 5.0, 0.3),
            _bounded(watch, 0.1, 5.0),
            _bounded(watch, 0.2, 5.0),
            _bounded(watch, 0.05, 0.01),
        )
        elapsed = time.monotonic() - started
        assert outcomes == ["done", "expired", "expired", "done"]
        assert elapsed < 2.0
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
