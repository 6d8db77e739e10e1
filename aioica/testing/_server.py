"""Serve a :class:`~aioica.testing.FakeICA` on loopback TCP from a background thread.

uvicorn runs on its own asyncio event loop in a daemon thread, so the caller may be a plain
script, an asyncio program or a trio program.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread

from ._app import FakeICA

__all__ = ["FakeServer", "serve", "serve_in_thread"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it Nagle plus delayed ACKs add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_config(fake: FakeICA, **overrides: Any) -> Any:
    """The ``uvicorn.Config`` the fake is served with (quiet, no access log, asgi3)."""
    import uvicorn

    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "interface": "asgi3",
        "http": "auto",  # httptools when installed, else h11
        "ws": "none",
        "timeout_graceful_shutdown": 2,
        "timeout_keep_alive": 30,
        "backlog": 2048,
    }
    options.update(overrides)
    return uvicorn.Config(fake, **options)


class FakeServer:
    """A uvicorn server for ``fake`` in a background thread; ``start()``/``stop()`` block."""

    def __init__(
        self, fake: FakeICA, host: str = "127.0.0.1", port: int = 0, **config: Any
    ) -> None:
        import uvicorn

        self.fake = fake
        self.host = host
        self._server = uvicorn.Server(uvicorn_config(fake, **config))
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/ica/rest``: the base URL clients should use."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.fake.base_path}"

    def _run(self) -> None:
        try:
            anyio.run(self._server.serve, [self._sock], backend="asyncio")
        except BaseException as exc:  # reported by start() / stop()
            self._error = exc

    def start(self, timeout: float = 10.0) -> str:
        """Start serving; returns :attr:`url` once uvicorn accepts connections."""
        self.fake.closing = False
        self._thread = threading.Thread(target=self._run, name="aioica-fake-ica", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake ICA server did not start: {self._error!r}")
            time.sleep(0.005)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (hanging requests are released) and wait for the thread."""
        self.fake.closing = True
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._sock.close()


@contextlib.asynccontextmanager
async def serve(
    fake: FakeICA, *, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any
) -> AsyncIterator[str]:
    """Serve ``fake`` over loopback TCP while the block runs; yields the base URL.

    Works from asyncio and trio callers (the server has its own thread and event loop).
    ``port=0`` picks a free port; ``uvicorn_options`` override the ``uvicorn.Config`` defaults.
    """
    server = FakeServer(fake, host, port, **uvicorn_options)
    await anyio.to_thread.run_sync(server.start)
    try:
        yield server.url
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(server.stop)


@contextlib.contextmanager
def serve_in_thread(
    fake: FakeICA, *, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any
) -> Iterator[str]:
    """Synchronous :func:`serve` for scripts and benchmarks; yields the base URL."""
    server = FakeServer(fake, host, port, **uvicorn_options)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
