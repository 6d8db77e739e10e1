"""The fake ICA ASGI application: routing, auth, content negotiation, paging, faults."""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import json
import random
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote

import anyio
import httpx
from starlette.middleware.gzip import GZipMiddleware

from ._advance import Advance
from ._dataset import V3_TO_V4, V4_STATUSES, AnalysisRecord, Dataset, SessionRecord, iso
from ._faults import Counters, Faults

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["DEFAULT_API_KEY", "FakeICA"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
R = TypeVar("R", SessionRecord, AnalysisRecord)

#: The API key a :class:`FakeICA` accepts unless told otherwise.
DEFAULT_API_KEY = "fake-ica-api-key"
V3_JSON = "application/vnd.illumina.v3+json"
_V3 = V3_JSON.encode()
_PROBLEM = b"application/problem+json"
_BODY_TYPES = frozenset({V3_JSON, "application/json"})
_ACCEPTABLE = frozenset({"*/*", "application/*", V3_JSON})
_TOKEN_OPS = frozenset({"createJwtToken", "refreshJwtToken"})
_NUMBER = re.compile(r"[0-9]{1,9}")
# Problem titles in ICA's style (ICA's own codes are not published per status; these are stable).
_TITLES = {
    400: "ICA_API_004",
    401: "ICA_API_001",
    403: "ICA_API_003",
    404: "ICA_API_005",
    405: "ICA_API_006",
    406: "ICA_API_007",
    415: "ICA_API_008",
    429: "ICA_API_009",
    500: "ICA_API_010",
    502: "ICA_API_011",
    503: "ICA_API_012",
}
_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}
_TOKEN_HEAD = "ica+/"
_TOKEN_SIG = "&sig="
_TOKEN_TAIL = "% ="

_SESSION_SORT: dict[str, Callable[[SessionRecord], Any]] = {
    "reference": lambda s: s.reference,
    "userreference": lambda s: s.user_reference,
    "pipeline": lambda s: s.workflow_code,
    "status": lambda s: s.status,
    "startdate": lambda s: s.start_date,
    "enddate": lambda s: s.end_date,
    "workflow": lambda s: s.workflow_code,
}
# The V3 list shows (and so orders by) the V3 spelling of the status.
_SESSION_SORT_V3 = {**_SESSION_SORT, "status": lambda s: s.status_v3}
_ANALYSIS_SORT: dict[str, Callable[[AnalysisRecord], Any]] = {
    "reference": lambda a: a.reference,
    "userreference": lambda a: a.user_reference,
    "pipeline": lambda a: a.pipeline,
    "status": lambda a: a.status,
    "startdate": lambda a: a.start_date,
    "enddate": lambda a: a.end_date,
    "summary": lambda a: a.summary,
}


class _Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        parameters: Mapping[str, str] | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.parameters = dict(parameters or {})
        self.headers = list(headers)


class _Route:
    __slots__ = ("error", "op", "project", "session")

    def __init__(
        self,
        op: str,
        project: str = "",
        session: str = "",
        error: _Problem | None = None,
    ) -> None:
        self.op = op
        self.project = project
        self.session = session
        self.error = error


class _Filter:
    """AnalysisQueryParameters / V3 query filters; all given fields must match (AND)."""

    __slots__ = ("key", "reference", "references", "statuses", "technical", "user", "user_ref")

    def __init__(
        self,
        reference: str | None,
        user_ref: str | None,
        statuses: frozenset[str] | None,
        user: frozenset[str],
        technical: frozenset[str],
        references: frozenset[str],
    ) -> None:
        self.reference = reference.lower() if reference else None
        self.user_ref = user_ref.lower() if user_ref else None
        self.statuses = statuses
        self.user = user
        self.technical = technical
        self.references = references
        self.key = repr(
            (
                self.reference,
                self.user_ref,
                sorted(statuses) if statuses is not None else None,
                sorted(user),
                sorted(technical),
                sorted(references),
            )
        )

    def __call__(self, r: SessionRecord | AnalysisRecord) -> bool:
        if self.reference is not None and self.reference not in r.reference.lower():
            return False
        if self.user_ref is not None and self.user_ref not in r.user_reference.lower():
            return False
        if self.statuses is not None and r.status not in self.statuses:
            return False
        if self.user and self.user.isdisjoint(r.user_tags):
            return False
        if self.technical and self.technical.isdisjoint(r.technical_tags):
            return False
        return not (self.references and self.references.isdisjoint(r.reference_tags))


class _Paging:
    __slots__ = ("offset", "position", "size", "sort", "token")

    def __init__(
        self, size: int, offset: int | None, token: str | None, sort: list[tuple[str, bool]]
    ) -> None:
        self.size = size
        self.offset = offset
        self.token = token
        self.sort = sort
        self.position = 0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sorted_key(value: Any) -> tuple[int, Any]:
    # None sorts after every value ascending and before them descending (as PostgreSQL does).
    return (1, "") if value is None else (0, value)


class FakeICA:
    """An in-memory ICA serving the Project Workflow Session endpoints (an ASGI application).

    Use it in process (``httpx.ASGITransport(app=fake.app)``, or :meth:`http_client`) or over
    loopback TCP with :func:`aioica.testing.serve`. ``api_key`` (plus any ``api_keys``) is
    accepted in ``X-API-Key``; ``users`` maps e-mail to password for Basic logins at
    ``POST /api/tokens``; JWTs live ``jwt_ttl`` seconds. ``faults`` and ``counters`` are live.
    ``page_size_default`` applies when a request has no ``pageSize``; ``offset_limit`` is ICA's
    200K offset-paging cap; ``last_page_token`` is ``"rotate"`` (null, absent or ``""`` chosen by
    a hash of the query) or one of ``"null"``, ``"absent"``, ``"empty"``;
    ``not_acceptable_status`` is what an Accept without the v3 media type gets (ICA: 400).

    In process there is no socket: a ``"drop"`` or ``"truncate"`` fault raises
    ``httpx.RemoteProtocolError`` out of the app (``ASGITransport`` hands it to the client) and
    ``connections`` stays empty. Over TCP (:func:`~aioica.testing.serve`) a drop aborts the
    connection before any byte of the response and a truncation aborts it after a partial body
    whose ``Content-Length`` promised more. Setting ``closing`` releases hanging requests.
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_keys: Iterable[str] = (),
        users: Mapping[str, str] | None = None,
        tenants: Sequence[str] = ("fake-tenant",),
        jwt_ttl: float = 3600.0,
        faults: Faults | None = None,
        page_size_default: int = 100,
        max_page_size: int = 1000,
        offset_limit: int = 200_000,
        last_page_token: str = "rotate",
        not_acceptable_status: int = 400,
        base_path: str = "/ica/rest",
        gzip_minimum_size: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset()
        self.api_key = api_key
        self.api_keys = {api_key, *api_keys}
        self.users = dict(users) if users is not None else {"user@example.com": "password"}
        self.tenants = tuple(tenants)
        self.jwt_ttl = jwt_ttl
        self.faults = faults if faults is not None else Faults()
        self.counters = Counters()
        self.page_size_default = page_size_default
        self.max_page_size = max_page_size
        self.offset_limit = offset_limit
        if last_page_token not in ("rotate", "null", "absent", "empty"):
            raise ValueError(f"last_page_token must be rotate/null/absent/empty: {last_page_token}")
        self.last_page_token = last_page_token
        self.not_acceptable_status = not_acceptable_status
        self.base_path = base_path.rstrip("/")
        self.clock = clock
        self._prefix = self.base_path.split("/")[1:] if self.base_path else []
        self._jwt_secret = secrets.token_bytes(32)
        self._cursor_secret = hashlib.sha256(f"aioica-fake/{self.dataset.seed}".encode()).digest()
        self._rng = random.Random(self.faults.seed)
        self._budget: collections.deque[float] = collections.deque()
        self._selections: collections.OrderedDict[tuple[Any, ...], Sequence[Any]] = (
            collections.OrderedDict()
        )
        self._gzip = GZipMiddleware(self._dispatch, minimum_size=gzip_minimum_size, compresslevel=1)
        self.closing = False

    # -- conveniences ------------------------------------------------------------------------

    @property
    def app(self) -> FakeICA:
        """The ASGI application (the fake itself)."""
        return self

    @property
    def base_url(self) -> str:
        """The base URL to use with the in-process transport.

        The host is a loopback name (the in-process transport ignores it), so a Session accepts
        the plain-http URL as it accepts one to a local server.
        """
        return "http://localhost" + self.base_path

    def session(self, **kwargs: Any) -> Session:
        """An :class:`aioica.Session` on this fake, in process, authenticated with the API key.

        Keyword arguments go to the Session (``max_concurrency``, ``retry``, ...).
        """
        from .. import ApiKeyAuth
        from .. import Session as _Session

        kwargs.setdefault("auth", ApiKeyAuth(self.api_key))
        kwargs.setdefault("base_url", self.base_url)
        return _Session(transport=httpx.ASGITransport(app=self), **kwargs)

    def http_client(self, *, authenticated: bool = True, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` wired to this fake in process (API key header by default)."""
        headers = {"Accept": V3_JSON}
        if authenticated:
            headers["X-API-Key"] = self.api_key
        headers.update(kwargs.pop("headers", {}))
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self),
            base_url=self.base_url,
            headers=headers,
            **kwargs,
        )

    def advance(self, *, new: float = 0.05, remove: float = 0.02) -> Advance:
        """Move the dataset one generation forward (:meth:`Dataset.advance`); works while the
        fake is being served."""
        return self.dataset.advance(new=new, remove=remove)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the fault random stream (from ``faults.seed`` unless ``seed`` is given)."""
        if seed is not None:
            self.faults.seed = seed
        self._rng = random.Random(self.faults.seed)

    def mint_token(
        self,
        *,
        method: str = "apikey",
        subject: str = "",
        tenant: str = "",
        ttl: float | None = None,
    ) -> str:
        """A JWT as ``POST /api/tokens`` would mint it (``method``: ``"apikey"`` or ``"basic"``)."""
        ttl = self.jwt_ttl if ttl is None else ttl
        now = self.clock()
        integral = float(ttl).is_integer()
        claims = {
            "iss": "https://ica.illumina.com/fake",
            "aud": "ica",
            "sub": subject or self.dataset.owner_id,
            "iat": int(now) if integral else round(now, 3),
            "exp": int(now) + int(ttl) if integral else round(now + ttl, 3),
            "jti": str(uuid.uuid4()),
            "ica_auth_method": method,
            "tenant": tenant or self.tenants[0],
        }
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing = f"{header}.{payload}".encode()
        sig = hmac.new(self._jwt_secret, signing, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"

    def verify_token(self, token: str) -> dict[str, Any]:
        """The claims of a JWT this fake minted; raises ``ValueError`` if invalid or expired."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("malformed JWT")
        signing = f"{parts[0]}.{parts[1]}".encode()
        expected = hmac.new(self._jwt_secret, signing, hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(expected, _b64url_decode(parts[2]))
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error) as exc:
            raise ValueError("malformed JWT") from exc
        if not valid or not isinstance(claims, dict):
            raise ValueError("JWT signature does not verify")
        if float(claims.get("exp", 0)) <= self.clock():
            raise ValueError("JWT expired")
        return claims

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        c = self.counters
        now = time.monotonic()
        c.requests += 1
        c.request_times.append(now)
        c.in_flight += 1
        if c.in_flight > c.max_in_flight:
            c.max_in_flight = c.in_flight
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        client = scope.get("client")
        if transport is not None and client:
            c.connections.add((str(client[0]), int(client[1])))
        try:
            route = self._route(scope)
            c.by_route[route.op] += 1
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            request_id = uuid.uuid4().hex.encode()

            async def tagged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    c.by_status[message["status"]] += 1
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"x-request-id", request_id),
                    ]
                await send(message)

            f = self.faults
            broken = f.failing_sessions.get(route.session) if route.session else None
            if (route.op not in _TOKEN_OPS or f.apply_to_tokens) and (
                f.routes is None or route.op in f.routes
            ):
                if f.latency_ms or f.jitter_ms:
                    jitter = self._rng.random() * f.jitter_ms if f.jitter_ms else 0.0
                    await anyio.sleep((f.latency_ms + jitter) / 1000)
                action = broken if broken is not None else self._pick_fault(now)
            else:
                action = broken
            if action is not None:
                await self._inject(action, scope, receive, tagged, transport)
                return
            scope = dict(scope)
            scope["aioica.fake"] = (route, bytes(body))
            await self._gzip(scope, receive, tagged)
        finally:
            c.in_flight -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- faults ------------------------------------------------------------------------------

    def _pick_fault(self, now: float) -> int | str | None:
        f = self.faults
        if f.script:
            action = f.script.popleft()
            return None if action == "ok" else action
        total = f.rate_hang + f.rate_drop + f.rate_truncate + f.rate_5xx + f.rate_429
        if total > 0:
            r = self._rng.random()
            for rate, action in (
                (f.rate_hang, "hang"),
                (f.rate_drop, "drop"),
                (f.rate_truncate, "truncate"),
                (f.rate_5xx, "5xx"),
                (f.rate_429, 429),
            ):
                if r < rate:
                    if action == "5xx":
                        status = f.statuses_5xx[self._rng.randrange(len(f.statuses_5xx))]
                        return "html" if self._rng.random() < f.html_fraction else status
                    return action
                r -= rate
        if f.budget_per_second is not None:
            window = self._budget
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= f.budget_per_second:
                return "budget"
            window.append(now)
        return None

    async def _inject(
        self, action: int | str, scope: Scope, receive: Receive, send: Send, transport: Any
    ) -> None:
        c = self.counters
        c.faults[str(action)] += 1
        if action in (429, "budget"):
            c.throttle_times.append(time.monotonic())
            lo, hi = self.faults.retry_after
            seconds = 1 if action == "budget" else self._rng.randint(lo, max(lo, hi))
            problem = _Problem(
                429, "Too many requests", headers=[(b"retry-after", str(seconds).encode())]
            )
            await self._send_problem(scope, send, problem)
        elif action == "html" or (isinstance(action, int) and action >= 500):
            status = 502 if action == "html" else int(action)
            if action == "html":
                body = _HTML.format(code=status, reason=_REASONS.get(status, "Error")).encode()
                await _send(send, status, body, b"text/html")
            else:
                await self._send_problem(scope, send, _Problem(status, "Injected server error"))
        elif isinstance(action, int):
            await self._send_problem(scope, send, _Problem(action, "Injected error"))
        elif action == "hang":
            with anyio.move_on_after(self.faults.hang_seconds):
                while not self.closing:
                    with anyio.move_on_after(0.1):
                        if (await receive())["type"] == "http.disconnect":
                            return
        elif action == "drop":
            if transport is None:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            transport.abort()
            await _await_disconnect(receive)
        elif action == "truncate":
            body = b'{"items":[{"id":"'
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", _V3), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": True})
            if transport is None:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            transport.abort()
            await _await_disconnect(receive)

    # -- dispatch ----------------------------------------------------------------------------

    def _route(self, scope: Scope) -> _Route:
        raw = scope.get("raw_path") or scope["path"].encode()
        text = raw.split(b"?", 1)[0].decode("latin-1")
        parts = [unquote(p) for p in text.split("/")[1:]]
        method = scope["method"]
        n = len(self._prefix)
        if parts[:n] != self._prefix or len(parts) < n + 2 or parts[n] != "api":
            return _Route("unknown", error=_Problem(404, f"No endpoint {text}"))
        rest = parts[n + 1 :]
        if rest == ["tokens"]:
            op, want = "createJwtToken", "POST"
            route = _Route(op)
        elif rest == ["tokens:refresh"]:
            op, want = "refreshJwtToken", "POST"
            route = _Route(op)
        elif len(rest) == 3 and rest[0] == "projects" and rest[2] == "workflowSessions":
            op, want = "getWorkflowSessions", "GET"
            route = _Route(op, rest[1])
        elif len(rest) == 3 and rest[0] == "projects" and rest[2] == "workflowSessions:search":
            op, want = "searchWorkflowSessions", "POST"
            route = _Route(op, rest[1])
        elif len(rest) == 5 and rest[0] == "projects" and rest[2] == "workflowSessions":
            op, want = {
                "inputs": ("getWorkflowSessionInputs", "GET"),
                "configurations": ("getWorkflowSessionConfigurations", "GET"),
                "analyses:search": ("searchOrchestratedAnalyses", "POST"),
            }.get(rest[4], ("unknown", ""))
            route = _Route(op, rest[1], rest[3])
        else:
            op, want = "unknown", ""
            route = _Route(op)
        if not want or any(not p for p in rest):
            return _Route("unknown", error=_Problem(404, f"No endpoint {text}"))
        if method != want:
            route.error = _Problem(
                405, f"Method {method} is not supported", headers=[(b"allow", want.encode())]
            )
        return route

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, body = scope["aioica.fake"]
        try:
            if route.error is not None:
                raise route.error
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            query: dict[str, str] = {}
            for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
                if key in query and key in ("pageToken", "pageOffset", "pageSize", "sort"):
                    raise _Problem(400, f"Query parameter {key} given twice", {key: value})
                query[key] = value
            self._check_accept(headers)
            if route.op in _TOKEN_OPS:
                out = self._tokens(route.op, headers, query)
            else:
                self._authenticate(headers)
                out = self._operation(route, headers, query, body)
            await _send(send, 200, out, _V3)
        except _Problem as problem:
            await self._send_problem(scope, send, problem)

    def _check_accept(self, headers: Mapping[str, str]) -> None:
        accept = headers.get("accept")
        if not accept:
            return
        for part in accept.split(","):
            bits = [b.strip() for b in part.split(";")]
            if bits[0].lower() in _ACCEPTABLE and not any(
                b.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for b in bits[1:]
            ):
                return
        raise _Problem(
            self.not_acceptable_status,
            f"Accept must allow {V3_JSON}",
            {"Accept": accept[:200]},
        )

    def _authenticate(self, headers: Mapping[str, str]) -> dict[str, Any]:
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer":
                raise _Problem(401, "Only Bearer JWTs or X-API-Key authenticate this endpoint")
            try:
                return self.verify_token(credential.strip())
            except ValueError as exc:
                raise _Problem(401, f"Invalid JWT: {exc}") from None
        key = headers.get("x-api-key")
        if key is None:
            raise _Problem(401, "Authentication required (X-API-Key or Bearer JWT)")
        if key not in self.api_keys:
            raise _Problem(401, "Invalid API key")
        return {"ica_auth_method": "apikey"}

    def _tokens(self, op: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bytes:
        authorization = headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if op == "refreshJwtToken":
            if scheme.lower() != "bearer":
                raise _Problem(401, "A Bearer JWT is required to refresh")
            try:
                claims = self.verify_token(credential.strip())
            except ValueError as exc:
                raise _Problem(401, f"Invalid JWT: {exc}") from None
            if claims.get("ica_auth_method") == "apikey":
                raise _Problem(
                    400,
                    "A JWT created with an API key cannot be refreshed; request a new one",
                )
            token = self.mint_token(
                method="basic", subject=str(claims.get("sub", "")), tenant=str(claims["tenant"])
            )
            self.counters.tokens_refreshed += 1
            return json.dumps({"token": token}).encode()
        tenant = query.get("tenant") or ""
        if tenant and tenant not in self.tenants:
            raise _Problem(401, f"No access to tenant {tenant}", {"tenant": tenant})
        if scheme.lower() == "basic":
            try:
                email, _, password = base64.b64decode(credential.strip()).decode().partition(":")
            except (ValueError, binascii.Error):
                raise _Problem(401, "Malformed Basic credentials") from None
            if self.users.get(email) != password or not email:
                raise _Problem(401, "Invalid e-mail address or password")
            token = self.mint_token(method="basic", subject=email, tenant=tenant)
        elif headers.get("x-api-key") in self.api_keys:
            token = self.mint_token(method="apikey", tenant=tenant)
        else:
            raise _Problem(401, "An API key or Basic credentials are required")
        self.counters.tokens_minted += 1
        return json.dumps({"token": token}).encode()

    # -- operations --------------------------------------------------------------------------

    def _operation(
        self, route: _Route, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> bytes:
        ds = self.dataset
        op = route.op
        params = self._body(headers, body) if op.startswith("search") else None
        if not ds.has_project(route.project):
            raise _Problem(404, f"Project {route.project} not found", {"projectId": route.project})
        project = ds.project_uuid(route.project)
        if op in ("getWorkflowSessions", "searchWorkflowSessions"):
            v3 = op == "getWorkflowSessions"
            flt = self._v3_filter(query) if v3 else self._body_filter(params or {})
            fields = _SESSION_SORT_V3 if v3 else _SESSION_SORT
            paging = self._paging(query, fields)
            rows = self._select(
                (op, project, flt.key), paging, lambda: ds.session_rows(route.project), flt, fields
            )
            version = 3 if v3 else 4
            return self._page(
                rows, lambda s: ds.session_json(s, version), paging, (op, project, flt.key)
            )
        session = ds.session(route.project, route.session)
        if session is None:
            raise _Problem(
                404,
                f"Workflow session {route.session} not found",
                {"workflowSessionId": route.session},
            )
        if op == "getWorkflowSessionInputs":
            return ds.inputs_json(session).encode()
        if op == "getWorkflowSessionConfigurations":
            return ds.configurations_json(session).encode()
        flt = self._body_filter(params or {})
        paging = self._paging(query, _ANALYSIS_SORT)
        key = (op, project, session.id, flt.key)
        analyses = self._select(
            key, paging, lambda: ds.analyses(route.project, session.id), flt, _ANALYSIS_SORT
        )
        return self._page(analyses, ds.analysis_json, paging, key)

    def _body(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if (body or ctype) and ctype not in _BODY_TYPES:
            raise _Problem(
                415,
                f"Content-Type must be {V3_JSON} or application/json",
                {"Content-Type": ctype[:200]},
            )
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _Problem(400, f"Request body is not valid JSON: {exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise _Problem(400, "Request body must be an AnalysisQueryParameters object")
        return data

    def _body_filter(self, params: Mapping[str, Any]) -> _Filter:
        def text(name: str) -> str | None:
            value = params.get(name)
            if value is not None and not isinstance(value, str):
                raise _Problem(400, f"{name} must be a string", {name: str(value)[:200]})
            return value

        def strings(name: str) -> list[str]:
            value = params.get(name)
            if value is None:
                return []
            if not isinstance(value, list) or not all(
                v is None or isinstance(v, str) for v in value
            ):
                raise _Problem(400, f"{name} must be an array of strings", {name: str(value)[:200]})
            return [v for v in value if v is not None]

        status = strings("status")
        for s in status:
            if s not in V4_STATUSES:
                raise _Problem(400, f"Unknown status {s}", {"status": s})
        return _Filter(
            text("reference"),
            text("userReference"),
            frozenset(status) if status else None,
            frozenset(strings("userTags")),
            frozenset(strings("technicalTags")),
            frozenset(strings("referenceTags")),
        )

    def _v3_filter(self, query: Mapping[str, str]) -> _Filter:
        statuses: set[str] | None = None
        if query.get("status"):
            statuses = set()
            for s in query["status"].split(","):
                s = s.strip()
                if s in V3_TO_V4:
                    statuses |= V3_TO_V4[s]
                elif s in V4_STATUSES:
                    statuses.add(s)
                else:
                    raise _Problem(400, f"Unknown status {s}", {"status": s})

        def tags(name: str) -> frozenset[str]:
            return frozenset(t.strip() for t in query.get(name, "").split(",") if t.strip())

        return _Filter(
            query.get("reference") or None,
            query.get("userreference") or None,
            frozenset(statuses) if statuses is not None else None,
            tags("usertag"),
            tags("technicaltag"),
            frozenset(),
        )

    def _paging(self, query: Mapping[str, str], fields: Mapping[str, Any]) -> _Paging:
        size = self.page_size_default
        raw_size = query.get("pageSize")
        if raw_size:
            if not _NUMBER.fullmatch(raw_size) or not 1 <= int(raw_size) <= self.max_page_size:
                raise _Problem(
                    400,
                    f"pageSize must be a number between 1 and {self.max_page_size}",
                    {"pageSize": raw_size[:200]},
                )
            size = int(raw_size)
        token = query.get("pageToken") or None
        raw_offset = query.get("pageOffset") or None
        raw_sort = (query.get("sort") or "").strip() or None
        if token is not None and raw_offset is not None:
            raise _Problem(400, "pageToken and pageOffset cannot be combined")
        if token is not None and raw_sort is not None:
            raise _Problem(400, "sort is only supported with offset-based paging")
        offset = None
        if raw_offset is not None or raw_sort is not None:
            offset = 0
            if raw_offset is not None:
                if not _NUMBER.fullmatch(raw_offset):
                    raise _Problem(
                        400, "pageOffset must be a number", {"pageOffset": raw_offset[:200]}
                    )
                offset = int(raw_offset)
                if offset and offset >= self.offset_limit:
                    raise _Problem(
                        400,
                        f"Offset-based paging is limited to {self.offset_limit} rows; "
                        "use cursor-based paging",
                        {"pageOffset": raw_offset},
                    )
        sort: list[tuple[str, bool]] = []
        if raw_sort is not None:
            for part in raw_sort.split(","):
                bits = part.split()
                if not bits or len(bits) > 2 or bits[0].lower() not in fields:
                    raise _Problem(
                        400, f"Cannot sort on '{part.strip()}'", {"sort": raw_sort[:200]}
                    )
                direction = bits[1].lower() if len(bits) == 2 else "asc"
                if direction not in ("asc", "desc"):
                    raise _Problem(
                        400, f"Unknown sort direction {bits[1]}", {"sort": raw_sort[:200]}
                    )
                sort.append((bits[0].lower(), direction == "desc"))
        return _Paging(size, offset, token, sort)

    def _select(
        self,
        key: tuple[Any, ...],
        paging: _Paging,
        source: Callable[[], Sequence[R]],
        flt: _Filter,
        fields: Mapping[str, Callable[[R], Any]],
    ) -> Sequence[R]:
        full_key = (self.dataset.version, *key, tuple(paging.sort))
        cached = self._selections.get(full_key)
        if cached is not None:
            self._selections.move_to_end(full_key)
            return cached
        rows = source()
        if flt.key == _NO_FILTER and not paging.sort:
            return rows  # possibly lazy: not cached, so the full list is never forced
        rows = [r for r in rows if flt(r)]
        if paging.sort:
            for name, desc in reversed(paging.sort):
                getter = fields[name]
                rows.sort(key=lambda r: _sorted_key(getter(r)), reverse=desc)
        self._selections[full_key] = rows
        if len(self._selections) > 32:
            self._selections.popitem(last=False)
        return rows

    def _page(
        self,
        rows: Sequence[R],
        piece: Callable[[R], str],
        paging: _Paging,
        key: tuple[Any, ...],
    ) -> bytes:
        total = len(rows)
        fingerprint = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        if paging.offset is not None:
            start = paging.offset
            end = min(start + paging.size, total, self.offset_limit)
            items = ",".join([piece(r) for r in rows[start:end]]) if start < end else ""
            tail = f'],"nextPageToken":"","totalItemCount":{total}}}'
            return ('{"items":[' + items + tail).encode()
        start = 0
        if paging.token is not None:
            start = self._decode_cursor(paging.token, fingerprint, total)
        end = min(start + paging.size, total)
        items = ",".join([piece(r) for r in rows[start:end]]) if start < end else ""
        if end < total:
            token = json.dumps(self._encode_cursor(end, fingerprint))
            tail = f'],"nextPageToken":{token},"remainingRecords":{total - end}}}'
        else:
            form = self.last_page_token
            if form == "rotate":
                form = ("null", "absent", "empty")[
                    zlib.crc32(f"{fingerprint}/{paging.size}".encode()) % 3
                ]
            tail = {
                "null": '],"nextPageToken":null,"remainingRecords":0}',
                "absent": '],"remainingRecords":0}',
                "empty": '],"nextPageToken":"","remainingRecords":0}',
            }[form]
        return ('{"items":[' + items + tail).encode()

    def _encode_cursor(self, position: int, fingerprint: str) -> str:
        raw = f"{position}.{fingerprint}".encode()
        mac = hmac.new(self._cursor_secret, raw, hashlib.sha256).digest()[:12]
        return (
            _TOKEN_HEAD
            + base64.b64encode(raw).decode()
            + _TOKEN_SIG
            + base64.b64encode(mac).decode()
            + _TOKEN_TAIL
        )

    def _decode_cursor(self, token: str, fingerprint: str, total: int) -> int:
        bad = _Problem(400, "Invalid pageToken", {"pageToken": token[:200]})
        if not (token.startswith(_TOKEN_HEAD) and token.endswith(_TOKEN_TAIL)):
            raise bad
        body, sep, sig = token[len(_TOKEN_HEAD) : -len(_TOKEN_TAIL)].partition(_TOKEN_SIG)
        try:
            raw = base64.b64decode(body, validate=True)
            mac = base64.b64decode(sig, validate=True)
        except (ValueError, binascii.Error):
            raise bad from None
        expected = hmac.new(self._cursor_secret, raw, hashlib.sha256).digest()[:12]
        if not sep or not hmac.compare_digest(mac, expected):
            raise bad
        position, _, token_fp = raw.decode().partition(".")
        if token_fp != fingerprint:
            raise _Problem(400, "pageToken belongs to another query", {"pageToken": token[:200]})
        start = int(position)
        if start > total:
            raise bad
        return start

    async def _send_problem(self, scope: Scope, send: Send, problem: _Problem) -> None:
        headers = {k: v for k, v in scope.get("headers", ())}
        host = headers.get(b"host", b"fake").decode("latin-1")
        raw = scope.get("raw_path") or scope.get("path", "/").encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        code = _TITLES.get(problem.status, f"ICA_API_{problem.status:03d}")
        body = {
            "type": f"https://ica.illumina.com/ica/rest/problems/{code}",
            "title": code,
            "status": problem.status,
            "detail": problem.detail,
            "instance": f"{scope.get('scheme', 'http')}://{host}{path}",
            "parameters": problem.parameters,
            "timestamp": iso(int(self.clock() * 1000)),
            "id": str(uuid.uuid4()),
        }
        await _send(send, problem.status, json.dumps(body).encode(), _PROBLEM, problem.headers)


_NO_FILTER = _Filter(None, None, None, frozenset(), frozenset(), frozenset()).key


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _await_disconnect(receive: Receive) -> None:
    # After an abort the server notices the lost connection on its next loop iteration; waiting
    # for it keeps the server from answering on a dead connection.
    with anyio.move_on_after(2):
        while (await receive())["type"] != "http.disconnect":
            pass
