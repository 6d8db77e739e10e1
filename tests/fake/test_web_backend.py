"""examples/web_backend.py in process against the fake ICA: one Session for the app's life, and a
streaming client that disconnects midway leaves nothing running."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from starlette.requests import ClientDisconnect

import aioica
from aioica.testing import Dataset, FakeICA
from tests.support.paths import EXAMPLES
from tests.support.tasks import settle, tasks

P = "demo-project"

EXAMPLE = EXAMPLES / "web_backend.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_backend_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@pytest.mark.anyio
async def test_routes_share_one_session(example: ModuleType) -> None:
    fake = FakeICA(Dataset(seed=31, sessions=40, analyses=3))
    opened: list[aioica.Session] = []

    def open_session() -> aioica.Session:
        opened.append(fake.session())
        return opened[-1]

    app = example.create_app(open_session, P)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            listed = (await client.get("/sessions", params={"limit": 7})).json()
            assert [row["id"] for row in listed] == fake.dataset.session_ids(P)[:7]
            sid = listed[0]["id"]
            found = (await client.get(f"/sessions/{sid}/analyses")).json()
            assert [a["analysis"]["id"] for a in found] == fake.dataset.analysis_ids(P, sid)
            lines = (await client.get("/export")).text.splitlines()
            assert len(lines) == 40 and "workflowSession" in json.loads(lines[0])
            assert (await client.get("/sessions/not-a-uuid/analyses")).status_code == 400
    assert len(opened) == 1
    with pytest.raises(aioica.SessionClosedError):  # closed with the app
        await opened[0].get_workflow_sessions(P)


@pytest.mark.parametrize("asgi", ["2.0", "2.4"])
@pytest.mark.anyio
async def test_client_disconnecting_midway_leaves_nothing_running(
    example: ModuleType, asgi: str
) -> None:
    fake = FakeICA(Dataset(seed=32, sessions=400, analyses=3))
    fake.faults.latency_ms = 5
    app = example.create_app(lambda: fake.session(max_concurrency=16), P)
    async with app.router.lifespan_context(app):
        ica: aioica.Session = app.state.ica
        baseline = tasks()
        chunks: list[bytes] = []
        gone = anyio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if gone.is_set():
                if asgi == "2.4":  # servers report a vanished client by raising from send()
                    raise OSError("client disconnected")
                return  # older servers drop what is sent and say so in receive()
            if message["type"] == "http.response.body" and message.get("body"):
                chunks.append(message["body"])
                if len(chunks) == 3:
                    gone.set()  # the client reads three lines and goes away

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": asgi},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/export",
            "raw_path": b"/export",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"app")],
            "client": ("127.0.0.1", 50000),
            "server": ("app", 80),
        }
        with anyio.fail_after(30):
            if asgi == "2.4":
                with pytest.raises(ClientDisconnect):
                    await app(scope, receive, send)
            else:
                await app(scope, receive, send)
        assert 3 <= len(chunks) < 400
        # Nothing left: no producer, no task, no request in flight or still being made.
        await settle(
            lambda: (
                len(ica._producers) == 0 and fake.counters.in_flight == 0 and tasks() == baseline
            )
        )
        made = fake.counters.requests
        await anyio.sleep(0.1)
        assert fake.counters.requests == made
        assert made < 3 * 400  # the export stopped long before its end
