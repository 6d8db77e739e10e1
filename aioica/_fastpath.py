"""A shorter way through httpx for the session's own client, auth and transports.

``httpx.AsyncClient.send`` wraps every request in an auth-flow generator, a redirect loop, a
request-context manager and a response stream wrapper. For a client aioica built itself, with
one of aioica's auth classes and one of its transports, all of that amounts to "set a header,
call the transport, remember the start time": :class:`Sender` does exactly that, with the same
observable result (same request headers, same ``httpx.Response`` with ``request``,
``elapsed``, ``history``, ``next_request`` and ``default_encoding`` set, same exceptions with
``exc.request`` set, httpx's ``"HTTP Request: ..."`` log line).

Anything else goes through ``client.send`` untouched: a caller's ``http_client``, a custom
``httpx.Auth`` (including subclasses of aioica's classes), a transport of any class but
aioica's own (an ``ASGITransport`` or mock the caller passed), event hooks on the client,
credentials in the URL. (The pooled transports aioica mounts for the environment's proxies are
its own class, and take the fast path.)

:class:`Sender` is a drop-in for ``client.send(request, auth=auth, stream=True,
follow_redirects=False)``: same inputs, same output. Redirects, retries, body caps and error
mapping stay in ``_http``, around it.

On the aiohttp transport with a header auth, ``_direct`` goes further for the plain success
and uses :meth:`Sender.finish` for everything else.

The httpx internals this needs are reached through ``_compat`` (pinned by
``tests/unit/test_compat.py``); ``tests/unit/test_fastpath.py`` proves the results equal
``client.send``'s.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from ._compat import (
    AuthArg,
    build_redirect_request,
    client_internals_available,
    default_encoding,
    ignores_cookies,
    mark_request_read,
    origin_key,
    request_from_template,
    transport_for_url,
)
from ._transports._pooled import WholeBody

__all__ = ["RequestFactory", "Sender", "set_body"]

# httpx logs every response on this logger at INFO; the fast path keeps that line.
_httpx_logger = logging.getLogger("httpx")

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class _TimedStream(httpx.AsyncByteStream):
    """A response body that sets ``response.elapsed`` when closed, as httpx's own wrapper does.

    Iteration hands out the inner stream's iterator directly: no extra async generator layer
    per response.
    """

    __slots__ = ("_response", "_start", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, response: httpx.Response, start: float):
        self._stream = stream
        self._response: httpx.Response | None = response
        self._start = start

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        # The response holds this stream: letting go of it on close leaves no reference cycle,
        # so a finished exchange is freed at once instead of waiting for the cyclic garbage
        # collector (whose full passes over a busy heap stall the event loop for tens of ms).
        response, self._response = self._response, None
        if response is not None:
            response.elapsed = datetime.timedelta(seconds=time.perf_counter() - self._start)
        await self._stream.aclose()


class Sender:
    """Sends one request the way ``client.send(..., stream=True, follow_redirects=False)`` does.

    ``own_client`` says whether aioica built ``client`` (and so owns its configuration); only
    then is the fast path considered at all.
    """

    def __init__(self, client: httpx.AsyncClient, *, own_client: bool) -> None:
        from . import _auth
        from ._transports import own_transport_types

        self._client = client
        self._own_transports: tuple[type, ...] = own_transport_types()
        self._header_auth: dict[type, Any] = {
            _auth.ApiKeyAuth: lambda a: ("X-API-Key", a._api_key),
            _auth.BearerAuth: lambda a: ("Authorization", f"Bearer {a._token}"),
        }
        self._flow_auth: tuple[type, ...] = (_auth.TokenAuth,)
        self._enabled = own_client and client_internals_available(client)
        # Fixed for a client aioica built: looked up once, not per response.
        self._encoding = default_encoding(client) if self._enabled else "utf-8"
        self._cookies = self._enabled and not ignores_cookies(client)
        #: Requests sent through the fast path / through ``client.send`` (for tests and stats).
        self.fast_count = 0
        self.httpx_count = 0

    @property
    def enabled(self) -> bool:
        """Whether the fast path is considered at all (a client aioica built)."""
        return self._enabled

    @property
    def keeps_cookies(self) -> bool:
        """Whether the client stores cookies (a fast-path response must offer them)."""
        return self._cookies

    @property
    def encoding(self) -> str | Callable[[bytes], str]:
        """The text encoding the client gives its responses."""
        return self._encoding

    def header_auth(self, auth: object) -> Callable[[Any], tuple[str, str]] | None:
        """For an auth that only sets a header (exactly aioica's own classes), the function
        giving that header's name and value; None for any other auth."""
        found: Callable[[Any], tuple[str, str]] | None = self._header_auth.get(type(auth))
        return found

    def _transport_for(self, request: httpx.Request, auth: AuthArg) -> Any:
        """The transport to call directly, or None when httpx's machinery must run."""
        if not self._enabled:
            return None
        client = self._client
        if client.is_closed:
            return None  # let httpx raise its own error
        hooks = client.event_hooks
        if hooks["request"] or hooks["response"]:
            return None
        kind = type(auth)
        if auth is None:
            url = request.url
            if url.username or url.password:
                return None  # httpx would send them as Basic auth
        elif kind not in self._header_auth and kind not in self._flow_auth:
            return None
        transport = transport_for_url(client, request.url)
        if type(transport) not in self._own_transports:
            return None
        return transport

    def __call__(self, request: httpx.Request, auth: AuthArg) -> Awaitable[httpx.Response]:
        # Not a coroutine itself: it hands back the one that does the work, so a request's
        # chain of awaiting frames is one shorter.
        transport = self._transport_for(request, auth)
        if transport is None:
            self.httpx_count += 1
            return self._client.send(request, auth=auth, stream=True, follow_redirects=False)
        self.fast_count += 1
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self._client.timeout.as_dict()}
        header = self._header_auth.get(type(auth))
        if header is not None:
            name, value = header(auth)
            request.headers[name] = value
            return self._send_single(transport, request, ())
        if auth is None:
            return self._send_single(transport, request, ())
        assert isinstance(auth, httpx.Auth)
        return self._send_with_flow(transport, request, auth.async_auth_flow(request))

    async def _send_with_flow(
        self,
        transport: httpx.AsyncBaseTransport,
        request: httpx.Request,
        flow: AsyncGenerator[httpx.Request, httpx.Response],
    ) -> httpx.Response:
        # The loop of httpx's AsyncClient._send_handling_auth, with one hop per request.
        history: list[httpx.Response] = []
        try:
            request = await flow.__anext__()
            while True:
                response = await self._send_single(transport, request, history)
                try:
                    try:
                        next_request = await flow.asend(response)
                    except StopAsyncIteration:
                        return response
                    response.history = list(history)
                    await response.aread()
                    request = next_request
                    history.append(response)
                    if "timeout" not in request.extensions:
                        request.extensions = {
                            **request.extensions,
                            "timeout": self._client.timeout.as_dict(),
                        }
                    transport = transport_for_url(self._client, request.url)
                except BaseException:
                    await response.aclose()
                    raise
        finally:
            await flow.aclose()

    async def _send_single(
        self,
        transport: httpx.AsyncBaseTransport,
        request: httpx.Request,
        history: Sequence[httpx.Response],
    ) -> httpx.Response:
        # The steps of httpx's AsyncClient._send_handling_redirects and _send_single_request
        # for a client without event hooks, never following redirects.
        client = self._client
        if len(history) > client.max_redirects:
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise RuntimeError("Attempted to send an sync request with an AsyncClient instance.")
        start = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return self.finish(request, response, history, start)

    def finish(
        self,
        request: httpx.Request,
        response: httpx.Response,
        history: Sequence[httpx.Response],
        start: float,
    ) -> httpx.Response:
        """What ``client.send`` does with a transport's ``response`` to ``request`` (sent at
        ``start``, a ``time.perf_counter()`` reading) before handing it to the caller."""
        client = self._client
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.request = request
        if isinstance(stream, WholeBody):
            # Read in full already: the time to the end of the body is known now, and the body
            # is left as it is for _body.read_whole to take without iterating.
            response.elapsed = datetime.timedelta(seconds=time.perf_counter() - start)
        else:
            response.stream = _TimedStream(stream, response, start)
        if self._cookies:
            client.cookies.extract_cookies(response)
        response.default_encoding = self._encoding
        if _httpx_logger.isEnabledFor(logging.INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if history:
            response.history = list(history)
        if response.status_code in _REDIRECT_CODES and response.has_redirect_location:
            response.next_request = build_redirect_request(client, request, response)
        return response


class RequestFactory:
    """Builds the session's requests from per-(method, host) templates.

    ``httpx.Request(method, url, headers=...)`` normalises every header, scans them for the
    header encoding and merges Host and Content-Length on each call; the session's requests
    differ only in method, URL and body, so the normalised headers are built once per method
    and host and copied. The result is the request ``httpx.Request`` would build: same
    headers in the same order, body read (``request.content`` available).
    """

    def __init__(
        self, headers: dict[str, str], post_headers: dict[str, str], extensions: dict[str, Any]
    ) -> None:
        self._headers = headers
        self._post_headers = post_headers
        self._extensions = extensions
        self._templates: dict[tuple[str, tuple[Any, ...], bool], httpx.Request] = {}

    def __call__(self, method: str, url: httpx.URL, has_body: bool) -> httpx.Request:
        key = (method, origin_key(url), has_body)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 64:
                self._templates.clear()
            headers = self._post_headers if has_body else self._headers
            template = httpx.Request(method, url, headers=headers, extensions=self._extensions)
            self._templates[key] = template
        return request_from_template(template, url)


class _OneChunk(httpx.AsyncByteStream):
    """A request body whose iterator is a plain object, not an async generator.

    httpx's own body stream iterates with an async generator; when a request is cancelled while
    its body is being sent, that generator is never closed and trio warns about it when it is
    collected. A plain iterator has nothing to finalise.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> _OneChunkIterator:
        return _OneChunkIterator(self._body)


class _OneChunkIterator:
    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _OneChunkIterator:
        return self

    async def __anext__(self) -> bytes:
        if self._body is None:
            raise StopAsyncIteration
        body, self._body = self._body, None
        return body


def set_body(request: httpx.Request, body: bytes | None) -> None:
    """Give ``request`` ``body`` (None: no body) as its content, read."""
    if body is None:
        return
    request.headers["Content-Length"] = str(len(body))
    request.stream = _OneChunk(body)
    mark_request_read(request, body)  # auth flows that replay need not iterate it
