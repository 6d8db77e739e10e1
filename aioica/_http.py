"""One request, start to finish: limits, the 429 gate, retries, redirects, logging, errors.

Every HTTP exchange aioica makes goes through :meth:`Requester.send`, so the retry rules, the
session-wide limits and the error mapping live here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio
import httpx

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidResponseError,
    RateLimitError,
    error_for_response,
    redact,
    request_id,
)
from ._fastpath import RequestFactory, Sender
from ._retry import RateGate, RetryPolicy, TokenBucket

__all__ = ["Requester", "logger", "read_capped"]

logger = logging.getLogger("aioica")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CREDENTIAL_HEADERS = ("x-api-key", "authorization", "cookie")


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _transport_error(
    exc: httpx.TransportError | httpx.DecodingError, request: httpx.Request
) -> APIError:
    where = f"{request.method} {request.url.path}"
    detail = redact(str(exc), request) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__.replace("Timeout", " timeout").lower().strip()
        return APITimeoutError(f"{where}: {kind} ({detail})", request=request)
    return APIConnectionError(f"{where}: {type(exc).__name__}: {detail}", request=request)


class Requester:
    """Sends requests for a session under its limits and retry policy."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        auth: httpx.Auth | None,
        headers: dict[str, str],
        limiter: anyio.CapacityLimiter,
        gate: RateGate,
        bucket: TokenBucket | None,
        retry: RetryPolicy,
        follow_redirects: bool,
        max_response_bytes: int,
        own_client: bool = False,
    ) -> None:
        self.client = client
        self.auth = auth
        self.headers = headers
        self.limiter = limiter
        self.gate = gate
        self.bucket = bucket
        self.retry = retry
        self.follow_redirects = follow_redirects
        self.max_response_bytes = max_response_bytes
        # A client aioica built has no default headers, params or cookies of the caller's to
        # merge, so requests can skip build_request's merging (a measurable share of CPU at
        # bulk concurrency); a caller's client always goes through build_request.
        self._direct = own_client
        self._timeout = {"timeout": client.timeout.as_dict()}
        self._post_headers = {**headers, "Content-Type": "application/vnd.illumina.v3+json"}
        self.requests_sent = 0
        # See _fastpath: the same request and the same client.send result, built and sent
        # with less machinery where aioica owns the client, the auth and the transport.
        self._new_request = RequestFactory(self.headers, self._post_headers, self._timeout)
        self._send = Sender(client, own_client=own_client)

    async def send(
        self,
        method: str,
        url: httpx.URL,
        *,
        body: bytes | None = None,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        """Send until success or the policy gives up; return the 2xx response, body read."""
        policy = retry or self.retry
        history: list[BaseException] = []
        attempt = 0
        while True:
            attempt += 1
            error: APIError
            try:
                return await self._attempt(method, url, body, attempt)
            except APIError as exc:
                error = exc
            wait = self._retry_wait(error, policy, attempt)
            if wait is None:
                error.attempts = attempt
                error.history = tuple(history)
                raise error
            history.append(error)
            if isinstance(error, RateLimitError):
                self.gate.close_for(wait)
            await anyio.sleep(wait)

    def _retry_wait(self, error: APIError, policy: RetryPolicy, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up with ``error``."""
        if isinstance(error, APIStatusError):
            if error.status_code not in policy.retry_statuses:
                return None
            retry_after = error.retry_after
            if retry_after is not None and retry_after > policy.max_retry_after:
                error.message += (
                    f"; the server asked to wait {retry_after:.0f} s, more than "
                    f"max_retry_after={policy.max_retry_after:.0f} s"
                )
                return None
            if attempt >= policy.max_attempts:
                return None
            return retry_after if retry_after is not None else policy.backoff(attempt)
        if isinstance(error, APITimeoutError):
            allowed = policy.retry_timeouts
        elif isinstance(error, APIConnectionError):
            allowed = policy.retry_connection_errors
        else:
            allowed = False
        if not allowed or attempt >= policy.max_attempts:
            return None
        return policy.backoff(attempt)

    async def _attempt(
        self, method: str, url: httpx.URL, body: bytes | None, attempt: int
    ) -> httpx.Response:
        await self.gate.wait()
        if self.bucket is not None:
            await self.bucket.acquire()
        async with self.limiter:
            # A 429 may have arrived while this request queued for a slot.
            await self.gate.wait()
            return await self._exchange(method, url, body, attempt)

    async def _exchange(
        self, method: str, url: httpx.URL, body: bytes | None, attempt: int
    ) -> httpx.Response:
        if self._direct:
            request = self._new_request(method, url, body is not None)
        else:
            headers = self.headers if body is None else self._post_headers
            request = self.client.build_request(method, url, headers=headers)
        _set_body(request, body)
        # None means "no auth at all" to httpx; USE_CLIENT_DEFAULT defers to a caller's client.
        auth: httpx.Auth | httpx._client.UseClientDefault | None = (
            self.auth if self.auth is not None else httpx.USE_CLIENT_DEFAULT
        )
        for _hop in range(_MAX_REDIRECTS + 1):
            response = await self._send_one(request, auth, attempt)
            if response.status_code not in _REDIRECTS:
                break
            location = response.headers.get("location")
            if not self.follow_redirects or not location:
                break
            target = request.url.join(location)
            if not _same_origin(request.url, target):
                # Credentials never follow a hop to another origin: neither the auth flow nor
                # any credential header the caller configured on the client.
                auth = None
                hop_headers = {
                    k: v for k, v in request.headers.items() if k.lower() not in _CREDENTIAL_HEADERS
                }
            else:
                hop_headers = dict(request.headers)
            hop_method = "GET" if response.status_code == 303 else method
            hop_body = None if hop_method == "GET" and method != "GET" else body
            if hop_body is None:
                hop_headers.pop("content-type", None)
                hop_headers.pop("content-length", None)
            request = httpx.Request(hop_method, target, headers=hop_headers)
            _set_body(request, hop_body)
        if response.is_success:
            return response
        raise error_for_response(response)

    async def _send_one(
        self,
        request: httpx.Request,
        auth: httpx.Auth | httpx._client.UseClientDefault | None,
        attempt: int,
    ) -> httpx.Response:
        started = time.perf_counter()
        self.requests_sent += 1
        status: int | None = None
        response: httpx.Response | None = None
        try:
            # client.send(request, auth=auth, stream=True, follow_redirects=False), or its fast
            # equivalent (_fastpath). follow_redirects=False always: a caller's client may have
            # it on, and httpx's own redirect handling keeps custom credential headers
            # (X-API-Key) on other origins.
            response = await self._send(request, auth)
            try:
                await self._read_capped(response)
            finally:
                await response.aclose()
            status = response.status_code
            return response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _transport_error(exc, exc.request if _has_request(exc) else request) from exc
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)%s",
                    request.method,
                    request.url.path,
                    status if status is not None else "no response",
                    (time.perf_counter() - started) * 1000,
                    attempt,
                    f" [request id {rid}]"
                    if response is not None and (rid := request_id(response))
                    else "",
                )

    async def _read_capped(self, response: httpx.Response) -> None:
        limit = self.max_response_bytes
        where = f"{response.request.method} {response.request.url.path}"
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise InvalidResponseError(
                f"{where}: response of {int(declared)} bytes exceeds max_response_bytes={limit}",
                request=response.request,
                response=response,
            )
        encoding = response.headers.get("content-encoding", "")
        if "," in encoding:
            # Each extra layer multiplies what one network chunk decompresses to in one go.
            raise InvalidResponseError(
                f"{where}: refusing stacked Content-Encoding {encoding[:40]!r}",
                request=response.request,
                response=response,
            )
        if not await read_capped(response, limit):
            raise InvalidResponseError(
                f"{where}: response body exceeds max_response_bytes={limit}",
                request=response.request,
                response=response,
            )


async def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read a streamed body of at most ``limit`` decoded bytes into ``response.content``.

    Returns ``False`` (response closed, body not kept) when the body is larger.
    """
    chunks: list[bytes] = []
    size = 0
    body = response.aiter_bytes()
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            break
        chunks.append(chunk)
    else:
        response._content = b"".join(chunks)
        return True
    # Close the connection, then let httpx's generator chain run to its (immediate) end: a
    # half-consumed async generator left to the garbage collector makes trio warn.
    await response.aclose()
    try:
        async for _ in body:
            pass
    except Exception:
        pass
    return False


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


def _set_body(request: httpx.Request, body: bytes | None) -> None:
    if body is None:
        return
    request.headers["Content-Length"] = str(len(body))
    request.stream = _OneChunk(body)
    request._content = body  # already "read": auth flows that replay need not iterate it


def _has_request(exc: httpx.TransportError | httpx.DecodingError) -> bool:
    try:
        exc.request  # noqa: B018
    except RuntimeError:
        return False
    return True


def decode_json(response: httpx.Response, *, what: str) -> Any:
    """Parse a 2xx body as a JSON object, or raise :class:`InvalidResponseError`."""
    request = response.request
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        ctype = response.headers.get("content-type", "no content type").split(";")[0]
        raise InvalidResponseError(
            f"{request.method} {request.url.path}: expected a JSON {what}, got an unparsable "
            f"{ctype} body ({type(exc).__name__})",
            request=request,
            response=response,
        ) from None
    if not isinstance(data, dict):
        raise InvalidResponseError(
            f"{request.method} {request.url.path}: expected a JSON object ({what}), got "
            f"{type(data).__name__}",
            request=request,
            response=response,
        )
    return data


def check_page_shape(data: dict[str, Any], response: httpx.Response, *, paged: bool) -> None:
    """Reject a body whose structure cannot be a page: items not a list, a bad cursor."""
    request = response.request
    items = data.get("items")
    if items is not None and not isinstance(items, list):
        raise InvalidResponseError(
            f"{request.method} {request.url.path}: 'items' is {type(items).__name__}, not a list",
            request=request,
            response=response,
        )
    if paged:
        token = data.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise InvalidResponseError(
                f"{request.method} {request.url.path}: 'nextPageToken' is "
                f"{type(token).__name__}, not a string",
                request=request,
                response=response,
            )
        if isinstance(token, str) and len(token) > 2000:
            raise InvalidResponseError(
                f"{request.method} {request.url.path}: 'nextPageToken' is {len(token)} "
                "characters long; the API promises at most 2000",
                request=request,
                response=response,
            )
