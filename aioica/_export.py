"""Fan-out export: every workflow session with its inputs, configurations and analyses.

Pipelined: per-session requests start as soon as the session arrives from the listing, not
after the listing ends. A semaphore bounds the sessions in progress (and so memory); every HTTP
request also passes the session-wide ``max_concurrency`` limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import ObjectSendStream

from ._background import BackgroundIterator, Producer
from ._errors import InvalidParameterError
from ._paging import next_params, page_items
from ._params import PageParams, session_path
from .models import (
    AnalysisQueryParameters,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfiguration,
    WorkflowSessionConfigurationList,
    WorkflowSessionInput,
    WorkflowSessionInputList,
    WorkflowSessionV4,
    to_dict,
)

if TYPE_CHECKING:
    from ._paging import Paginator
    from ._retry import RetryPolicy
    from ._session import Session

__all__ = ["Export", "ExportRecord"]

PARTS = ("inputs", "configurations", "analyses")


def _wire(value: Any) -> Any:
    return value if isinstance(value, dict) else to_dict(value)


@attrs.frozen
class ExportRecord:
    """One workflow session and what was fetched for it.

    A part that was not asked for (``include``) is ``None``; a part that was fetched is a list,
    possibly empty. In raw mode the values are plain wire-shaped dicts.
    """

    workflow_session: WorkflowSessionV4
    inputs: list[WorkflowSessionInput] | None = None
    configurations: list[WorkflowSessionConfiguration] | None = None
    analyses: list[WorkflowSessionAnalysisV4] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as one wire-shaped (camelCase) JSON object."""
        out: dict[str, Any] = {"workflowSession": _wire(self.workflow_session)}
        for name in PARTS:
            part = getattr(self, name)
            if part is not None:
                out[name] = [_wire(v) for v in part]
        return out


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


class Export(BackgroundIterator[ExportRecord]):
    """Async iterator of :class:`ExportRecord`; see :meth:`Session.export_workflow_sessions`.

    Runs once. Close it (``async with`` or ``aclose()``) when leaving early: that cancels every
    in-flight request at once; an export dropped without closing is cancelled when it is
    garbage-collected. ``sessions_done`` counts records yielded so far; ``state`` tells "not
    started" (``"new"``) from running and finished.
    """

    def __init__(
        self,
        session: Session,
        project_id: str,
        *,
        analysis_query_parameters: AnalysisQueryParameters | Mapping[str, Any] | None,
        include: Collection[str],
        concurrency: int | None,
        ordered: bool,
        page_size: int | str | None,
        retry: RetryPolicy | None,
        raw: bool = False,
    ) -> None:
        if isinstance(include, str):
            include = [p.strip() for p in include.split(",") if p.strip()]
        unknown = set(include) - set(PARTS)
        if unknown:
            raise InvalidParameterError(
                "include", f"unknown parts {sorted(unknown)!r}; choose from {', '.join(PARTS)}"
            )
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise InvalidParameterError("concurrency", "must be an integer >= 1")
        super().__init__(session, concurrency or session.max_concurrency)
        self._job = _ExportJob(
            session,
            project_id,
            include=tuple(p for p in PARTS if p in include),
            concurrency=concurrency or session.max_concurrency,
            ordered=ordered,
            retry=retry,
            raw=raw,
            # Built now so that every argument is validated before anything is sent.
            listing=session.search_workflow_sessions(
                project_id,
                page_size=page_size,
                analysis_query_parameters=analysis_query_parameters,
                retry=retry,
                raw=raw,
            ),
        )
        self.sessions_done = 0

    async def aclose(self) -> None:
        """Cancel the listing and every per-session request in flight."""
        await super().aclose()

    async def __anext__(self) -> ExportRecord:
        record = await self._receive()
        self.sessions_done += 1
        return record

    def _producer(self) -> Producer:
        return self._job.produce


class _ExportJob:
    """What an export's producer needs, and nothing that refers back to the :class:`Export`
    (an abandoned export must be collectable for its producer to be cancelled)."""

    def __init__(
        self,
        session: Session,
        project_id: str,
        *,
        include: tuple[str, ...],
        concurrency: int,
        ordered: bool,
        retry: RetryPolicy | None,
        raw: bool,
        listing: Paginator[Any, Any],
    ) -> None:
        self._session = session
        self._project_id = project_id
        self._include = include
        self._concurrency = concurrency
        self._ordered = ordered
        self._retry = retry
        self._raw = raw
        self._listing = listing

    async def produce(self, send: ObjectSendStream[Any]) -> None:
        # Ordered mode keeps finished records until their turn: the window bounds that buffer.
        window = anyio.Semaphore(self._concurrency * (2 if self._ordered else 1))
        active = anyio.CapacityLimiter(self._concurrency)
        finished: dict[int, ExportRecord] = {}
        next_out = 0
        emit_lock = anyio.Lock()
        errors: list[BaseException] = []

        async def emit(seq: int, record: ExportRecord) -> None:
            nonlocal next_out
            if not self._ordered:
                await send.send(record)
                window.release()
                return
            finished[seq] = record
            async with emit_lock:
                while next_out in finished:
                    await send.send(finished.pop(next_out))
                    next_out += 1
                    window.release()

        async def work(seq: int, ws: Any) -> None:
            try:
                async with active:
                    record = await self._record(ws)
                await emit(seq, record)
            except Exception as exc:
                errors.append(exc)
                tg.cancel_scope.cancel()

        seq = 0
        async with anyio.create_task_group() as tg:
            try:
                async with self._listing.pages() as pages:
                    async for page in pages:
                        for ws in page_items(page):
                            await window.acquire()
                            tg.start_soon(work, seq, ws)
                            seq += 1
            except Exception as exc:
                # Raised here, it would leave the group wrapped in an ExceptionGroup.
                errors.append(exc)
                tg.cancel_scope.cancel()
        if errors:
            raise errors[0]

    async def _record(self, ws: Any) -> ExportRecord:
        sid = ws.get("id") if isinstance(ws, dict) else ws.id
        parts: dict[str, list[Any]] = {}
        if sid is None:
            # A session without an id (a lenient decode of a broken item) has nothing to fetch.
            return ExportRecord(ws)
        session = self._session
        pid = self._project_id

        async def detail(part: str, model: type[Any]) -> None:
            page, _ = await session._call(
                "GET",
                session_path(pid, str(sid), part),
                [],
                None,
                None if self._raw else model,
                paged=False,
                retry=self._retry,
            )
            parts[part] = page_items(page)

        async def inputs() -> None:
            await detail("inputs", WorkflowSessionInputList)

        async def configurations() -> None:
            await detail("configurations", WorkflowSessionConfigurationList)

        async def analyses() -> None:
            # The whole cursor chain, in this task: a session's analyses rarely fill one page,
            # and a look-ahead producer per session would cost more than it saves.
            paginator = session.search_orchestrated_analyses(
                pid, str(sid), retry=self._retry, raw=self._raw
            )
            params: PageParams | None = paginator.params
            found: list[Any] = []
            seen: set[str] = set()
            while params is not None:
                page = await paginator.fetch(params)
                found.extend(page_items(page))
                params = next_params(params, page, seen)
            parts["analyses"] = found

        calls = {"inputs": inputs, "configurations": configurations, "analyses": analyses}
        await _gather([calls[name] for name in self._include])
        return ExportRecord(ws, **parts)
