"""The session's usual exchange on its own aiohttp transport, with no httpx objects built.

A 2xx answer with a small body, plain or gzip, is what almost every request of a bulk export
gets. For it, building an ``httpx.Request`` and an ``httpx.Response`` (and the header objects
behind them) was more than half of the CPU aioica's layers added to aiohttp's. So
where the session owns its client and uses the aiohttp transport with one of aioica's header
auths (:class:`~aioica.ApiKeyAuth`, :class:`~aioica.BearerAuth`), :class:`DirectPath` sends
the request straight through aiohttp with headers prepared once, reads and decodes the body
with the same bounds as ``_body.read_whole``, and returns a :class:`LeanReply`: the status and
the decoded body, with the very ``httpx.Response`` the usual path would have returned built
only when somebody asks for it (``*_with_http_info``, an error about the body).

Anything else is handed over mid-exchange, without sending again: a status that is not 2xx, a
redirect, a body that is large, streamed, in another coding, too big or corrupt, a transport
error. From there the usual code (``_fastpath.Sender.finish``, ``Requester.take_body``,
status and error mapping, redirects) runs on the request and response the usual path builds,
so every outcome other than the plain success is produced by the same code as before.

The path stays off (per request) while respx's mocker is active, while httpx's INFO or
aioica's DEBUG log lines are enabled, when the client is closed or has event hooks, and for
URLs a proxy mount takes. ``tests/unit/test_direct.py`` proves its results equal the usual
path's.
"""

from __future__ import annotations

import datetime
import logging
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from ._compat import (
    client_transports,
    origin_key,
    respx_active,
    set_response_content,
    transport_for_url,
)
from ._transports._aiohttp import AiohttpTransport, httpx_response, request_headers
from ._transports._pooled import EAGER_READ_LIMIT, WholeBody

if TYPE_CHECKING:
    from ._http import Requester

__all__ = ["Answer", "DirectPath", "LeanReply", "as_response"]

_httpx_logger = logging.getLogger("httpx")
_aioica_logger = logging.getLogger("aioica")


class LeanReply:
    """A 2xx answer read and decoded on the direct path.

    ``content`` is the decoded body; :meth:`response` builds the ``httpx.Response`` (with its
    ``request``) the usual path returns for the same exchange, once, on first use.
    """

    __slots__ = (
        "_body",
        "_coding",
        "_direct",
        "_elapsed",
        "_method",
        "_raw",
        "_raw_headers",
        "_reason",
        "_response",
        "_url",
        "content",
        "status_code",
    )

    def __init__(
        self,
        direct: DirectPath,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        answer: Any,
        raw: bytes,
        coding: str,
        content: bytes,
        elapsed: float,
    ) -> None:
        self._direct = direct
        self._method = method
        self._url = url
        self._body = body
        self.status_code: int = answer.status
        self._reason: str | None = answer.reason
        self._raw_headers: tuple[tuple[bytes, bytes], ...] = answer.raw_headers
        self._raw = raw
        self._coding = coding
        self.content = content
        self._elapsed = elapsed
        self._response: httpx.Response | None = None

    def response(self) -> httpx.Response:
        """The ``httpx.Response`` of this exchange, as the usual path would have returned it."""
        response = self._response
        if response is None:
            request = self._direct.request(self._method, self._url, self._body)
            stream = WholeBody(self._raw, self._coding)
            response = httpx_response(
                self.status_code, self._reason, self._raw_headers, stream, request
            )
            # What Sender.finish and _body.read_whole set on such an answer.
            response.elapsed = datetime.timedelta(seconds=self._elapsed)
            response.default_encoding = self._direct.encoding
            response.is_stream_consumed = True
            response.is_closed = True
            set_response_content(response, self.content)
            self._response = response
        return response


#: What a request returns: the usual ``httpx.Response`` or the direct path's reply.
Answer = httpx.Response | LeanReply


def as_response(answer: Answer) -> httpx.Response:
    """The ``httpx.Response`` of ``answer``."""
    return answer if isinstance(answer, httpx.Response) else answer.response()


class DirectPath:
    """Sends a session's requests straight through its aiohttp transport (see the module)."""

    def __init__(
        self,
        requester: Requester,
        transport: AiohttpTransport,
        fixed: bool,
        auth_header: Callable[[Any], tuple[str, str]],
    ) -> None:
        sender = requester.sender
        self._requester = requester
        self._client = requester.client
        self._transport = transport
        # No proxy mounts: every URL goes to this transport, nothing to look up per request.
        self._fixed = fixed
        self._auth = requester.auth
        # The auth's header name and value, as the Sender would set them.
        self._auth_header = auth_header
        self.encoding = sender.encoding
        self._timeout = transport.client_timeout(requester.timeout)
        # (method, origin, has body, auth header value) -> the headers aiohttp gets, the name of
        # the Content-Length entry to fill in for a body.
        self._headers: dict[tuple[Any, ...], tuple[dict[str, str], str | None]] = {}
        #: Requests this path sent (for tests and stats).
        self.count = 0

    @classmethod
    def for_requester(cls, requester: Requester) -> DirectPath | None:
        """The direct path for ``requester``'s session, or None where it never applies."""
        sender = requester.sender
        if not sender.enabled or sender.keeps_cookies:
            return None
        auth_header = sender.header_auth(requester.auth)
        if requester.default_deadline is None or auth_header is None:
            return None
        found = client_transports(requester.client)
        if found is None:
            return None
        transport, mounts = found
        # aioica's own class only: a subclass may send differently.
        if not isinstance(transport, AiohttpTransport) or type(transport) is not AiohttpTransport:
            return None
        return cls(requester, transport, not mounts, auth_header)

    def ready(self, url: httpx.URL) -> bool:
        """Whether this request may take the direct path (checked for each request)."""
        client = self._client
        if client.is_closed or self._transport.closed:
            return False
        hooks = client.event_hooks
        if hooks["request"] or hooks["response"]:
            return False
        if respx_active():
            return False
        if _httpx_logger.isEnabledFor(logging.INFO) or _aioica_logger.isEnabledFor(logging.DEBUG):
            return False
        return self._fixed or transport_for_url(client, url) is self._transport

    def request(self, method: str, url: httpx.URL, body: bytes | None) -> httpx.Request:
        """The ``httpx.Request`` the usual path sends for these arguments."""
        request = self._requester.build_request(method, url, body)
        name, value = self._auth_header(self._auth)
        request.headers[name] = value
        return request

    def headers_for(self, method: str, url: httpx.URL, body: bytes | None) -> dict[str, str] | None:
        """The headers aiohttp gets for this request, or None when it must take the usual path."""
        value = self._auth_header(self._auth)[1]
        key = (method, origin_key(url), body is not None, value)
        entry = self._headers.get(key)
        if entry is None:
            if len(self._headers) > 16:
                self._headers.clear()
            # The usual path's request, turned into aiohttp's headers as the transport does.
            sent = request_headers(self.request(method, url, body).headers)
            if not isinstance(sent, dict):
                return None  # a repeated header name: aiohttp gets pairs, the usual way
            length = next((k for k in sent if k.lower() == "content-length"), None)
            entry = self._headers[key] = (sent, length)
        headers, length = entry
        if body is None:
            return headers
        if length is None:
            return None
        headers = headers.copy()
        headers[length] = str(len(body))
        return headers

    async def exchange(
        self, method: str, url: httpx.URL, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        """Send one request with ``headers`` (from :meth:`headers_for`): a :class:`LeanReply`
        for a plain 2xx, else the response the usual path gives."""
        requester = self._requester
        transport = self._transport
        requester.requests_sent += 1
        self.count += 1
        start = time.perf_counter()
        try:
            answer = await transport.open(
                method, transport.url(url), headers, body or None, self._timeout
            )
            status = answer.status
            length = answer.content_length
            if 200 <= status < 300 and length is not None and length <= EAGER_READ_LIMIT:
                raw = await transport.read(answer)
                elapsed = time.perf_counter() - start
                coding = answer.headers.get("Content-Encoding", "")
                content = _decoded(raw, coding, requester.max_response_bytes)
                if content is not None:
                    return LeanReply(self, method, url, body, answer, raw, coding, content, elapsed)
                stream: httpx.AsyncByteStream = WholeBody(raw, coding)
            else:
                stream = await transport.body_stream(answer)
        except httpx.TransportError as exc:
            request = self.request(method, url, body)
            exc.request = request
            raise requester.transport_error(exc, request) from exc
        # Anything but the plain success: the rest is the usual path's, on its objects.
        request = self.request(method, url, body)
        try:
            response = transport.to_httpx(answer, stream, request)
            response = requester.sender.finish(request, response, (), start)
            await requester.take_body(response)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise requester.transport_error(exc, request) from exc
        return response


def _decoded(raw: bytes, coding: str, limit: int) -> bytes | None:
    """``raw`` decoded as ``_body.read_whole`` decodes it, for no coding or gzip within
    ``limit``; None for anything else (left to read_whole, for its own result or error)."""
    if len(raw) > limit:
        return None
    if not coding:
        return raw
    if coding != "gzip":
        return None
    try:
        decoded = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(raw, limit + 1)
    except zlib.error:
        return None
    return decoded if len(decoded) <= limit else None
