"""Fan-out export: every workflow session with its inputs, configurations and analyses.

Pipelined: per-session requests start as soon as the session arrives from the listing, not
after the listing ends. At most ``concurrency`` worker tasks fetch sessions, and a window bounds
the sessions listed but not yet handed on (and so memory); every HTTP request also passes the
session-wide ``max_concurrency`` limit.

The work is done by an :class:`_ExportJob` (configuration plus the producer); :class:`Export` is
the consumer's iterator and holds only the job and the counters. The producer never refers to
the iterator, so dropping the iterator can stop the producer (see ``_background``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs
from anyio.abc import ObjectSendStream

from ._background import BackgroundIterator, Producer
from ._engine import Engine, EngineSource, engine_of
from ._errors import (
    AuthenticationError,
    ICAError,
    InvalidParameterError,
    InvalidResponseError,
    PaginationError,
    SessionClosedError,
    TokenError,
)
from ._limits import Slots
from ._paging import Paginator, next_params, page_items
from ._params import PageParams, session_path
from ._validate import param_int
from .models import (
    AnalysisQueryParameters,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfiguration,
    WorkflowSessionInput,
    WorkflowSessionV4,
    to_dict,
)

if TYPE_CHECKING:
    from ._retry import RetryPolicy

__all__ = [
    "DEFAULT_MAX_ANALYSES_PER_SESSION",
    "Export",
    "ExportRecord",
    "OnError",
    "RawExportRecord",
]

PARTS = ("inputs", "configurations", "analyses")

#: The default of ``max_analyses_per_session``: far above any real workflow session (a large
#: sequencing run orchestrates hundreds of analyses), low enough that ``concurrency`` sessions
#: held at once stay a bounded amount of memory when a server's cursor never ends.
DEFAULT_MAX_ANALYSES_PER_SESSION = 10_000

OnError = Literal["raise", "record"]
# A listed session for a worker: its place in the listing, the item, its id, or why it has none.
_Job = tuple[int, Any, str | None, ICAError | None]
_ON_ERROR = ("raise", "record")
# Errors that say the credentials are refused: every other session would fail the same way, so
# they end the export even with on_error="record".
_FATAL = (AuthenticationError, TokenError, SessionClosedError)
_SHOWN = 80


def _wire(value: Any) -> Any:
    if value is None or isinstance(value, (dict, list, str, int, float, bool)):
        return value
    return to_dict(value)


def _shown(value: Any) -> str:
    """A server-sent value for a message: quoted (so no control character gets through),
    short, ``null`` for JSON's null."""
    text = "null" if value is None else repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _canonical(sid: str) -> str:
    """The form ids are compared in: a UUID in its canonical spelling, anything else as is."""
    try:
        return str(uuid.UUID(sid))
    except ValueError:
        return sid


@attrs.frozen
class _Record:
    """What both kinds of record share: the error, and the wire-shaped ``to_dict``."""

    error: ICAError | None = attrs.field(default=None, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The record as one wire-shaped (camelCase) JSON object.

        An error record also has ``"error": {"type": ..., "message": ...}``.
        """
        # The subclasses declare the fields, each with its own types.
        session = getattr(self, "workflow_session")  # noqa: B009
        out: dict[str, Any] = {"workflowSession": _wire(session)}
        for name in PARTS:
            part = getattr(self, name)
            if part is not None:
                out[name] = [_wire(v) for v in part]
        if self.error is not None:
            out["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        return out


@attrs.frozen
class ExportRecord(_Record):
    """One workflow session and what was fetched for it, as models.

    A part that was not asked for (``include``) is ``None``; a part that was fetched is a list,
    possibly empty. With ``raw=True`` the export yields :class:`RawExportRecord` instead.

    ``error`` is ``None`` on every good record. With ``on_error="record"`` a session that failed
    comes as a record whose ``error`` is the typed :class:`~aioica.ICAError` and whose parts
    are those fetched before the failure (the rest ``None``); for a listing item that is not a
    usable workflow session (null, not an object, no usable id) ``workflow_session`` is the item
    exactly as listed and ``error`` an :class:`~aioica.InvalidResponseError`.
    """

    workflow_session: WorkflowSessionV4
    inputs: list[WorkflowSessionInput] | None = None
    configurations: list[WorkflowSessionConfiguration] | None = None
    analyses: list[WorkflowSessionAnalysisV4] | None = None


@attrs.frozen
class RawExportRecord(_Record):
    """:class:`ExportRecord` of a ``raw=True`` export: every value is the wire-shaped dict the
    server sent (the listing item verbatim, the items of each part's pages)."""

    workflow_session: dict[str, Any]
    inputs: list[dict[str, Any]] | None = None
    configurations: list[dict[str, Any]] | None = None
    analyses: list[dict[str, Any]] | None = None


AnyRecord = ExportRecord | RawExportRecord
RecordT = TypeVar("RecordT", ExportRecord, RawExportRecord)


async def _gather(calls: list[Callable[[], Awaitable[None]]]) -> None:
    """Run calls concurrently; re-raise the first failure as itself (not an ExceptionGroup)."""
    if len(calls) == 1:
        await calls[0]()
        return
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:

        async def run(call: Callable[[], Awaitable[None]]) -> None:
            try:
                await call()
            except Exception as exc:
                errors.append(exc)
                tg.cancel_scope.cancel()

        for call in calls:
            tg.start_soon(run, call)
    if errors:
        raise errors[0]


@attrs.define
class _Tally:
    """Counts the producer keeps and the iterator reads."""

    skipped: int = 0


def _skip_set(skip: Iterable[str | uuid.UUID] | None) -> frozenset[str]:
    if skip is None:
        return frozenset()
    if isinstance(skip, (str, bytes)):
        raise InvalidParameterError(
            "skip", "must be a collection of workflow session ids, not a single string"
        )
    try:
        items = list(skip)
    except TypeError:
        raise InvalidParameterError(
            "skip", f"must be a collection of workflow session ids, got {type(skip).__name__}"
        ) from None
    out = set()
    for sid in items:
        if isinstance(sid, uuid.UUID):
            out.add(str(sid))
        elif isinstance(sid, str) and sid:
            out.add(_canonical(sid))
        else:
            raise InvalidParameterError(
                "skip", f"holds {_shown(sid)}; workflow session ids are non-empty strings"
            )
    return frozenset(out)


@attrs.define(eq=False)
class _ExportJob:
    """What one export does: its settings and the producer (:meth:`produce`).

    Holds the session's engine and the listing, never the :class:`Export` iterator.
    """

    engine: Engine
    project_id: str
    listing: Paginator[Any, Any]
    include: tuple[str, ...]
    concurrency: int
    ordered: bool
    retry: RetryPolicy | None
    raw: bool
    on_error: OnError
    max_analyses: int
    skip: frozenset[str]
    select: Callable[[Any], bool] | None
    tally: _Tally

    @property
    def record_type(self) -> type[AnyRecord]:
        """What the records are: models, or the wire's dicts."""
        return RawExportRecord if self.raw else ExportRecord

    async def produce(self, send: ObjectSendStream[Any]) -> None:
        """Send one :class:`ExportRecord` per selected listing item; raise on failure."""
        # Ordered mode keeps finished records until their turn: the window bounds that buffer.
        window = Slots(self.concurrency * (2 if self.ordered else 1))
        finished: dict[int, AnyRecord] = {}
        next_out = 0
        emit_lock = anyio.Lock()
        errors: list[BaseException] = []
        # Listed sessions wait here for a worker; the window bounds how many.
        queued, queue = anyio.create_memory_object_stream[_Job](math.inf)

        async def emit(seq: int, record: AnyRecord) -> None:
            nonlocal next_out
            if not self.ordered:
                await send.send(record)
                window.release()
                return
            finished[seq] = record
            async with emit_lock:
                while next_out in finished:
                    await send.send(finished.pop(next_out))
                    next_out += 1
                    window.release()

        async def work(seq: int, ws: Any, sid: str | None, failure: ICAError | None) -> None:
            try:
                if sid is None:
                    assert failure is not None
                    record = self.record_type(ws, error=failure)
                else:
                    record = await self._record(ws, sid)
                await emit(seq, record)
            except Exception as exc:
                errors.append(exc)
                tg.cancel_scope.cancel()

        async def worker() -> None:
            # At most `concurrency` of these take the listed sessions in turn: a task per
            # session cost a task, its cancel scope and the group's bookkeeping each, about 2 %
            # of an export's CPU. A worker goes on to the next session without a checkpoint:
            # it has just waited on the network. (work() lets no exception out.)
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    try:
                        job = queue.receive_nowait()
                    except anyio.WouldBlock:
                        job = await queue.receive()
                    await work(*job)

        async def list_sessions() -> None:
            seq = 0
            async with self.listing.pages() as pages:
                async for page in pages:
                    for ws in page_items(page):
                        sid: str | None = None
                        failure: ICAError | None = None
                        try:
                            sid = self._usable_id(ws)
                        except InvalidResponseError as exc:
                            if self.on_error == "raise":
                                raise
                            failure = exc
                        if sid is not None and not self._selected(ws, sid):
                            self.tally.skipped += 1
                            continue
                        await window.acquire()
                        queued.send_nowait((seq, ws, sid, failure))
                        if seq < self.concurrency:
                            tg.start_soon(worker)  # one more worker, up to `concurrency`
                        seq += 1

        with queue:
            async with anyio.create_task_group() as tg:
                try:
                    await list_sessions()
                except Exception as exc:
                    # Raised here, it would leave the group wrapped in an ExceptionGroup.
                    errors.append(exc)
                    tg.cancel_scope.cancel()
                finally:
                    queued.close()
        if errors:
            raise errors[0]

    def _selected(self, ws: Any, sid: str) -> bool:
        if self.skip and _canonical(sid) in self.skip:
            return False
        return self.select is None or bool(self.select(ws))

    def _usable_id(self, ws: Any) -> str:
        """The workflow session id of a listing item, or :class:`InvalidResponseError`."""
        if isinstance(ws, WorkflowSessionV4):
            if ws.id is not None:
                return str(ws.id)
            # The lenient decoder keeps an undecodable id in `extra`, and an item that was not
            # an object under the key "".
            if "" in ws.extra:
                raise self._bad_item(f"is {_shown(ws.extra[''])}, not an object")
            raw_id = ws.extra.get("id")
            problem = "has no id" if raw_id is None else f"has id {_shown(raw_id)}, not a UUID"
            raise self._bad_item(problem)
        if not isinstance(ws, dict):
            raise self._bad_item(f"is {_shown(ws)}, not an object")
        sid = ws.get("id")
        if sid is None:
            raise self._bad_item("has no id")
        if not isinstance(sid, str):
            raise self._bad_item(f"has id {_shown(sid)}, not a string")
        try:
            for part in self.include:
                session_path(self.project_id, sid, part, uuid=part == "analyses")
        except InvalidParameterError as exc:
            raise self._bad_item(f"has id {_shown(sid)}, which cannot be used: {exc}") from None
        return sid

    def _bad_item(self, problem: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"a workflow session listed in project {self.project_id!r} {problem}"
        )

    def _sequential_parts(self) -> bool:
        """Whether a session's parts are fetched one after another in its own task.

        With at least ``max_concurrency`` sessions in progress the session-wide limit is full
        anyway, so fetching parts concurrently gains no throughput and costs a task group and a
        task per part (about a tenth of the export's CPU); with fewer sessions in progress, a
        session's parts go out together so that it still takes one round trip, not three.
        """
        return self.concurrency >= self.engine.max_concurrency

    async def _record(self, ws: Any, sid: str) -> AnyRecord:
        # Methods rather than closures: a session's pending parts keep no function objects and
        # cells alive, which every young pass of the garbage collector would scan.
        parts: dict[str, list[Any]] = {}
        error: ICAError | None = None
        try:
            if self._sequential_parts():
                for name in self.include:
                    parts[name] = await self._part(name, sid)
            else:
                await _gather(
                    [functools.partial(self._keep_part, name, sid, parts) for name in self.include]
                )
        except ICAError as exc:
            if self.on_error == "raise" or isinstance(exc, _FATAL):
                raise
            error = exc
        return self.record_type(
            ws,
            inputs=parts.get("inputs"),
            configurations=parts.get("configurations"),
            analyses=parts.get("analyses"),
            error=error,
        )

    async def _keep_part(self, name: str, sid: str, parts: dict[str, list[Any]]) -> None:
        parts[name] = await self._part(name, sid)

    async def _part(self, name: str, sid: str) -> list[Any]:
        operations = self.engine.operations
        if name == "inputs":
            page = await operations.get_workflow_session_inputs(
                self.project_id, sid, retry=self.retry, raw=self.raw
            )
        elif name == "configurations":
            page = await operations.get_workflow_session_configurations(
                self.project_id, sid, retry=self.retry, raw=self.raw
            )
        else:
            return await self._analyses(sid)
        return page_items(page)

    async def _analyses(self, sid: str) -> list[Any]:
        # The whole cursor chain, in this task: a session's analyses rarely fill one page, and a
        # look-ahead producer per session would cost more than it saves.
        paginator = self.engine.operations.search_orchestrated_analyses(
            self.project_id, sid, retry=self.retry, raw=self.raw
        )
        params: PageParams | None = paginator.params
        found: list[Any] = []
        seen: set[str] = set()
        pages = 0
        cap = self.max_analyses
        while params is not None:
            page = await paginator.fetch(params)
            items = page_items(page)
            pages += 1
            # Checked before keeping the page: an endless or absurd cursor costs at most `cap`
            # analyses plus one page of memory, and `cap` pages of requests.
            if len(found) + len(items) > cap or pages > cap:
                what = "analyses" if len(found) + len(items) > cap else "pages of analyses"
                raise PaginationError(
                    f"workflow session {sid}: the server listed more than {cap:,} {what} "
                    "(max_analyses_per_session); stopped instead of growing without bound"
                )
            found.extend(items)
            params = next_params(params, page, seen)
        return found


class Export(BackgroundIterator[RecordT]):
    """Async iterator of :class:`ExportRecord` (:class:`RawExportRecord` with ``raw=True``); see
    :meth:`Session.export_workflow_sessions`.

    Runs once. Close it (``async with`` or ``aclose()``) when leaving early: that cancels every
    in-flight request at once; an export dropped without closing is cancelled when it is
    garbage-collected. ``state`` tells "not started" (``"new"``) from running and finished.

    Counters: ``sessions_done`` (good records yielded so far), ``sessions_failed`` (error
    records yielded, ``on_error="record"``) and ``sessions_skipped`` (listing items left out
    by ``skip``/``select`` so far; the listing runs ahead of the records, so this count can be
    ahead of the other two).

    ``select`` is an internal hook for code built on the export (the SQLite mirror): a callable
    given each usable listing item (a raw dict or a model, exactly as listed), once, in listing
    order, before any request for that item; ``False`` leaves the item out (no record; counted
    in ``sessions_skipped``). An exception from it ends the export. Items that are not usable
    workflow sessions (null, no usable id) are never passed to it. ``skip`` is applied first.
    """

    def __init__(
        self,
        session: Engine | EngineSource,
        project_id: str,
        *,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None,
        include: Collection[str],
        concurrency: int | None,
        ordered: bool,
        page_size: int | str | None,
        retry: RetryPolicy | None,
        raw: bool = False,
        skip: Iterable[str | uuid.UUID] | None = None,
        on_error: OnError = "raise",
        max_analyses_per_session: int = DEFAULT_MAX_ANALYSES_PER_SESSION,
        select: Callable[[Any], bool] | None = None,
    ) -> None:
        if isinstance(include, str):
            include = [p.strip() for p in include.split(",") if p.strip()]
        unknown = set(include) - set(PARTS)
        if unknown:
            raise InvalidParameterError(
                "include", f"unknown parts {sorted(unknown)!r}; choose from {', '.join(PARTS)}"
            )
        if concurrency is not None:
            param_int("concurrency", concurrency, 1)
        if on_error not in _ON_ERROR:
            raise InvalidParameterError(
                "on_error", f"must be 'raise' or 'record', got {_shown(on_error)}"
            )
        cap = max_analyses_per_session
        param_int("max_analyses_per_session", cap, 1)
        if select is not None and not callable(select):
            raise InvalidParameterError("select", "must be a callable or None")
        skipped = _skip_set(skip)
        engine = engine_of(session)
        super().__init__(engine.start_producer, concurrency or engine.max_concurrency)
        # Built now so that every argument is validated before anything is sent.
        listing = engine.operations.search_workflow_sessions(
            project_id,
            page_size=page_size,
            analysis_query_parameters=analysis_query_parameters,
            retry=retry,
            raw=raw,
        )
        self._job = _ExportJob(
            engine=engine,
            project_id=project_id,
            listing=listing,
            include=tuple(p for p in PARTS if p in include),
            concurrency=concurrency or engine.max_concurrency,
            ordered=ordered,
            retry=retry,
            raw=raw,
            on_error=on_error,
            max_analyses=cap,
            skip=skipped,
            select=select,
            tally=_Tally(),
        )
        self.sessions_done = 0
        self.sessions_failed = 0

    @property
    def sessions_skipped(self) -> int:
        """Listing items left out so far (``skip`` and ``select``)."""
        return self._job.tally.skipped

    async def aclose(self) -> None:
        """Cancel the listing and every per-session request in flight."""
        await super().aclose()

    async def __anext__(self) -> RecordT:
        record = await self._receive()
        if record.error is None:
            self.sessions_done += 1
        else:
            self.sessions_failed += 1
        return record

    def _producer(self) -> Producer:
        """The job's bound ``produce``, which holds no reference to ``self``."""
        return self._job.produce
