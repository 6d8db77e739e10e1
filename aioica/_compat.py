"""Every place aioica leans on another library's internals, and nowhere else.

httpx, httpcore and respx offer no public route for these; each is pinned by a test in
``tests/unit/test_compat.py`` that fails loudly (rather than aioica misbehaving quietly) when the
library changes. Code elsewhere in aioica uses only these names, never a leading-underscore
attribute of another package.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Callable, Mapping
from typing import Any

import httpcore
import httpx

# internals: the type of ``httpx.USE_CLIENT_DEFAULT``, which httpx does not export.
from httpx._client import UseClientDefault

__all__ = [
    "AuthArg",
    "NoCookieJar",
    "UseClientDefault",
    "basic_auth_header",
    "build_redirect_request",
    "client_internals_available",
    "client_transports",
    "default_encoding",
    "headers_from_raw",
    "ignores_cookies",
    "mark_request_read",
    "origin_key",
    "request_from_template",
    "respx_active",
    "server_transport",
    "set_response_content",
    "transport_for_url",
    "transport_response",
    "tune_client",
    "url_builder",
    "yarl_url",
]

#: What ``httpx.AsyncClient.send(auth=...)`` accepts.
AuthArg = httpx.Auth | UseClientDefault | None


# -- bodies ----------------------------------------------------------------------------------------


def set_response_content(response: httpx.Response, body: bytes) -> None:
    """Store ``body`` as the read (already decoded) content of ``response``.

    aioica decodes bodies itself, with bounded inflate steps (``_body``); ``aread()`` would run
    httpx's unbounded decoders over them again.
    """
    # internals: httpx keeps a read body in ``Response._content``.
    response._content = body


def mark_request_read(request: httpx.Request, body: bytes) -> None:
    """Mark ``request``'s (already set) body as read, so auth flows that replay need not
    iterate its stream."""
    # internals: httpx keeps a read request body in ``Request._content``.
    request._content = body


def _headers_keep_triples() -> bool:
    probe = httpx.Headers([(b"A", b"1")])
    return getattr(probe, "_list", None) == [(b"A", b"a", b"1")] and hasattr(probe, "_encoding")


_HEADERS_KEEP_TRIPLES = _headers_keep_triples()


def headers_from_raw(raw: list[tuple[bytes, bytes]]) -> httpx.Headers:
    """``httpx.Headers(raw)`` for names and values that are bytes already (a transport's
    response headers), without httpx's two normalising calls per header."""
    if not _HEADERS_KEEP_TRIPLES:
        return httpx.Headers(raw)
    # internals: httpx.Headers keeps (name, lower-case name, value) byte triples in ``_list``
    # and the encoding it finds on first use in ``_encoding``.
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = [(name, name.lower(), value) for name, value in raw]
    headers._encoding = None
    return headers


def _response_fields() -> frozenset[str]:
    probe = httpx.Response(
        200, headers=httpx.Headers(), stream=httpx.ByteStream(b""), request=None, extensions={}
    )
    return frozenset(vars(probe))


# What httpx.Response(status, headers=, stream=, request=, extensions=) sets, as of httpx 0.28.
_RESPONSE_FIELDS = frozenset(
    {
        "status_code",
        "headers",
        "_request",
        "next_request",
        "extensions",
        "history",
        "is_closed",
        "is_stream_consumed",
        "default_encoding",
        "stream",
        "_num_bytes_downloaded",
    }
)
_RESPONSE_FIELDS_KNOWN = _response_fields() == _RESPONSE_FIELDS


def transport_response(
    status_code: int,
    headers: httpx.Headers,
    stream: httpx.AsyncByteStream,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """``httpx.Response(status_code, headers=headers, stream=stream, request=request,
    extensions=extensions)`` for a transport's answer, taking ``headers`` and ``extensions``
    as they are (both new objects) instead of copying them."""
    if not _RESPONSE_FIELDS_KNOWN:
        return httpx.Response(
            status_code, headers=headers, stream=stream, request=request, extensions=extensions
        )
    # internals: the attributes Response.__init__ sets for a streamed response.
    response = httpx.Response.__new__(httpx.Response)
    response.status_code = status_code
    response.headers = headers
    response._request = request
    response.next_request = None
    response.extensions = extensions
    response.history = []
    response.is_closed = False
    response.is_stream_consumed = False
    response.default_encoding = "utf-8"
    response.stream = stream
    response._num_bytes_downloaded = 0
    return response


def _request_fields() -> frozenset[str]:
    template = httpx.Request("GET", "https://h/", headers={"A": "1"}, extensions={})
    probe = httpx.Request(
        "GET",
        httpx.URL("https://h/p"),
        headers=template.headers,
        stream=template.stream,
        extensions=template.extensions,
    )
    return frozenset(vars(probe))


_REQUEST_FIELDS_KNOWN = _HEADERS_KEEP_TRIPLES and _request_fields() == frozenset(
    {"method", "url", "headers", "extensions", "stream"}
)


def request_from_template(template: httpx.Request, url: httpx.URL) -> httpx.Request:
    """``httpx.Request(template.method, url, headers=template.headers, stream=template.stream,
    extensions=template.extensions)``, marked read like ``template`` (whose body is read).

    The URL object is shared rather than copied (httpx URLs are immutable) and the headers are
    copied as their list of byte triples: no re-validation of either per request.
    """
    if not _REQUEST_FIELDS_KNOWN:
        request = httpx.Request(
            template.method,
            url,
            headers=template.headers,
            stream=template.stream,
            extensions=template.extensions,
        )
        mark_request_read(request, template.content)
        return request
    # internals: the attributes Request.__init__ sets when given a stream, httpx.Headers'
    # ``_list`` and ``_encoding``, and ``_content`` for a read body.
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = list(template.headers._list)
    headers._encoding = None
    request = httpx.Request.__new__(httpx.Request)
    request.method = template.method
    request.url = url
    request.headers = headers
    request.extensions = dict(template.extensions)
    request.stream = template.stream
    request._content = template.content
    return request


def yarl_url(url: httpx.URL, url_class: Any) -> Any:
    """``url_class(str(url), encoded=True)`` (a ``yarl.URL``), built from httpx's parsed parts
    when that gives the same URL: no text to format and then parse again per request."""
    # internals: httpx.URL keeps its parsed, percent-encoded parts in ``_uri_reference``.
    ref: Any = getattr(url, "_uri_reference", None)
    host = getattr(ref, "host", None)
    # IPv6 literals, credentials and fragments take the text route: yarl's build() would
    # write them differently.
    if (
        _URL_PARTS_KNOWN
        and isinstance(host, str)
        and host
        and ":" not in host
        and host.isascii()
        and not ref.userinfo
        and ref.fragment is None
    ):
        return url_class.build(
            scheme=ref.scheme,
            host=host,
            port=ref.port,
            path=ref.path,
            query_string=ref.query or "",
            encoded=True,
        )
    return url_class(str(url), encoded=True)


def _url_parts_known() -> bool:
    ref: Any = getattr(httpx.URL("https://h:1/p?q#f"), "_uri_reference", None)
    parts = ("scheme", "userinfo", "host", "port", "path", "query", "fragment")
    return all(hasattr(ref, name) for name in parts) and (ref.host, ref.port, ref.query) == (
        "h",
        1,
        "q",
    )


_URL_PARTS_KNOWN = _url_parts_known()


def origin_key(url: httpx.URL) -> tuple[Any, ...]:
    """A hashable key of ``url``'s scheme, host and port: what a request's ``Host`` header
    depends on (``url.netloc`` formats and encodes them anew on each call)."""
    if _URL_PARTS_KNOWN:
        # internals: httpx.URL keeps its parsed parts in ``_uri_reference``.
        ref: Any = url._uri_reference
        return (ref.scheme, ref.host, ref.port)
    return (url.scheme, url.netloc)


# -- the client's send machinery (for _fastpath) ---------------------------------------------------


def client_internals_available(client: httpx.AsyncClient) -> bool:
    """Whether ``client`` has the internals the fast send path relies on."""
    return callable(getattr(client, "_transport_for_url", None)) and hasattr(
        client, "_default_encoding"
    )


def transport_for_url(client: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
    """The transport ``client`` would use for ``url`` (its proxy mounts considered)."""
    # internals: AsyncClient._transport_for_url.
    return client._transport_for_url(url)


def client_transports(
    client: httpx.AsyncClient,
) -> tuple[httpx.AsyncBaseTransport, Mapping[Any, Any]] | None:
    """``client``'s own transport and its proxy mounts (None if httpx keeps them elsewhere)."""
    # internals: AsyncClient._transport and AsyncClient._mounts.
    transport = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if not isinstance(transport, httpx.AsyncBaseTransport) or not isinstance(mounts, dict):
        return None
    return transport, mounts


def default_encoding(client: httpx.AsyncClient) -> str | Callable[[bytes], str]:
    """The text encoding ``client`` gives its responses."""
    # internals: AsyncClient._default_encoding.
    return client._default_encoding


def build_redirect_request(
    client: httpx.AsyncClient, request: httpx.Request, response: httpx.Response
) -> httpx.Request:
    """The ``response.next_request`` httpx sets on a redirect answer."""
    # internals: AsyncClient._build_redirect_request.
    return client._build_redirect_request(request, response)


def basic_auth_header(auth: object) -> str | None:
    """The ``Authorization`` value an ``httpx.BasicAuth`` sends (None for any other auth)."""
    # internals: httpx.BasicAuth keeps its header in ``_auth_header``.
    header = getattr(auth, "_auth_header", None) if isinstance(auth, httpx.BasicAuth) else None
    return header if isinstance(header, str) else None


# -- respx -----------------------------------------------------------------------------------------

# internals: respx (default "httpcore" mocker) patches this method to intercept requests.
_HTTPCORE_POOL_HANDLER = httpcore.AsyncConnectionPool.handle_async_request


def respx_active() -> bool:
    """Whether respx's default (httpcore) mocker is active: requests must go through httpcore
    for it to see them."""
    return httpcore.AsyncConnectionPool.handle_async_request is not _HTTPCORE_POOL_HANDLER


# -- uvicorn (for the fake ICA) -------------------------------------------------------------------


def server_transport(send: object) -> Any:
    """The asyncio transport of the connection behind an ASGI ``send`` callable, or None.

    uvicorn's ``send`` is a bound method of its protocol object, which holds the connection's
    transport: the fake ICA counts connections and aborts them (fault injection) through it.
    """
    # internals: uvicorn's HTTP protocols keep the asyncio transport in ``.transport``.
    return getattr(getattr(send, "__self__", None), "transport", None)


# -- URLs ------------------------------------------------------------------------------------------


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(part in (".", "..") for part in path.split("/"))


def url_builder(base_url: str) -> Callable[[str, str | None], httpx.URL]:
    """A function joining ``base_url`` with an already percent-encoded path and query.

    ``httpx.URL(text)`` re-validates every character of the URL (tens of microseconds, a
    visible share of a request's CPU at bulk concurrency). aioica's paths and queries are built
    from percent-encoded pieces only, so the parsed form of the base can be reused and just the
    path and query replaced. The result equals ``httpx.URL(base_url + path + "?" + query)``: a
    path with a ``.`` or ``..`` segment (which httpx normalises away) is parsed the slow way.
    Falls back to plain parsing if httpx's URL internals change.
    """

    def parse(path: str, query: str | None) -> httpx.URL:
        return httpx.URL(base_url.rstrip("/") + path + (f"?{query}" if query else ""))

    base = httpx.URL(base_url)
    # internals: httpx keeps the parsed URL as a NamedTuple in ``URL._uri_reference``.
    ref = getattr(base, "_uri_reference", None)
    if not (isinstance(ref, tuple) and hasattr(ref, "_replace") and hasattr(ref, "path")):
        return parse
    prefix = ref.path.rstrip("/")

    def build(path: str, query: str | None) -> httpx.URL:
        if _has_dot_segment(path):
            return parse(path, query)
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = ref._replace(path=prefix + path, query=query or None)
        return url

    return build


# -- cookies ---------------------------------------------------------------------------------------


class NoCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: ICA authenticates by header, never by cookie."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Drop the cookie."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Keep nothing from the response."""

    def add_cookie_header(self, request: Any) -> None:
        """Send nothing."""


class _NoCookies(httpx.Cookies):
    """httpx's cookie store without the per-response urllib compatibility objects."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing from the response."""


def ignores_cookies(client: httpx.AsyncClient) -> bool:
    """Whether ``client``'s cookie store keeps nothing (:func:`tune_client` was applied)."""
    return isinstance(client.cookies, _NoCookies)


def tune_client(client: httpx.AsyncClient) -> None:
    """Drop per-request work a session-owned client does not need (its cookie handling).

    Only for clients aioica built itself: never call it on a caller's ``http_client``.
    """
    # internals: httpx keeps the store in ``_cookies`` and builds two urllib objects per
    # response to offer it the Set-Cookie headers; a store that ignores them skips that.
    if not isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        raise RuntimeError("httpx.AsyncClient no longer keeps its cookies in _cookies")
    client._cookies = _NoCookies(NoCookieJar())
