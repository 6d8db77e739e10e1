"""Authentication for ICA as ``httpx.Auth`` flows: API key, static JWT, and self-renewing JWT.

Any ``httpx.Auth`` works with :class:`~aioica.Session`; these three cover ICA's schemes.
:class:`ApiKeyAuth` and :class:`BearerAuth` are plain header setters and also work with a sync
``httpx.Client``. :class:`TokenAuth` mints (and renews) JWTs with ``POST /api/tokens``; it does
I/O and holds an ``anyio.Lock``, so it is async-only.

None of these objects ever shows a secret (API key, password, JWT) in its ``repr``/``str``, in
an exception message or in a log record.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Final, Literal

import anyio
import httpx

from ._body import read_capped
from ._compat import set_response_content
from ._errors import TokenError, error_for_response
from ._wire import MEDIA_TYPE
from .models import Token, from_dict

__all__ = ["ApiKeyAuth", "BearerAuth", "TokenAuth"]

logger = logging.getLogger("aioica.auth")

# Three base64url segments; the signature may be empty (unsigned tokens). Anything else could
# also smuggle characters into a header, so it is rejected before use.
_JWT_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A refresh answered with one of these means "this JWT cannot be refreshed": mint instead.
_REFRESH_FALLBACK: Final = frozenset({400, 401, 403})


def _require_secret(name: str, value: object, *, header: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be empty")
    if header and not (value.isascii() and value.isprintable()):
        # Sent as a header value: control or non-ASCII characters would fail later, in an
        # error message that quotes the header (the secret) back.
        raise ValueError(
            f"{name} contains control or non-ASCII characters and cannot be sent in a header"
        )
    return value


class ApiKeyAuth(httpx.Auth):
    """Send an ICA API key as the ``X-API-Key`` header on every request (sync or async)."""

    kind: Final = "api-key"

    def __init__(self, api_key: str) -> None:
        self._api_key = _require_secret("api_key", api_key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-API-Key"] = self._api_key
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key='***')"

    def _secret_values(self) -> tuple[str, ...]:
        # What error messages must mask wherever a server echoes it.
        return (self._api_key,)


class BearerAuth(httpx.Auth):
    """Send a fixed JWT as ``Authorization: Bearer <JWT>`` (sync or async); it is never renewed.

    For a token that must outlive its ``exp``, use :class:`TokenAuth` instead.
    """

    kind: Final = "bearer"

    def __init__(self, token: str) -> None:
        self._token = _require_secret("token", token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"

    def _secret_values(self) -> tuple[str, ...]:
        return (self._token,)


_MAX_TOKEN_BODY: Final = 64 * 1024
# 9999-12-31T23:59:59Z: later "expiry" claims are not times any clock will reach.
_MAX_EXP: Final = 253_402_300_799


async def _read_token_body(response: httpx.Response) -> None:
    """Read a token endpoint's answer; a token or an error has no business being large."""
    if not await read_capped(response, _MAX_TOKEN_BODY):
        raise TokenError(
            f"POST {response.request.url.path} -> {response.status_code}: response body "
            f"exceeds {_MAX_TOKEN_BODY} bytes"
        )


def _jwt_expiry(token: str) -> float:
    """The ``exp`` claim of ``token``, read without checking the signature.

    Messages never include the token, and exceptions are raised ``from None`` because
    decoder errors may carry the decoded payload.
    """
    if token.count(".") != 2:
        raise TokenError(
            f"the token is not a JWT: expected 3 dot-separated parts, got {token.count('.') + 1}"
        )
    if _JWT_SHAPE.fullmatch(token) is None:
        raise TokenError("the token is not a JWT: its parts are not base64url")
    payload = token.split(".")[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims: Any = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise TokenError("the token is not a JWT: its payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("the token is not a JWT: its payload is not a JSON object")
    exp = claims.get("exp")
    if exp is None:
        raise TokenError("the JWT has no 'exp' claim, so aioica cannot tell when to renew it")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise TokenError(
            f"the JWT's 'exp' claim is not a number of seconds (got a {type(exp).__name__})"
        )
    # An int beyond float range, inf, nan, a time before 1970 or after 9999 is no expiry time.
    # Compared as given: float(10**400) itself would raise OverflowError; nan compares false.
    if not 0 <= exp <= _MAX_EXP:
        raise TokenError(
            "the JWT's 'exp' claim is not a plausible time (before 1970 or after 9999)"
        )
    return float(exp)


def _api_root(url: httpx.URL) -> str:
    """The path before ``/api/``: ``https://h/ica/rest/api/projects/x`` -> ``/ica/rest``."""
    index = url.path.find("/api/")
    if index < 0:
        raise TokenError(
            f"cannot locate the ICA token endpoint: the request path {url.path!r} has no '/api/'"
        )
    return url.path[:index]


class TokenAuth(httpx.Auth):
    """Mint a JWT from an API key or an email/password login, cache it and renew it ahead of expiry.

    ``TokenAuth(api_key)`` or ``TokenAuth(username=email, password=..., tenant=None)``. The token
    endpoint is ``POST {base}/api/tokens`` where ``{base}`` is the part of the authenticated
    request's URL before ``/api/`` (``tenant``, when given, is sent as ``?tenant=``).

    Renewal: a token minted at time ``t`` with claim ``exp`` lives ``exp - t`` seconds and is
    renewed ``min(renew_fraction * lifetime, max_renew_margin)`` seconds before ``exp``
    (defaults 0.1 and 300 s: a 1 h token renews after 55 min, a 60 s token after 54 s). A JWT
    from a login is extended with ``POST {base}/api/tokens:refresh`` while still valid (falling
    back to a new login if ICA refuses with 400/401/403); a JWT from an API key cannot be
    refreshed, so it is minted again. Renewal is single-flight: concurrent requests wait for one
    mint instead of each making their own.

    A 401 triggers one renewal and one replay of the request; a second 401 is returned as is.
    ``clock`` (default ``time.time``) gives the current epoch time and exists for tests. One
    ``TokenAuth`` serves one ICA base URL. Async-only: with a sync ``httpx.Client`` it raises
    ``TypeError``.
    """

    requires_request_body = True  # the request may be replayed after a 401
    requires_response_body = True  # token responses are parsed inside the flow

    def __init__(
        self,
        api_key: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        tenant: str | None = None,
        renew_fraction: float = 0.1,
        max_renew_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if api_key is not None and (username is not None or password is not None):
            raise ValueError("TokenAuth takes either api_key or username/password, not both")
        self._mode: Literal["api_key", "basic"]
        self._password: str | None = None
        if api_key is not None:
            self._mode = "api_key"
            self._login_headers = {"X-API-Key": _require_secret("api_key", api_key)}
        elif username is not None and password is not None:
            self._mode = "basic"
            user = _require_secret("username", username, header=False)
            if not isinstance(password, str) or not password:
                raise ValueError("password must be a non-empty str")
            self._password = password
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._login_headers = {"Authorization": f"Basic {basic}"}
        else:
            raise ValueError("TokenAuth needs an api_key, or both username and password")
        if tenant is not None and not (isinstance(tenant, str) and tenant.strip()):
            raise ValueError("tenant must be a non-empty str or None")
        if not 0.0 <= renew_fraction < 1.0:
            raise ValueError(f"renew_fraction must be in [0, 1), got {renew_fraction!r}")
        if not max_renew_margin >= 0.0:
            raise ValueError(f"max_renew_margin must be >= 0, got {max_renew_margin!r}")
        self._tenant = tenant.strip() if tenant is not None else None
        self._renew_fraction = float(renew_fraction)
        self._max_renew_margin = float(max_renew_margin)
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._tokens_held: tuple[str, ...] = ()
        self._expires_at: float | None = None
        self._renew_at = -math.inf
        self._mint_count = 0
        self._refresh_count = 0

    # -- public read-only state (never the token itself) -------------------------------------

    @property
    def kind(self) -> str:
        """``"token(api-key)"`` or ``"token(basic)"``, for reprs and telemetry."""
        return "token(api-key)" if self._mode == "api_key" else "token(basic)"

    @property
    def mode(self) -> Literal["api_key", "basic"]:
        """How tokens are minted: ``"api_key"`` or ``"basic"`` (email and password)."""
        return self._mode

    @property
    def tenant(self) -> str | None:
        """The tenant sent as ``?tenant=`` when minting, if any."""
        return self._tenant

    @property
    def mint_count(self) -> int:
        """How many tokens were obtained from ``POST /api/tokens``."""
        return self._mint_count

    @property
    def refresh_count(self) -> int:
        """How many tokens were obtained from ``POST /api/tokens:refresh``."""
        return self._refresh_count

    @property
    def expires_at(self) -> float | None:
        """The current token's ``exp`` claim (epoch seconds), or ``None`` before the first mint."""
        return self._expires_at

    def __repr__(self) -> str:
        return f"TokenAuth(mode={self._mode!r}, tenant={self._tenant!r})"

    def _secret_values(self) -> tuple[str, ...]:
        # The login (API key, or Basic header and password), the current JWT and the one
        # before it: a data endpoint may echo any of them, not just what its request carried.
        values = [*self._tokens_held]
        for header in self._login_headers.values():
            values += [header, header.partition(" ")[2]]
        if self._password is not None:
            values.append(self._password)
        return tuple(values)

    # -- the flow -------------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise TypeError(
            "TokenAuth is async-only: use it with aioica.Session or httpx.AsyncClient "
            "(ApiKeyAuth and BearerAuth also work with a sync httpx.Client)"
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        return self.auth_flow(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        root = _api_root(request.url)
        rejected: str | None = None  # the token a 401 was answered to
        while True:
            if self._must_renew(rejected):
                # The lock is held across the yields below, so other requests wait for this
                # renewal. On cancellation httpx calls aclose() on this generator, which raises
                # GeneratorExit at the yield and the ``async with`` releases the lock.
                async with self._lock:
                    if self._must_renew(rejected):
                        refreshed = False
                        if rejected is None and self._can_refresh():
                            response = yield self._token_request(request, root, refresh=True)
                            await _read_token_body(response)
                            if response.is_success:
                                self._install(response, refreshed=True)
                                refreshed = True
                            elif response.status_code in _REFRESH_FALLBACK:
                                logger.debug(
                                    "token refresh refused with %d; logging in again",
                                    response.status_code,
                                )
                            else:
                                raise error_for_response(response, secrets=self._secret_values())
                        if not refreshed:
                            response = yield self._token_request(request, root, refresh=False)
                            await _read_token_body(response)
                            if not response.is_success:
                                raise error_for_response(response, secrets=self._secret_values())
                            self._install(response, refreshed=False)
            token = self._token
            if token is None:  # pragma: no cover - _install sets it or raises
                raise TokenError("no token available after renewal")
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or rejected is not None:
                return
            # httpx reads the body of a response the flow answers with a new request: keep
            # that read bounded (the 401 body itself is not needed).
            if not await read_capped(response, _MAX_TOKEN_BODY):
                set_response_content(response, b"")
            logger.debug(
                "%s %s -> 401; renewing the token and replaying once",
                request.method,
                request.url.path,
            )
            rejected = token

    # -- helpers --------------------------------------------------------------------------------

    def _must_renew(self, rejected: str | None) -> bool:
        if self._token is None:
            return True
        if rejected is not None and self._token == rejected:
            return True
        return self._clock() >= self._renew_at

    def _can_refresh(self) -> bool:
        # ICA refreshes only login tokens, and only while they are still valid.
        return (
            self._mode == "basic"
            and self._token is not None
            and self._expires_at is not None
            and self._clock() < self._expires_at
        )

    def _token_request(self, request: httpx.Request, root: str, *, refresh: bool) -> httpx.Request:
        headers = {"Accept": MEDIA_TYPE}
        user_agent = request.headers.get("user-agent")
        if user_agent:
            headers["User-Agent"] = user_agent
        if refresh:
            headers["Authorization"] = f"Bearer {self._token}"
            url = request.url.copy_with(
                path=root + "/api/tokens:refresh", query=None, fragment=None
            )
        else:
            headers.update(self._login_headers)
            url = request.url.copy_with(path=root + "/api/tokens", query=None, fragment=None)
            if self._tenant is not None:
                url = url.copy_with(params={"tenant": self._tenant})
        # Same extensions (timeouts above all) as the request being authenticated.
        return httpx.Request(
            "POST", url, headers=headers, content=b"", extensions=dict(request.extensions)
        )

    def _install(self, response: httpx.Response, *, refreshed: bool) -> None:
        where = f"POST {response.request.url.path}"
        try:
            data: Any = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise TokenError(f"{where} -> {response.status_code}: body is not JSON") from None
        if not isinstance(data, dict):
            raise TokenError(f"{where} -> {response.status_code}: body is not a JSON object")
        try:
            token = from_dict(data, Token).token
        except Exception:
            raise TokenError(f"{where} -> {response.status_code}: unreadable token body") from None
        if not isinstance(token, str) or not token:
            raise TokenError(f"{where} -> {response.status_code}: the body holds no token")
        try:
            exp = _jwt_expiry(token)
        except TokenError as exc:
            raise TokenError(f"{where} -> {response.status_code}: {exc}") from None
        now = self._clock()
        lifetime = exp - now
        if lifetime <= 0:
            raise TokenError(
                f"{where}: the new JWT expired {-lifetime:.0f} s ago by this machine's clock "
                "(is the system clock wrong?)"
            )
        margin = min(self._renew_fraction * lifetime, self._max_renew_margin)
        self._token = token
        self._tokens_held = (token, *self._tokens_held[:1])
        self._expires_at = exp
        self._renew_at = exp - margin
        if refreshed:
            self._refresh_count += 1
        else:
            self._mint_count += 1
        logger.debug(
            "%s: %s token valid for %.0f s, renewing %.0f s before expiry",
            where,
            "refreshed" if refreshed else "minted",
            lifetime,
            margin,
        )
