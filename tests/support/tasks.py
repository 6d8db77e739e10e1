"""Watching tasks settle: for tests about what is left running."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def settle(condition: Callable[[], bool]) -> None:
    """Let cancellations be delivered until ``condition`` holds (bounded, not timed)."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - the conditions have no event to wait on
            await anyio.sleep(0.01)


def tasks() -> int:
    return len(anyio.get_running_tasks())
