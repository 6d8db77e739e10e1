"""Serving the fake ICA: loopback TCP from asyncio and trio, a thread, the CLI, the fixtures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from aioica.testing import Dataset, FakeICA, serve, serve_in_thread
from tests.support.contract import validate

WS = "/api/projects/demo-project/workflowSessions"
pytestmark = pytest.mark.tcp


@pytest.mark.anyio
async def test_serve_over_tcp(anyio_backend: str) -> None:
    fake = FakeICA(Dataset(sessions=300, analyses=2))
    async with serve(fake) as url:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/ica/rest")
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": fake.api_key}) as c:
            r = await c.post(WS + ":search", params={"pageSize": "1000"}, json={})
            validate(r)
            assert r.headers["content-encoding"] == "gzip"
            assert len(r.json()["items"]) == 300
            token = (await c.post("/api/tokens")).json()["token"]
            r = await c.get(WS, headers={"Authorization": f"Bearer {token}", "X-API-Key": ""})
            validate(r)
            assert r.status_code == 200
    assert fake.counters.by_route["searchWorkflowSessions"] == 1
    assert fake.counters.connections_seen == 1
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as c:
            await c.get(url + WS)


def test_serve_in_thread_sync() -> None:
    fake = FakeICA(Dataset(sessions=3))
    with serve_in_thread(fake) as url, httpx.Client(base_url=url) as c:
        r = c.get(WS, headers={"X-API-Key": fake.api_key})
        validate(r)
        assert [i["id"] for i in r.json()["items"]] == fake.dataset.session_ids()
    # The same fake can be served again.
    with serve_in_thread(fake) as url, httpx.Client(base_url=url) as c:
        assert c.get(WS, headers={"X-API-Key": fake.api_key}).status_code == 200


@pytest.mark.anyio
async def test_fixtures(ica_fake: FakeICA, ica_fake_url: str) -> None:
    async with ica_fake.http_client() as c:
        in_process = (await c.get(WS)).json()
    async with httpx.AsyncClient(headers={"X-API-Key": ica_fake.api_key}) as c:
        over_tcp = (await c.get(ica_fake_url + WS)).json()
    assert in_process == over_tcp
    assert len(ica_fake.dataset.session_ids("demo-project")) == 25
    assert ica_fake.base_url == "http://localhost/ica/rest"
    assert ica_fake.app is ica_fake


def test_cli_starts_prints_and_stops() -> None:
    code = "from aioica.testing._cli import fake_server_main; raise SystemExit(fake_server_main())"
    args = ["--port", "0", "--sessions", "7", "--api-key", "cli-key", "--project", "p1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        url = next(line.split("=", 1)[1].strip() for line in lines if "BASE_URL" in line)
        assert "ICAV2_X_API_KEY=cli-key\n" in lines
        r = httpx.get(url + "/api/projects/p1/workflowSessions", headers={"X-API-Key": "cli-key"})
        assert len(r.json()["items"]) == 7
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
