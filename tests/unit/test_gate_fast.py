"""The session-wide 429 gate costs nothing while open, and still holds every request when it
closes, including one already queued for a slot (issue #15)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica._limits import RateGate

SID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.mark.anyio
async def test_a_gate_never_closed_returns_at_once_without_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_clock() -> float:
        raise AssertionError("the clock was read")

    gate = RateGate()
    monkeypatch.setattr(anyio, "current_time", no_clock)
    await gate.wait()
    await gate.wait(0.0)  # a deadline already past does not matter while the gate is open
    monkeypatch.undo()
    gate.close_for(0.0)
    await gate.wait()  # open again once the pause is over


@pytest.mark.anyio
async def test_a_pause_that_starts_while_a_request_queues_holds_it() -> None:
    started: list[float] = []
    first = anyio.Event()
    release = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(anyio.current_time())
        if len(started) == 1:
            first.set()
            await release.wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"items": []}'})

    async with aioica.Session(
        auth=aioica.ApiKeyAuth("k"),
        base_url="https://ica.test/ica/rest",
        transport=httpx.ASGITransport(app=app),
        max_concurrency=1,
    ) as ica:
        requester = ica._requester
        assert requester is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)  # holds the one slot
            tg.start_soon(ica.get_workflow_session_inputs, "p", SID)  # queues for it
            await first.wait()
            await anyio.sleep(0.05)  # the second call is queued for the slot by now
            requester.gate.close_for(0.3)
            paused_until = requester.gate.paused_until
            release.set()
    assert len(started) == 2
    assert started[1] >= paused_until
