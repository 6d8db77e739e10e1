"""One request, start to finish: limits, the 429 gate, retries, redirects, logging, errors.

Every HTTP exchange aioica makes goes through :meth:`Requester.send`, so the retry rules, the
session-wide limits and the error mapping live here and nowhere else.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from anyio.abc import AsyncBackend

from ._body import bad_response, read_capped, read_whole
from ._compat import AuthArg, basic_auth_header
from ._deadlines import DeadlineWatch
from ._direct import Answer, DirectPath, LeanReply
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    InvalidResponseError,
    RateLimitError,
    error_for_response,
    header_secrets,
    redact,
    request_id,
)
from ._events import EventHook, RequestEvent, emit
from ._fastpath import RequestFactory, Sender, set_body
from ._limits import PauseRefused, RateGate, Slots, TokenBucket
from ._retry import RetryPolicy
from ._text import inert
from ._transports import classify_transport_error, proxy_secrets
from ._transports._pooled import WholeBody
from ._wire import CREDENTIAL_HEADERS, MEDIA_TYPE

__all__ = ["Requester", "logger", "read_capped", "request_deadline"]

logger = logging.getLogger("aioica")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


_DEADLINE_PHASES = ("connect", "write", "read", "pool")
# Closing a connection after a deadline must not itself wait on the server for long.
_CLOSE_GRACE = 5.0


def _refused(
    method: str, url: httpx.URL, policy: RetryPolicy, refused: PauseRefused
) -> RateLimitError:
    """The error of a call that will not wait for the session-wide 429 pause."""
    allowed = (
        "never waits (max_attempts=1)"
        if policy.max_attempts == 1
        else f"waits at most max_retry_after={policy.max_retry_after:g} s"
    )
    cause = refused.cause
    if not isinstance(cause, RateLimitError):  # pragma: no cover - the gate closes on a 429
        raise RuntimeError("the 429 pause has no cause") from None
    error = RateLimitError(
        f"{method} {url.path}: not sent: requests are paused for {refused.remaining:.1f} s "
        f"more after HTTP 429 from ICA, and this call's retry policy {allowed}",
        response=cause.response,
        problem=cause.problem,
    )
    error.retry_after = refused.remaining
    error.request = None  # nothing was sent; .response is the 429 that started the pause
    return error


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def request_deadline(timeout: Mapping[str, float | None] | None) -> float | None:
    """Seconds one attempt may take in all: the sum of its connect, write, read and pool timeouts.

    A per-read timeout alone never ends a response that trickles in a byte at a time; this
    bound does. ``None`` (no deadline) when the read timeout is ``None``; another phase that is
    ``None`` counts as 0.
    """
    if not timeout or timeout.get("read") is None:
        return None
    return sum(float(timeout.get(phase) or 0.0) for phase in _DEADLINE_PHASES)


def _deadline_error(request: httpx.Request, deadline: float) -> APITimeoutError:
    return APITimeoutError(
        f"{request.method} {request.url.path}: no complete answer within {deadline:.3g} s, the "
        "whole-request deadline (connect + write + read + pool timeouts)",
        request=request,
    )


def _transport_error(
    exc: httpx.TransportError | httpx.DecodingError,
    request: httpx.Request,
    secrets: Iterable[str] = (),
) -> APIError:
    where = f"{request.method} {request.url.path}"
    detail = redact(str(exc), request, secrets) or type(exc).__name__
    # Classified on what happened (an exception's cause), not on its class alone.
    if classify_transport_error(exc) == "timeout":
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
        limiter: Slots,
        gate: RateGate,
        bucket: TokenBucket | None,
        retry: RetryPolicy,
        follow_redirects: bool,
        max_response_bytes: int,
        own_client: bool = False,
        on_event: EventHook | None = None,
        backend: type[AsyncBackend] | None = None,
        library: str | None = None,
    ) -> None:
        self.client = client
        # The running loop's anyio backend, looked up once: anyio's module-level functions
        # look it up on every call (a sniffio probe each), several times per request.
        self._backend = backend or anyio.lowlevel.current_token().backend_class
        #: asyncio's shared-timer deadlines (see _deadlines); None on trio.
        self.deadlines = DeadlineWatch.for_library(library)
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
        self._own_client = own_client
        #: The client's timeout as a request's ``timeout`` extension, and its whole deadline.
        self.timeout = client.timeout.as_dict()
        self.default_deadline = request_deadline(self.timeout)
        self._post_headers = {**headers, "Content-Type": MEDIA_TYPE}
        self.requests_sent = 0
        self.on_event = on_event
        self._calls = 0
        # See _fastpath: the same request and the same client.send result, built and sent
        # with less machinery where aioica owns the client, the auth and the transport.
        self._new_request = RequestFactory(
            self.headers, self._post_headers, {"timeout": self.timeout}
        )
        self.sender = Sender(client, own_client=own_client)
        # See _direct: the plain 2xx exchange on aioica's aiohttp transport, without building
        # httpx objects unless they are asked for.
        self.direct = DirectPath.for_requester(self)
        # None means "no auth at all" to httpx; USE_CLIENT_DEFAULT defers to a caller's client.
        self._auth_arg: AuthArg = auth if auth is not None else httpx.USE_CLIENT_DEFAULT

    async def send(
        self,
        method: str,
        url: httpx.URL,
        *,
        body: bytes | None = None,
        retry: RetryPolicy | None = None,
    ) -> Answer:
        """Send until success or the policy gives up; return the 2xx answer, body read.

        The answer is the ``httpx.Response``, or a :class:`~aioica._direct.LeanReply` that
        builds it on demand (:func:`~aioica._direct.as_response`).
        """
        policy = retry or self.retry
        history: list[BaseException] = []
        attempt = 0
        self._calls += 1
        call = self._calls
        gate = self.gate
        while True:
            attempt += 1
            error: APIError
            try:
                # The session-wide 429 pause: waited for only as long as this call's policy
                # allows, counted from when the call first finds the gate closed (the clock is
                # not read at all while no 429 has ever closed it, i.e. on almost every request).
                deadline = math.inf
                if gate.paused_until:
                    deadline = anyio.current_time() + policy.max_pause_wait
                    await gate.wait(deadline)
                if self.bucket is not None:
                    await self.bucket.acquire()
                async with self.limiter:
                    # A 429 may have arrived while this request queued for a slot.
                    if gate.paused_until:
                        if deadline == math.inf:
                            deadline = anyio.current_time() + policy.max_pause_wait
                        await gate.wait(deadline)
                    hook = self.on_event
                    if hook is None:
                        return await self._exchange(method, url, body, attempt)
                    return await self._observed(hook, method, url, body, attempt, call)
            except APIError as exc:
                error = exc
            except PauseRefused as refused:
                # Fail fast: the caller's policy will not wait for the session-wide pause.
                error = _refused(method, url, policy, refused)
                error.attempts = attempt - 1
                error.history = tuple(history)
                if self.on_event is not None:
                    event = self._event(
                        "refused", method, url, call, attempt, 429, refused.remaining, error
                    )
                    emit(self.on_event, event)
                raise error from None
            wait = policy.delay_for(error, attempt)
            if wait is None:
                asked = policy.refused_wait(error)
                if asked is not None:
                    error.message += (
                        f"; the server asked to wait {asked:.0f} s, more than "
                        f"max_retry_after={policy.max_retry_after:.0f} s"
                    )
                error.attempts = attempt
                error.history = tuple(history)
                raise error
            history.append(error)
            hook = self.on_event
            if hook is not None:
                status = getattr(error, "status_code", None)
                emit(hook, self._event("retry", method, url, call, attempt, status, wait, error))
            if isinstance(error, RateLimitError):
                self.gate.close_for(wait, error)
                if hook is not None:
                    emit(hook, self._event("pause", method, url, call, attempt, 429, wait))
            await anyio.sleep(wait)

    @staticmethod
    def _event(
        kind: Any,
        method: str,
        url: httpx.URL,
        call: int,
        attempt: int,
        status: int | None = None,
        wait: float | None = None,
        error: BaseException | None = None,
        elapsed: float | None = None,
    ) -> RequestEvent:
        return RequestEvent(
            kind=kind,
            method=method,
            path=url.path,
            call=call,
            attempt=attempt,
            status=status,
            elapsed=elapsed,
            wait=wait,
            error=error,
        )

    async def _observed(
        self,
        hook: EventHook,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        attempt: int,
        call: int,
    ) -> Answer:
        emit(hook, self._event("request", method, url, call, attempt))
        started = time.perf_counter()
        try:
            response = await self._exchange(method, url, body, attempt)
        except BaseException as exc:
            elapsed = time.perf_counter() - started
            got = getattr(exc, "response", None)
            status = got.status_code if isinstance(got, httpx.Response) else None
            kind = "error" if status is None else "response"
            emit(hook, self._event(kind, method, url, call, attempt, status, None, exc, elapsed))
            raise
        elapsed = time.perf_counter() - started
        status = response.status_code
        emit(hook, self._event("response", method, url, call, attempt, status, None, None, elapsed))
        return response

    def build_request(self, method: str, url: httpx.URL, body: bytes | None) -> httpx.Request:
        """The request for ``method`` ``url`` with ``body``, before its auth is applied."""
        if self._own_client:
            request = self._new_request(method, url, body is not None)
        else:
            headers = self.headers if body is None else self._post_headers
            request = self.client.build_request(method, url, headers=headers)
        set_body(request, body)
        return request

    async def _exchange(
        self, method: str, url: httpx.URL, body: bytes | None, attempt: int
    ) -> Answer:
        direct = self.direct
        headers = None
        if direct is not None and direct.ready(url):
            headers = direct.headers_for(method, url, body)
        request: httpx.Request | None = None
        if headers is not None:
            deadline = self.default_deadline
        else:
            request = self.build_request(method, url, body)
            timeout = request.extensions.get("timeout")
            deadline = (
                self.default_deadline if timeout is self.timeout else request_deadline(timeout)
            )
        # One deadline for the whole attempt: token renewal, every redirect hop, headers and
        # body. Per-read timeouts alone never end a response that trickles in.
        watch = self.deadlines
        if deadline is None:
            response = await self._answer(request, method, url, body, headers, attempt)
        elif watch is not None:
            # See _deadlines: asyncio's own timeout, set by one shared timer only for a request
            # that runs past its deadline. A cancellation from elsewhere stays a cancellation.
            expiry = watch.expiry()
            try:
                async with expiry:
                    watch.add(expiry, deadline)
                    try:
                        response = await self._answer(request, method, url, body, headers, attempt)
                    finally:
                        watch.discard(expiry)
            except (APIError, TimeoutError):
                if not expiry.expired():
                    raise
            if expiry.expired():
                raise _deadline_error(request or self._sent(method, url, body), deadline) from None
        else:
            backend = self._backend
            with backend.create_cancel_scope(deadline=backend.current_time() + deadline) as scope:
                try:
                    response = await self._answer(request, method, url, body, headers, attempt)
                except APIError:
                    if not scope.cancel_called:
                        raise
            if scope.cancel_called:
                raise _deadline_error(request or self._sent(method, url, body), deadline)
        if isinstance(response, LeanReply) or response.is_success:
            return response
        raise error_for_response(response, secrets=self.held_secrets())

    def _sent(self, method: str, url: httpx.URL, body: bytes | None) -> httpx.Request:
        direct = self.direct
        assert direct is not None
        return direct.request(method, url, body)

    async def _answer(
        self,
        request: httpx.Request | None,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        headers: dict[str, str] | None,
        attempt: int,
    ) -> Answer:
        """The answer to one attempt: sent directly (``request`` None, ``headers`` prepared) or
        as ``request``; the last hop's when following redirects."""
        if request is None:
            assert self.direct is not None and headers is not None
            answer = await self.direct.exchange(method, url, body, headers)
            if isinstance(answer, LeanReply):
                return answer
            request = answer.request
        else:
            answer = await self._send_one(request, self._auth_arg, attempt)
        if answer.status_code in _REDIRECTS and self.follow_redirects:
            answer = await self._follow(request, answer, method, body, attempt)
        return answer

    async def _follow(
        self,
        request: httpx.Request,
        response: httpx.Response,
        method: str,
        body: bytes | None,
        attempt: int,
    ) -> httpx.Response:
        """Follow the redirect ``response`` answered to ``request``; return the last answer."""
        auth = self._auth_arg
        timeout = request.extensions.get("timeout")
        hops = 0
        while True:
            location = response.headers.get("location")
            if not location:
                return response
            target = _redirect_target(request, response, location)
            same_origin = _same_origin(request.url, target)
            if not same_origin:
                # Credentials never follow a hop to another origin: neither the auth flow nor
                # any credential header the caller configured on the client.
                auth = None
            # Host always comes from the target: a hop to another origin must not carry the
            # old one's name (httpx keeps a Host header it is given).
            hop_headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() != "host" and (same_origin or k.lower() not in CREDENTIAL_HEADERS)
            }
            hop_method = "GET" if response.status_code == 303 else method
            hop_body = None if hop_method == "GET" and method != "GET" else body
            if hop_body is None:
                hop_headers.pop("content-type", None)
                hop_headers.pop("content-length", None)
            request = httpx.Request(
                hop_method,
                target,
                headers=hop_headers,
                extensions={} if timeout is None else {"timeout": timeout},
            )
            set_body(request, hop_body)
            if hops == _MAX_REDIRECTS:
                return response
            hops += 1
            response = await self._send_one(request, auth, attempt)
            if response.status_code not in _REDIRECTS:
                return response

    def held_secrets(self) -> set[str]:
        """Every credential the session holds, to mask wherever a server echoes one.

        A request carries only some of them (a JWT, not the API key it was minted from); the
        auth object's and the caller's client's are added here, and the passwords of the
        environment's proxies when the client takes its proxies from there.
        """
        found = header_secrets(self.client.headers)
        if self.client.trust_env:
            found.update(proxy_secrets())
        for auth in (self.auth, self.client.auth):
            values = getattr(auth, "_secret_values", None)
            if callable(values):
                found.update(str(v) for v in values() if v)
            header = basic_auth_header(auth)
            if header is not None:
                found.update(header_secrets(httpx.Headers({"authorization": header})))
        return found

    async def _send_one(
        self,
        request: httpx.Request,
        auth: AuthArg,
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
            response = await self.sender(request, auth)
            stream = response.stream
            if isinstance(stream, WholeBody):
                self.take_whole(response, stream)  # not awaited: one coroutine fewer
            else:
                await self.take_body(response)
            status = response.status_code
            return response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self.transport_error(exc, request) from exc
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)%s",
                    request.method,
                    request.url.path,
                    status if status is not None else "no response",
                    (time.perf_counter() - started) * 1000,
                    attempt,
                    f" [request id {inert(rid, 200)}]"
                    if response is not None and (rid := request_id(response))
                    else "",
                )

    async def take_body(self, response: httpx.Response) -> None:
        """Read ``response``'s body, within ``max_response_bytes``, into ``response.content``
        and give its connection back."""
        stream = response.stream
        if isinstance(stream, WholeBody):
            self.take_whole(response, stream)
            return
        try:
            await self._read_capped(response)
        finally:
            # Shielded: after the deadline the connection must still be given back (or
            # closed), and closing never waits on the server for long.
            if not response.is_closed:
                with anyio.move_on_after(_CLOSE_GRACE, shield=True):
                    await response.aclose()

    def take_whole(self, response: httpx.Response, stream: WholeBody) -> None:
        """:meth:`take_body` for a body the transport read in full: nothing to wait for."""
        try:
            self._check_size(response, len(stream.raw))
            self._check_read(response, read_whole(response, stream, self.max_response_bytes))
        finally:
            # What aclose() does for an in-memory stream: there is no connection to give back
            # (it went back to its pool at the end of the body) and nothing to wait for.
            response.is_closed = True

    def transport_error(
        self, exc: httpx.TransportError | httpx.DecodingError, request: httpx.Request
    ) -> APIError:
        """The error to raise for ``exc``, met while sending ``request`` or reading its answer."""
        return _transport_error(
            exc, exc.request if _has_request(exc) else request, self.held_secrets()
        )

    async def _read_capped(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit():
            self._check_size(response, int(declared))
        self._check_read(response, await read_capped(response, self.max_response_bytes))

    def _check_size(self, response: httpx.Response, size: int) -> None:
        limit = self.max_response_bytes
        if size > limit:
            raise bad_response(
                response, f"response of {size} bytes exceeds max_response_bytes={limit}"
            )

    def _check_read(self, response: httpx.Response, read: bool) -> None:
        if not read:
            raise bad_response(
                response, f"response body exceeds max_response_bytes={self.max_response_bytes}"
            )


def _redirect_target(request: httpx.Request, response: httpx.Response, location: str) -> httpx.URL:
    """Where a redirect leads, or :class:`InvalidResponseError` when it must not be followed."""
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    try:
        target = request.url.join(location)
    except (httpx.InvalidURL, ValueError):
        raise InvalidResponseError(
            f"{where}: the Location header is not a usable URL", request=request, response=response
        ) from None
    if target.scheme not in ("http", "https") or not 0 < (target.port or 443) < 65536:
        raise InvalidResponseError(
            f"{where}: refusing to follow a redirect to {target.scheme[:20]!r} port {target.port}",
            request=request,
            response=response,
        )
    if target.userinfo:
        # A server must not choose credentials for the next hop (httpx would send them as
        # Basic auth), and a URL with a password in it is never a legitimate API redirect.
        raise InvalidResponseError(
            f"{where}: refusing to follow a redirect to a URL that carries credentials",
            request=request,
            response=response,
        )
    return target


def _has_request(exc: httpx.TransportError | httpx.DecodingError) -> bool:
    try:
        exc.request  # noqa: B018
    except RuntimeError:
        return False
    return True
