"""Start the fake ICA in its own process (so its CPU is not the client's) for benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def fake_server(
    *, sessions: int, analyses: int, latency_ms: float, project: str = "demo-project"
) -> Iterator[str]:
    """Run ``aioica fake-server`` in a subprocess; yield its base URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "import sys; from aioica.testing import fake_server_main; "
        "sys.exit(fake_server_main(sys.argv[1:]))",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--project",
        project,
        "--sessions",
        str(sessions),
        "--analyses",
        str(analyses),
        "--latency-ms",
        str(latency_ms),
        "--api-key",
        API_KEY,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}/ica/rest"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fake server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(url + "/api/projects/x/workflowSessions/y/inputs", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
