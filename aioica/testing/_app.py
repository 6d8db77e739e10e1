"""The fake ICA ASGI application: routing, content negotiation, the operations; credentials,
queries and faults come from the mixins in ``_tokens``, ``_query`` and ``_inject``."""

from __future__ import annotations

import collections
import hashlib
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import anyio
import httpx
from starlette.middleware.gzip import GZipMiddleware

from .._compat import server_transport
from ._advance import Advance
from ._dataset import Dataset
from ._faults import Counters, Faults
from ._inject import Injector
from ._query import ANALYSIS_SORT, SESSION_SORT, SESSION_SORT_V3, Queries
from ._tokens import TOKEN_OPS, Tokens
from ._wire import V3, V3_JSON, Message, Problem, Receive, Scope, Send, send_body, send_problem

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["DEFAULT_API_KEY", "V3_JSON", "FakeICA"]

#: The API key a :class:`FakeICA` accepts unless told otherwise.
DEFAULT_API_KEY = "fake-ica-api-key"
_BODY_TYPES = frozenset({V3_JSON, "application/json"})
_ACCEPTABLE = frozenset({"*/*", "application/*", V3_JSON})


class _Route:
    __slots__ = ("error", "op", "project", "session")

    def __init__(
        self,
        op: str,
        project: str = "",
        session: str = "",
        error: Problem | None = None,
    ) -> None:
        self.op = op
        self.project = project
        self.session = session
        self.error = error


class FakeICA(Tokens, Queries, Injector):
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
        transport = server_transport(send)
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
            if (route.op not in TOKEN_OPS or f.apply_to_tokens) and (
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

    # -- dispatch ----------------------------------------------------------------------------

    def _route(self, scope: Scope) -> _Route:
        raw = scope.get("raw_path") or scope["path"].encode()
        text = raw.split(b"?", 1)[0].decode("latin-1")
        parts = [unquote(p) for p in text.split("/")[1:]]
        method = scope["method"]
        n = len(self._prefix)
        if parts[:n] != self._prefix or len(parts) < n + 2 or parts[n] != "api":
            return _Route("unknown", error=Problem(404, f"No endpoint {text}"))
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
            return _Route("unknown", error=Problem(404, f"No endpoint {text}"))
        if method != want:
            route.error = Problem(
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
                    raise Problem(400, f"Query parameter {key} given twice", {key: value})
                query[key] = value
            self._check_accept(headers)
            if route.op in TOKEN_OPS:
                out = self._tokens(route.op, headers, query)
            else:
                self._authenticate(headers)
                out = self._operation(route, headers, query, body)
            await send_body(send, 200, out, V3)
        except Problem as problem:
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
        raise Problem(
            self.not_acceptable_status,
            f"Accept must allow {V3_JSON}",
            {"Accept": accept[:200]},
        )

    # -- operations --------------------------------------------------------------------------

    def _operation(
        self, route: _Route, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> bytes:
        ds = self.dataset
        op = route.op
        params = self._body(headers, body) if op.startswith("search") else None
        if not ds.has_project(route.project):
            raise Problem(404, f"Project {route.project} not found", {"projectId": route.project})
        project = ds.project_uuid(route.project)
        if op in ("getWorkflowSessions", "searchWorkflowSessions"):
            v3 = op == "getWorkflowSessions"
            flt = self._v3_filter(query) if v3 else self._body_filter(params or {})
            fields = SESSION_SORT_V3 if v3 else SESSION_SORT
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
            raise Problem(
                404,
                f"Workflow session {route.session} not found",
                {"workflowSessionId": route.session},
            )
        if op == "getWorkflowSessionInputs":
            return ds.inputs_json(session).encode()
        if op == "getWorkflowSessionConfigurations":
            return ds.configurations_json(session).encode()
        flt = self._body_filter(params or {})
        paging = self._paging(query, ANALYSIS_SORT)
        key = (op, project, session.id, flt.key)
        analyses = self._select(
            key, paging, lambda: ds.analyses(route.project, session.id), flt, ANALYSIS_SORT
        )
        return self._page(analyses, ds.analysis_json, paging, key)

    def _body(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if (body or ctype) and ctype not in _BODY_TYPES:
            raise Problem(
                415,
                f"Content-Type must be {V3_JSON} or application/json",
                {"Content-Type": ctype[:200]},
            )
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise Problem(400, f"Request body is not valid JSON: {exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise Problem(400, "Request body must be an AnalysisQueryParameters object")
        return data

    async def _send_problem(self, scope: Scope, send: Send, problem: Problem) -> None:
        await send_problem(scope, send, problem, self.clock)
