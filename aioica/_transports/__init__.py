"""The HTTP transports underneath aioica's ``httpx.AsyncClient``, and the choice between them.

httpx stays the interface (auth flows, event hooks, respx, ``ASGITransport``); only the transport
below it changes, because httpcore's single connection pool costs milliseconds of CPU per request
at 30+ requests in flight.

- ``"aiohttp"``: :class:`AiohttpTransport` (``_aiohttp``), asyncio only.
- ``"httpx-pools"``: :class:`PooledTransport` (``_pooled``), several small httpcore pools; works
  on asyncio and trio.

``build_transport(kind="auto")`` picks aiohttp when it is importable and the running event loop
is asyncio, else the pooled httpx transport. Every transport raises httpx exceptions only, mapped
on what happened; :func:`classify_transport_error` turns any of them into the retry code's terms.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from typing import Literal

import httpx
import sniffio
from anyio.lowlevel import EventLoopToken

from ._aiohttp import AiohttpTransport, map_aiohttp_error
from ._pooled import PooledTransport
from ._proxies import environment_proxies, proxy_mounts, proxy_secrets

__all__ = [
    "AiohttpTransport",
    "ErrorKind",
    "PooledTransport",
    "TransportKind",
    "aiohttp_available",
    "build_transport",
    "classify_transport_error",
    "current_async_library",
    "environment_proxies",
    "in_loop",
    "map_aiohttp_error",
    "own_transport_types",
    "proxy_secrets",
    "session_client",
    "session_proxy_mounts",
]

TransportKind = Literal["auto", "aiohttp", "httpx"]
ErrorKind = Literal["timeout", "connect", "read", "other"]


def current_async_library() -> str | None:
    """Name of the running async library ("asyncio", "trio"), or None outside an event loop."""
    try:
        return str(sniffio.current_async_library())
    except sniffio.AsyncLibraryNotFoundError:
        return None


def in_loop(loop: EventLoopToken, library: str | None) -> bool:
    """Whether the running loop is ``loop`` (a token taken under ``library``).

    What comparing ``anyio.lowlevel.current_token()`` says, without its sniffio probe on every
    call: the opening backend's own token, and sniffio's hints, which name the library whenever
    one sets them (trio does for each task step, so a trio guest task in an asyncio loop's
    thread does not pass for the asyncio loop).
    """
    try:
        same = loop.backend_class.current_token() == loop.native_token
    except RuntimeError:
        return False
    hint = sniffio.thread_local.name or sniffio.current_async_library_cvar.get()
    return same and (hint is None or hint == library)


def aiohttp_available() -> bool:
    """Whether the aiohttp-backed transport can be used (aiohttp importable)."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


def _ssl_context(verify: bool | str | ssl.SSLContext, trust_env: bool) -> ssl.SSLContext:
    # One context for every pool: building one loads the CA bundle, which costs milliseconds.
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        # httpx 0.28 deprecates a path here; an explicit context behaves the same everywhere.
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify, trust_env=trust_env)


def build_transport(
    *,
    kind: TransportKind = "auto",
    max_connections: int,
    timeout: httpx.Timeout,
    verify: bool | str | ssl.SSLContext = True,
    trust_env: bool = True,
) -> tuple[httpx.AsyncBaseTransport, str]:
    """Build the transport for a session; returns it and the name of what was chosen.

    ``"auto"`` picks ``"aiohttp"`` when aiohttp is importable and the running event loop is
    asyncio, else ``"httpx-pools"``. Called outside an event loop, ``"auto"`` returns a transport
    that decides on its first request (name ``"auto"``). ``"aiohttp"`` requires aiohttp;
    ``"httpx"`` always gives the pooled httpx transport. ``max_connections`` bounds the total
    number of connections. ``trust_env`` applies to CA settings here; proxies from the
    environment are mounted beside this transport (:func:`session_proxy_mounts`).
    """
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    if kind not in ("auto", "aiohttp", "httpx"):
        raise ValueError(f"transport kind must be 'auto', 'aiohttp' or 'httpx', got {kind!r}")
    ctx = _ssl_context(verify, trust_env)

    def make(name: str) -> httpx.AsyncBaseTransport:
        if name == "aiohttp":
            return AiohttpTransport(max_connections=max_connections, ssl_context=ctx)
        return PooledTransport(max_connections=max_connections, ssl_context=ctx)

    if kind == "aiohttp":
        if not aiohttp_available():
            raise RuntimeError("transport='aiohttp' needs aiohttp: pip install 'aioica[fast]'")
        return make("aiohttp"), "aiohttp"
    if kind == "httpx":
        return make("httpx-pools"), "httpx-pools"
    library = current_async_library()
    if library is None:
        return _DeferredTransport(make), "auto"
    name = _auto_choice(library)
    return make(name), name


def session_client(
    transport: TransportKind | httpx.AsyncBaseTransport,
    *,
    max_connections: int,
    timeout: httpx.Timeout,
    base_url: str,
    verify: bool | str | ssl.SSLContext = True,
    trust_env: bool = True,
) -> tuple[httpx.AsyncClient, str]:
    """The ``httpx.AsyncClient`` a session owns, and the name of its transport.

    Called in the running loop. A transport given as is (an ``ASGITransport``, say) carries
    everything, as httpx uses a client's transport; one the session builds also gets the
    environment's proxies, which httpx would mount for a client it built itself (worked out
    first: an unusable one is an error before anything is opened).
    """
    from .._compat import tune_client
    from .._config import ConfigurationError

    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    if isinstance(transport, httpx.AsyncBaseTransport):
        chosen, name = transport, type(transport).__name__
    else:
        if transport == "aiohttp":
            if current_async_library() != "asyncio":
                raise ConfigurationError(
                    "transport='aiohttp' runs on asyncio only; use transport='httpx' (or "
                    "'auto') under trio"
                )
            if not aiohttp_available():
                raise ConfigurationError(
                    "transport='aiohttp' needs aiohttp: pip install 'aioica[fast]'"
                )
        mounts = session_proxy_mounts(
            max_connections=max_connections, base_url=base_url, verify=verify, trust_env=trust_env
        )
        chosen, name = build_transport(
            kind=transport,
            max_connections=max_connections,
            timeout=timeout,
            verify=verify,
            trust_env=trust_env,
        )
    client = httpx.AsyncClient(
        transport=chosen,
        mounts=mounts,
        timeout=timeout,
        follow_redirects=False,
        trust_env=trust_env,
    )
    tune_client(client)
    return client, name


def session_proxy_mounts(
    *,
    max_connections: int,
    base_url: str,
    verify: bool | str | ssl.SSLContext = True,
    trust_env: bool = True,
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The proxy mounts for a session's own client: the environment's proxies when
    ``trust_env`` (see ``_proxies``), none otherwise."""
    if not trust_env:
        return {}
    return proxy_mounts(
        max_connections=max_connections,
        ssl_context=lambda: _ssl_context(verify, trust_env),
        base_host=httpx.URL(base_url).host,
    )


def _auto_choice(library: str) -> str:
    return "aiohttp" if library == "asyncio" and aiohttp_available() else "httpx-pools"


class _DeferredTransport(httpx.AsyncBaseTransport):
    """Chooses the transport on its first request, once the event loop is known."""

    def __init__(self, make: Callable[[str], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self.chosen: str | None = None
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = self._inner
        if inner is None:
            self.chosen = _auto_choice(current_async_library() or "asyncio")
            inner = self._inner = self._make(self.chosen)
        return await inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def own_transport_types() -> tuple[type[httpx.AsyncBaseTransport], ...]:
    """The transport classes aioica builds (the fast send path calls them directly)."""
    return (AiohttpTransport, PooledTransport, _DeferredTransport)


# -- error classification --------------------------------------------------------------------------


def classify_transport_error(exc: BaseException) -> ErrorKind | None:
    """What a transport error means for retrying: decided by what happened, not its name.

    ``"connect"``: no connection was made, the request never left (safe to retry anything).
    ``"read"``: the connection broke or the server hung up before a full answer (safe to retry
    read-only requests). ``"timeout"``: a connect, pool, read or write timeout. ``"other"``: a
    transport error that retrying will not fix (bad URL, protocol misuse). ``None``: not a
    transport error. An httpx exception raised from an aiohttp or OS error is classified on
    that cause, so a server disconnect reported as a connect timeout (as one aiohttp adapter
    does) comes out as ``"read"``.
    """
    cause = exc.__cause__
    if isinstance(exc, httpx.TransportError) and cause is not None:
        underlying = _classify_foreign(cause)
        if underlying is not None:
            return underlying
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return "connect"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        return "read"
    if isinstance(exc, httpx.NetworkError):
        return "read"
    if isinstance(exc, httpx.TransportError):
        return "other"
    return _classify_foreign(exc)


def _classify_foreign(exc: BaseException) -> ErrorKind | None:
    if "aiohttp" in sys.modules:
        mapped = map_aiohttp_error(exc)
        if mapped is not None:
            return classify_transport_error(mapped)
        return None
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    if isinstance(exc, OSError):
        return "read"
    return None
