"""The Session: owns the HTTP client, the limits, the request path and background work; the
operations themselves are in ``_operations``."""

from __future__ import annotations

import contextlib
import enum
import json
import os
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload
from urllib.parse import quote, urlencode

import anyio
import anyio.lowlevel
import httpx
from anyio.abc import ObjectSendStream

from ._background import Producer, Producers, Run
from ._body import check_page_shape, decode_json
from ._compat import url_builder
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ConfigurationError,
    check_base_url,
    env_auth,
    env_base_url,
)
from ._decode import decode_page
from ._direct import Answer
from ._engine import Engine
from ._errors import SessionClosedError, WrongEventLoopError
from ._events import EventHook, check_hook
from ._export import (
    DEFAULT_MAX_ANALYSES_PER_SESSION,
    Export,
    ExportRecord,
    OnError,
    RawExportRecord,
)
from ._http import Requester
from ._limits import RateGate, Slots, TokenBucket
from ._operations import Operations
from ._paging import Paginator, validate_iteration
from ._params import PageParams
from ._retry import DEFAULT_RETRY, RetryPolicy
from ._transports import current_async_library, in_loop
from ._validate import config_int
from ._version import __version__
from ._wire import MEDIA_TYPE
from ._wiretext import KEEP_WIRE_TEXT
from .models import AnalysisQueryParameters

if TYPE_CHECKING:
    from uuid import UUID

    from ._mirror import SyncReport

__all__ = ["Session"]

T = TypeVar("T")

DEFAULT_MAX_CONCURRENCY = 32
# The largest legitimate answer is a page of 1,000 analyses, about 4 MB; 32 MiB leaves headroom
# while keeping the worst case (max_concurrency bodies at once) near 1 GiB rather than 8 GiB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class _State(enum.Enum):
    """Where a Session is in its life: each moves only forward."""

    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Session(Operations):
    """An open connection to ICA: ``async with aioica.Session(auth=...) as ica: ...``.

    One ``httpx.AsyncClient`` (created here, or the caller's ``http_client``), one limit on
    in-flight requests (``max_concurrency``, shared by everything the session does: single
    calls, look-ahead and fan-out), one retry policy and one 429 gate.

    Args:
        auth: any ``httpx.Auth``: :class:`ApiKeyAuth`, :class:`BearerAuth`, :class:`TokenAuth`
            or your own. ``None`` relies on ``http_client``'s own auth.
        base_url: ICA's REST root; default ``https://ica.illumina.com/ica/rest``.
        timeout: ``httpx.Timeout`` or seconds; default connect 10 s, read 60 s, write 30 s,
            pool 60 s. These bound each phase; in addition every attempt (token renewal,
            redirect hops, headers and body included) must end within their sum (160 s by
            default), so a server trickling bytes cannot hold a request open. The attempt then
            fails with :class:`APITimeoutError`, retried like any timeout. No such deadline
            applies when the read timeout is ``None``.
        max_concurrency: requests in flight at once across the session (default 32).
        http_client: bring your own ``httpx.AsyncClient`` (aioica does not touch its transport,
            nor close it).
        retry: the default :class:`RetryPolicy` (per-call ``retry=`` overrides it).
        rate_limit: optional average requests per second for the whole session.
        prefetch: pages fetched ahead of an iterating consumer (default 1).
        transport: ``"auto"`` (aiohttp-backed on asyncio when installed, else pooled httpx),
            ``"aiohttp"``, ``"httpx"``, or an ``httpx.AsyncBaseTransport`` to use as is (an
            ``httpx.ASGITransport`` for an in-process server, say).
        follow_redirects: follow 3xx answers; credentials never follow a hop to another origin.
        allow_insecure_http: allow plain ``http`` to a non-loopback host.
        verify: TLS verification (``True``, a CA bundle path or an ``ssl.SSLContext``).
        trust_env: honour the environment, as httpx does: CA settings (``SSL_CERT_FILE``,
            ``SSL_CERT_DIR``) and proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
            ``NO_PROXY``; a loopback ``base_url`` always goes direct). Proxies apply to the
            session's own transports, not to one passed as ``transport=``; a caller's
            ``http_client`` keeps its own settings.
        max_response_bytes: refuse bodies larger than this, decoded or on the wire (default
            32 MiB, about eight times a full page of 1,000 analyses). Bodies are decompressed
            step by step (gzip and deflate; other codings are refused), so a compression bomb
            costs at most this much memory per request in flight.
        on_event: a function called with a :class:`RequestEvent` at each step of every call
            (request, response, error, retry, 429 pause, refused): metrics and tracing without
            patching. Called synchronously in the requesting task; an exception it raises is
            logged (logger ``aioica``) and ignored.

    A session belongs to the event loop (and thread) it was opened in; using it from another
    raises :class:`WrongEventLoopError` before anything is sent. It may be opened in one task
    and closed in another (a web framework's startup and shutdown hooks): ``aclose()`` works
    from any task of its loop, cancels everything still running and can be called again.
    """

    def __init__(
        self,
        auth: httpx.Auth | None = None,
        *,
        base_url: str | None = None,
        timeout: httpx.Timeout | float | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        rate_limit: float | None = None,
        prefetch: int = 1,
        transport: str | httpx.AsyncBaseTransport = "auto",
        follow_redirects: bool = False,
        allow_insecure_http: bool = False,
        verify: Any = True,
        trust_env: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_event: EventHook | None = None,
    ) -> None:
        self._on_event = check_hook(on_event)
        if auth is not None and not isinstance(auth, httpx.Auth):
            raise ConfigurationError(
                f"auth must be an httpx.Auth (e.g. aioica.ApiKeyAuth(key)), got "
                f"{type(auth).__name__}"
            )
        if auth is None and http_client is None:
            raise ConfigurationError(
                "no credentials: pass auth=aioica.ApiKeyAuth(key) (or TokenAuth/BearerAuth), "
                "or use Session.from_env() with ICAV2_X_API_KEY or ICAV2_ACCESS_TOKEN set"
            )
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be an aioica.RetryPolicy")
        if not isinstance(transport, httpx.AsyncBaseTransport) and transport not in (
            "auto",
            "aiohttp",
            "httpx",
        ):
            raise ConfigurationError(
                "transport must be 'auto', 'aiohttp', 'httpx' or an httpx.AsyncBaseTransport, "
                f"got {transport!r}"
            )
        config_int("prefetch", prefetch, 0)
        self.base_url = check_base_url(
            base_url or DEFAULT_BASE_URL, allow_insecure_http=allow_insecure_http
        )
        self._url = url_builder(self.base_url)
        self.max_concurrency = config_int("max_concurrency", max_concurrency, 1)
        self.timeout = (
            timeout
            if isinstance(timeout, httpx.Timeout)
            else DEFAULT_TIMEOUT
            if timeout is None
            else httpx.Timeout(timeout)
        )
        self.retry = retry
        self.prefetch = prefetch
        self.auth = auth
        self.transport_kind = transport
        self.transport_name = (
            "caller's client"
            if http_client is not None
            else transport
            if isinstance(transport, str)
            else type(transport).__name__
        )
        self._verify = verify
        self._trust_env = trust_env
        self._follow_redirects = follow_redirects
        self._max_response_bytes = config_int("max_response_bytes", max_response_bytes, 1)
        self._own_client = http_client is None
        self._client = http_client
        self._rate_limit = None if rate_limit is None else TokenBucket(rate_limit)
        self._headers = {
            "Accept": MEDIA_TYPE,
            "Accept-Encoding": "gzip",
            "User-Agent": f"aioica/{__version__}",
        }
        self._state = _State.NEW
        self._requester: Requester | None = None
        self._producers = Producers()
        self._loop: anyio.lowlevel.EventLoopToken | None = None
        self._library: str | None = None
        # What __aenter__ opened, closed in reverse order by aclose().
        self._exit_stack = contextlib.AsyncExitStack()
        self._close_done: anyio.Event | None = None
        self._engine = Engine(
            operations=self,
            start_producer=self._start_producer,
            max_concurrency=self.max_concurrency,
            sent=lambda: self.requests_sent,
        )

    @classmethod
    def from_env(
        cls,
        auth: httpx.Auth | None = None,
        *,
        base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Session:
        """A session configured from ``ICAV2_*`` variables; explicit arguments win.

        Base URL from ``ICAV2_BASE_URL`` (full URL) or ``ICAV2_SERVER_URL`` (host); credentials
        from ``ICAV2_ACCESS_TOKEN`` (a JWT, sent as Bearer) or else ``ICAV2_X_API_KEY``.
        """
        env = os.environ if environ is None else environ
        if auth is None:
            auth = env_auth(env)
            if auth is None and kwargs.get("http_client") is None:
                raise ConfigurationError(
                    "no ICA credentials found: set ICAV2_X_API_KEY (an API key) or "
                    "ICAV2_ACCESS_TOKEN (a JWT), or pass auth="
                )
        return cls(auth, base_url=base_url or env_base_url(env), **kwargs)

    def __repr__(self) -> str:
        kind = getattr(self.auth, "kind", None) or (
            type(self.auth).__name__ if self.auth is not None else "client's own"
        )
        state = "closed" if self._state is _State.CLOSING else self._state.value
        return (
            f"<aioica.Session base_url={self.base_url!r} auth={kind} "
            f"max_concurrency={self.max_concurrency} {state}>"
        )

    # -- lifetime ---------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        if self._state is not _State.NEW:
            raise SessionClosedError("a Session can be entered once; create a new one")
        loop = anyio.lowlevel.current_token()
        library = current_async_library()
        if self._client is None:
            from ._transports import session_client

            self._client, self.transport_name = session_client(
                self.transport_kind,  # type: ignore[arg-type]
                max_connections=self.max_concurrency,
                timeout=self.timeout,
                base_url=self.base_url,
                verify=self._verify,
                trust_env=self._trust_env,
            )
            self._exit_stack.push_async_callback(_close_client, self._client)
        # Producers end before the client closes (the stack unwinds in reverse).
        self._exit_stack.push_async_callback(self._producers.aclose)
        self._requester = Requester(
            self._client,
            auth=self.auth,
            headers=self._headers,
            limiter=Slots(self.max_concurrency),
            gate=RateGate(),
            bucket=self._rate_limit,
            retry=self.retry,
            follow_redirects=self._follow_redirects,
            max_response_bytes=self._max_response_bytes,
            own_client=self._own_client,
            on_event=self._on_event,
            backend=loop.backend_class,
            library=library,
        )
        self._loop = loop
        self._library = library
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(exc_type, exc, tb)

    async def aclose(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Cancel background work (look-ahead, exports) and close the owned HTTP client.

        Works from any task of the session's event loop; a second call waits for the first to
        finish and returns.
        """
        if self._state in (_State.CLOSING, _State.CLOSED):
            if self._close_done is not None:
                await self._close_done.wait()
            return
        self._check_loop()
        self._state = _State.CLOSING
        self._close_done = anyio.Event()
        self._requester = None
        try:
            # Producers never raise (errors travel to their consumers), so closing only
            # cancels them; the caller's own exception, if any, propagates as itself.
            await self._exit_stack.aclose()
        finally:
            self._state = _State.CLOSED
            self._close_done.set()

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent by this session so far (retries and redirects included)."""
        return 0 if self._requester is None else self._requester.requests_sent

    def _check_loop(self) -> None:
        if self._loop is not None and not in_loop(self._loop, self._library):
            raise WrongEventLoopError(
                "this Session was opened in another event loop or thread; a session and its "
                "connections belong to the loop that opened it: open one Session per event loop"
            )

    def _open(self) -> Requester:
        if self._requester is None:
            raise SessionClosedError(
                "the Session is not open: use `async with aioica.Session(...) as ica:`"
                if self._state is _State.NEW
                else "the Session is closed"
            )
        self._check_loop()
        return self._requester

    def _start_producer(self, produce: Producer, send: ObjectSendStream[Any]) -> Run:
        """Run an iterator's producer in a task of its own, cancelled when the session closes."""
        self._open()
        return self._producers.start(produce, send)

    # -- the request path ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        model: type[T] | None,
        *,
        paged: bool,
        retry: RetryPolicy | None,
    ) -> tuple[Any, Answer]:
        requester = self._open()
        url = self._url(path, urlencode(query, quote_via=quote) if query else None)
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        response = await requester.send(method, url, body=content, retry=retry)
        if model is None:
            data = decode_json(response, what="object", keep_text=KEEP_WIRE_TEXT.get())
        else:
            data = decode_json(response, what=model.__name__)
        check_page_shape(data, response, paged=paged)
        return (data if model is None else await decode_page(data, model)), response

    def _paged(
        self,
        method: str,
        path: str,
        base_query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        model: type[Any],
        params: PageParams,
        *,
        retry: RetryPolicy | None,
        prefetch: int | None,
        max_items: int | None,
        raw: bool,
    ) -> Paginator[Any, Any]:
        prefetch, max_items = validate_iteration(prefetch, max_items)
        target = None if raw else model

        def fetch(p: PageParams) -> Awaitable[tuple[Any, Answer]]:
            return self._call(
                method, path, base_query + p.query(), body, target, paged=True, retry=retry
            )

        return Paginator(
            self._start_producer,
            fetch,
            params,
            prefetch=self.prefetch if prefetch is None else prefetch,
            max_items=max_items,
        )

    # -- fan-out ------------------------------------------------------------------------------

    @overload
    def export_workflow_sessions(
        self,
        project_id: str,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None = ...,
        include: Collection[str] = ...,
        concurrency: int | None = ...,
        ordered: bool = ...,
        *,
        page_size: int | str | None = ...,
        retry: RetryPolicy | None = ...,
        raw: Literal[False] = ...,
        skip: Iterable[str | UUID] | None = ...,
        on_error: OnError = ...,
        max_analyses_per_session: int = ...,
        _select: Callable[[Any], bool] | None = ...,
    ) -> Export[ExportRecord]: ...

    @overload
    def export_workflow_sessions(
        self,
        project_id: str,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None = ...,
        include: Collection[str] = ...,
        concurrency: int | None = ...,
        ordered: bool = ...,
        *,
        page_size: int | str | None = ...,
        retry: RetryPolicy | None = ...,
        raw: Literal[True],
        skip: Iterable[str | UUID] | None = ...,
        on_error: OnError = ...,
        max_analyses_per_session: int = ...,
        _select: Callable[[Any], bool] | None = ...,
    ) -> Export[RawExportRecord]: ...

    @overload
    def export_workflow_sessions(
        self,
        project_id: str,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None = ...,
        include: Collection[str] = ...,
        concurrency: int | None = ...,
        ordered: bool = ...,
        *,
        page_size: int | str | None = ...,
        retry: RetryPolicy | None = ...,
        raw: bool = ...,
        skip: Iterable[str | UUID] | None = ...,
        on_error: OnError = ...,
        max_analyses_per_session: int = ...,
        _select: Callable[[Any], bool] | None = ...,
    ) -> Export[Any]: ...

    def export_workflow_sessions(
        self,
        project_id: str,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None = None,
        include: Collection[str] = ("inputs", "configurations", "analyses"),
        concurrency: int | None = None,
        ordered: bool = False,
        *,
        page_size: int | str | None = None,
        retry: RetryPolicy | None = None,
        raw: bool = False,
        skip: Iterable[str | UUID] | None = None,
        on_error: OnError = "raise",
        max_analyses_per_session: int = DEFAULT_MAX_ANALYSES_PER_SESSION,
        _select: Callable[[Any], bool] | None = None,
    ) -> Export[Any]:
        """Stream one :class:`ExportRecord` per workflow session (V4), with its inputs,
        configurations and every orchestrated analysis, fetched concurrently.

        Per-session requests start as soon as each session arrives from the listing. At most
        ``concurrency`` sessions (default: the session's ``max_concurrency``) are in progress,
        and every request also counts against ``max_concurrency``. With ``concurrency`` at
        least ``max_concurrency`` a session's parts are fetched one after another (the limit is
        full anyway); with a smaller ``concurrency``, at the same time. ``ordered=True`` keeps the
        listing order (a bounded reorder window); otherwise records come as they complete.

        ``skip``: workflow session ids to leave out (no record, no request for them; UUIDs
        match whatever their spelling). The listing is still read in full, one request per
        1,000 sessions, so re-running with ``skip=`` the ids already saved resumes an export.

        ``on_error``: ``"raise"`` (default) ends the export with the first error. ``"record"``
        yields a session whose requests still fail after retries as an :class:`ExportRecord`
        whose ``error`` is the typed :class:`ICAError` (with the parts fetched before it), and
        goes on; so is a listing item that is not a usable workflow session (null, not an
        object, no usable id: an :class:`InvalidResponseError`). Errors that say the credentials
        are refused (:class:`AuthenticationError`, :class:`TokenError`) and errors of the
        listing itself end the export either way.

        ``max_analyses_per_session`` (default 10,000): a session whose analyses cursor runs past
        this many analyses, or this many pages, fails with a :class:`PaginationError` instead of
        growing memory without bound (a cursor that never ends).

        ``_select`` is an internal hook for code built on the export (the SQLite mirror); see
        :class:`~aioica.Export`.
        """
        return Export(
            self._engine,
            project_id,
            analysis_query_parameters=analysis_query_parameters,
            include=include,
            concurrency=concurrency,
            ordered=ordered,
            page_size=page_size,
            retry=retry,
            raw=raw,
            skip=skip,
            on_error=on_error,
            max_analyses_per_session=max_analyses_per_session,
            select=_select,
        )

    async def sync_workflow_sessions(
        self,
        project_id: str,
        path: str | os.PathLike[str],
        *,
        full: bool = False,
        concurrency: int | None = None,
        page_size: int | str | None = 1000,
        retry: RetryPolicy | None = None,
        on_session: Callable[[str, str], object] | None = None,
    ) -> SyncReport:
        """Bring the SQLite mirror at ``path`` up to date with the project; returns a
        :class:`SyncReport` (new, changed, unchanged, removed, failed, requests, elapsed).

        Every run lists all sessions (``page_size`` per request); inputs, configurations and
        analyses are fetched only for sessions that are new, whose listing item changed,
        whose last synced status was not terminal (SUCCEEDED, FAILED_FINAL, ABORTED), or
        whose last fetch failed; ``full=True`` fetches every one. A session that still fails
        after retries is recorded and the sync goes on (``report.failures``); sessions no
        longer listed get ``removed_at``. The file is created if needed (WAL mode, readable
        while a sync runs); writes happen in a worker thread in batched transactions, and a
        run killed at any point leaves a consistent file that the next run completes.
        ``on_session(session_id, outcome)`` is called once per listed session with its
        outcome (``"new"``, ``"changed"``, ``"refreshed"``, ``"unchanged"`` or ``"failed"``;
        see :class:`SyncReport`). Raises :class:`MirrorError` when the file cannot be used
        (not SQLite, or it mirrors another project).
        """
        from ._mirror import sync_workflow_sessions

        return await sync_workflow_sessions(
            self._engine,
            project_id,
            path,
            full=full,
            concurrency=concurrency,
            page_size=page_size,
            retry=retry,
            on_session=on_session,
        )


async def _close_client(client: httpx.AsyncClient) -> None:
    # Shielded: a close that was itself cancelled must still release the connections.
    with anyio.CancelScope(shield=True):
        await client.aclose()
