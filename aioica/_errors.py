"""The exception tree and the lenient RFC 7807 ``Problem`` parsing.

Every error aioica raises derives from :class:`ICAError`. Validation errors also derive from
``ValueError`` so ``except ValueError`` keeps working for code ported from libica.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import httpx

from ._text import clip, inert
from ._wire import CREDENTIAL_HEADERS
from .models import Problem, from_dict

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ICAError",
    "InvalidParameterError",
    "InvalidResponseError",
    "IteratorFinishedError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SessionClosedError",
    "TokenError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
    "error_for_response",
    "parse_retry_after",
]


class ICAError(Exception):
    """Base class of every error aioica raises."""


class InvalidParameterError(ICAError, ValueError):
    """An argument failed validation before any request was sent.

    ``parameter`` names the offending argument (libica's keyword name).
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class SessionClosedError(ICAError, RuntimeError):
    """The :class:`~aioica.Session` is not open (use ``async with``) or already closed."""


class WrongEventLoopError(ICAError, RuntimeError):
    """The :class:`~aioica.Session` was used from an event loop or thread other than the one
    it was opened in (its connections belong to that loop). Nothing was sent."""


class IteratorFinishedError(ICAError, RuntimeError):
    """``async for`` over an iterator that has already finished (exhausted, closed or failed).

    Iterators run once; iterate the :class:`~aioica.Paginator` again, or call the operation
    again, for a new one.
    """


class APIError(ICAError):
    """A request was made and did not produce a usable result.

    ``request`` is the last ``httpx.Request``; ``attempts`` how many times it was tried and
    ``history`` the errors of earlier attempts (oldest first), when retries happened. The
    message is at most a few thousand characters, with control characters and terminal escape
    sequences escaped, whatever the server sent.
    """

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        message = inert(message)
        super().__init__(message)
        self.message = message
        self.request = request
        self.attempts = 1
        self.history: Sequence[BaseException] = ()

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before a full response."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""


class InvalidResponseError(APIError):
    """The server answered 2xx with a body aioica cannot use (not JSON, wrong shape, too big)."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.response = response


class PaginationError(APIError):
    """The server's paging broke its promises (a cursor seen twice, too many offset rows, an
    exported session past ``max_analyses_per_session``)."""


class TokenError(ICAError):
    """A JWT could not be obtained or read (malformed token, no ``exp`` claim)."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    Returns ``None`` when absent or unparsable; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class APIStatusError(APIError):
    """ICA answered with an error status (4xx/5xx).

    ``problem`` is the parsed RFC 7807 body, or ``None`` when the body was not problem JSON
    (an HTML page from a load balancer, say).
    """

    def __init__(self, message: str, *, response: httpx.Response, problem: Problem | None) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.problem = problem
        #: Seconds the server asked to wait (``Retry-After`` on a 429 or 503), if it said.
        self.retry_after: float | None = (
            parse_retry_after(response.headers.get("retry-after"))
            if response.status_code in (429, 503)
            else None
        )

    @property
    def request_id(self) -> str | None:
        """ICA's id for the failed request (``problem.id`` or a request-id header), if any."""
        return request_id(self.response, self.problem)


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: missing, wrong or expired credentials."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429. ``retry_after`` is the wait the server asked for, in seconds, if it said."""


class ServerError(APIStatusError):
    """HTTP 5xx."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

# What the person reading the error can do about it.
_HINTS = {
    401: "check the API key or JWT: ICAV2_X_API_KEY / ICAV2_ACCESS_TOKEN, or the auth= "
    "passed to the Session; a JWT may have expired",
    403: "the credentials are valid but have no access to this project or tenant",
    404: "check the project id and workflow session id, and that the key's tenant owns them",
    406: "the server refused the Accept header",
    415: "the server refused the request body's content type",
    429: "ICA is rate limiting; the RetryPolicy waits and retries these",
}

_REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "x-amz-request-id", "x-correlation-id")
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_SNIPPET = 160


def request_id(response: httpx.Response, problem: Problem | None = None) -> str | None:
    """ICA's id for a request: ``problem.id`` if the body had one, else a request-id header."""
    if problem is not None and problem.id is not None:
        return str(problem.id)
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


def parse_problem(response: httpx.Response) -> Problem | None:
    """Parse an RFC 7807 body leniently; ``None`` if the body is not a JSON object."""
    try:
        data: Any = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    return from_dict(data, Problem)


# Short values would redact ordinary words; real keys, tokens and passwords are longer.
_MIN_SECRET = 6


def header_secrets(headers: httpx.Headers) -> set[str]:
    """The credential values a set of headers carries (raw, without scheme, decoded Basic)."""
    found: set[str] = set()
    for name in CREDENTIAL_HEADERS:
        for value in headers.get_list(name):
            found.add(value)
            scheme, _, rest = value.partition(" ")
            rest = rest.strip()
            if not rest:
                continue
            found.add(rest)
            if scheme.lower() == "basic":
                try:
                    login = base64.b64decode(rest, validate=True).decode()
                except (binascii.Error, ValueError):
                    continue
                found.add(login.partition(":")[2])
            elif name == "cookie":
                found.update(p.partition("=")[2].strip() for p in value.split(";"))
    return found


def _secrets(request: httpx.Request | None, extra: Iterable[str]) -> list[str]:
    """The credentials to mask, longest first."""
    found = header_secrets(request.headers) if request is not None else set()
    found.update(extra)
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: str, request: httpx.Request | None, extra: Iterable[str] = ()) -> str:
    """``text`` with every credential ``request`` carried, and each of ``extra``, as ``***``.

    Servers and proxies echo what they were sent (a problem detail naming the rejected key, an
    HTML error page); none of it may reach a message. ``extra`` holds the credentials the
    session holds but this request did not carry (the API key behind a minted JWT, say).
    """
    for secret in _secrets(request, extra):
        text = text.replace(secret, "***")
    return text


def _snippet(response: httpx.Response, masked: list[str]) -> str:
    # Only a short, tag-stripped excerpt: bodies can be huge and must not echo request data.
    # Credentials are masked before anything is cut, so no cut can leave part of one behind.
    longest = len(masked[0]) if masked else 0
    window = 2048 + longest
    try:
        text = response.content[:window].decode("utf-8", "replace")
    except Exception:
        return ""
    for secret in masked:
        text = text.replace(secret, "***")
    if len(response.content) > window and longest:
        text = text[:-longest]  # may hold the start of a credential the window cut off
    text = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


# Longest piece of each server-supplied field shown in a message (after redaction).
_FIELD = {"title": 300, "detail": 1500, "parameters": 1000}
_SHORT = 200


def _redacted_problem(problem: Problem, secrets: list[str]) -> Problem:
    """``problem`` with every echoed credential masked in its text fields."""

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "***")
        return value

    changes: dict[str, Any] = {
        name: mask(getattr(problem, name)) for name in ("type", "title", "detail", "instance")
    }
    if isinstance(problem.parameters, dict):
        changes["parameters"] = {mask(k): mask(v) for k, v in problem.parameters.items()}
    if problem.extra:
        changes["extra"] = {k: mask(v) for k, v in problem.extra.items()}
    return attrs.evolve(problem, **changes)


def error_for_response(
    response: httpx.Response, *, path: str | None = None, secrets: Iterable[str] = ()
) -> APIStatusError:
    """Build the typed error for a 4xx/5xx ``response`` (body already read).

    Every credential the request carried, and each of ``secrets``, is masked in the message
    and in the parsed ``problem``; the message is short and free of control characters.
    """
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIStatusError)
    masked = _secrets(response.request, secrets)
    problem = parse_problem(response)
    if problem is not None:
        problem = _redacted_problem(problem, masked)
    where = f"{response.request.method} {path or response.request.url.path}"
    reason = clip(response.reason_phrase or "error", 100)
    if problem is not None:
        parts = [
            clip(str(p), _FIELD[n])
            for n, p in (("title", problem.title), ("detail", problem.detail))
            if p
        ]
        if problem.parameters:
            parts.append(
                clip(
                    "parameters: " + ", ".join(f"{k}={v}" for k, v in problem.parameters.items()),
                    _FIELD["parameters"],
                )
            )
        text = "; ".join(parts) or "no detail given"
    else:
        ctype = clip(
            response.headers.get("content-type", "unknown content type").split(";")[0], _SHORT
        )
        snip = _snippet(response, masked)
        text = f"non-JSON {ctype} body" + (f": {snip!r}" if snip else "")
    message = f"{where} -> {status} {reason}: {text}"
    hint = _HINTS.get(status)
    if hint:
        message += f" ({hint})"
    rid = request_id(response, problem)
    if rid:
        for secret in masked:
            rid = rid.replace(secret, "***")
        message += f" [request id {clip(rid, _SHORT)}]"
    for secret in masked:
        message = message.replace(secret, "***")
    return cls(message, response=response, problem=problem)
