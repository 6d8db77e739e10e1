"""One sync run: list every session once, decide per listed item, fetch only what may have
changed, write as records arrive, mark what disappeared.

The decision happens in the export's ``select`` hook, in listing order and before any detail
request, so the run keeps the export's pipelined fan-out and lists each page exactly once.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .._engine import Engine
from .._errors import ICAError, InvalidParameterError
from .._export import PARTS, Export
from .._wiretext import KEEP_WIRE_TEXT
from ._report import MirrorError, SyncFailure, SyncReport
from ._store import TERMINAL, WIRE_MEMBERS, SessionState, Store, SyncLock, json_text, outcome
from ._writer import StoreThread, writer

if TYPE_CHECKING:
    from .._retry import RetryPolicy

__all__ = ["sync_workflow_sessions"]

#: What ``on_session`` hears per listed session.
OUTCOMES = ("new", "changed", "refreshed", "unchanged", "failed")


def _fingerprint(item: Mapping[str, Any]) -> tuple[str, str]:
    """The listing item as stored (its text as the server sent it) and a short hash of it."""
    text = json_text(item)
    # surrogatepass: text re-encoded from decoded values may hold a lone surrogate (a JSON
    # "\ud800" escape decodes to one), which strict UTF-8 refuses.
    return text, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def must_fetch(old: SessionState | None, listing_hash: str, *, full: bool = False) -> bool:
    """The incremental rule: fetch details for a session that is new, whose listing item
    changed, whose last synced status was not terminal (unknown statuses included), whose last
    fetch failed, or that had been marked removed; always with ``full``."""
    return (
        full
        or old is None
        or old.removed
        or old.failed
        or old.listing_hash != listing_hash
        or old.status not in TERMINAL
    )


async def sync_workflow_sessions(
    engine: Engine,
    project_id: str,
    path: str | os.PathLike[str],
    *,
    full: bool = False,
    concurrency: int | None = None,
    page_size: int | str | None = 1000,
    retry: RetryPolicy | None = None,
    on_session: Callable[[str, str], object] | None = None,
) -> SyncReport:
    """See :meth:`aioica.Session.sync_workflow_sessions`."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError("path", "must be a file path (str or os.PathLike)")
    db_path = os.fspath(path)
    if not db_path or db_path == ":memory:" or db_path.startswith("file:"):
        raise InvalidParameterError("path", "must name a database file")
    started = time.perf_counter()
    sent0 = engine.requests_sent
    state: dict[str, SessionState] = {}
    seen: set[str] = set()
    # Listing text and hash of the sessions selected and not yet written (bounded by the
    # export's window), so nothing is serialised twice.
    pending: dict[str, tuple[str, str, str]] = {}
    counts = dict.fromkeys(
        ("listed", "new", "changed", "refreshed", "unchanged", "removed", "failed"), 0
    )
    failures: list[SyncFailure] = []

    def select(item: Any) -> bool:
        sid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(sid, str) or sid in seen:
            return False  # no id to key a row on, or a repeat within one listing
        seen.add(sid)
        counts["listed"] += 1
        text, digest = _fingerprint(item)
        old = state.pop(sid, None)
        if not must_fetch(old, digest, full=full):
            counts["unchanged"] += 1
            if on_session is not None:
                on_session(sid, "unchanged")
            return False
        if old is None:
            kind = "new"
        elif old.removed or old.listing_hash != digest:
            kind = "changed"
        else:
            kind = "refreshed"
        pending[sid] = (text, digest, kind)
        return True

    # Built first: every argument is checked before the database is touched or a request sent.
    export = Export(
        engine,
        project_id,
        analysis_query_parameters=None,
        include=PARTS,
        concurrency=concurrency,
        ordered=False,
        page_size=page_size,
        retry=retry,
        raw=True,
        on_error="record",
        select=select,
    )
    call = StoreThread(db_path)
    try:
        lock = await call(SyncLock, db_path)
    except MirrorError:
        await export.aclose()
        raise
    try:
        store = await call(Store, db_path)
    except BaseException:  # a cancellation too: the lock must not outlive the run
        with anyio.CancelScope(shield=True):
            await call(lock.release)
            await export.aclose()
        raise
    run_id = 0
    run_outcome = "failed"
    error: str | None = None
    # Items keep the text they were sent as: the mirror stores it instead of encoding the
    # decoded dicts again (the export's producers, started below, inherit this context).
    keeping = KEEP_WIRE_TEXT.set(WIRE_MEMBERS)
    try:
        mirrored = await call(store.mirrored_project)
        if mirrored is not None and mirrored != project_id:
            raise MirrorError(f"{db_path} mirrors project {mirrored}, not {project_id}")
        run_id, _ = await call(store.begin_run, project_id, full)
        state.update(await call(store.state))
        async with writer(call, store, run_id) as send, export:
            async for record in export:
                # Raw mode: wire-shaped dicts, whatever the record's annotations say.
                ws: Any = record.workflow_session
                parts: Any = record
                sid = ws.get("id") if isinstance(ws, dict) else None
                if sid not in pending:
                    # A listing item that is no usable session (null, no usable id): nothing
                    # to store, but the mirror is not complete either.
                    assert record.error is not None
                    failures.append(
                        SyncFailure(sid if isinstance(sid, str) else None, record.error)
                    )
                    counts["failed"] += 1
                    continue
                text, digest, kind = pending.pop(sid)
                if record.error is not None:
                    kind = "failed"
                    failures.append(SyncFailure(sid, record.error))
                    item = outcome(ws, text, digest, error=_describe(record.error))
                else:
                    item = outcome(
                        ws,
                        text,
                        digest,
                        inputs=parts.inputs or (),
                        configurations=parts.configurations or (),
                        analyses=parts.analyses or (),
                        new=kind == "new",
                    )
                try:
                    # No checkpoint per session while the buffer has room (the loop over the
                    # export already yields to other tasks).
                    send.send_nowait(item)
                except anyio.WouldBlock:
                    await send.send(item)
                counts[kind] += 1
                if on_session is not None:
                    on_session(sid, kind)
        # The listing ended normally, so whatever it did not name is gone from the project.
        gone = [sid for sid, old in state.items() if not old.removed]
        await call(store.mark_removed, gone, run_id)
        counts["removed"] = len(gone)
        run_outcome = "ok" if not failures else "incomplete"
    except anyio.get_cancelled_exc_class():
        run_outcome = "cancelled"
        raise
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        KEEP_WIRE_TEXT.reset(keeping)
        with anyio.CancelScope(shield=True):
            try:
                if run_id:
                    finished = {
                        **counts,
                        "requests": engine.requests_sent - sent0,
                        "elapsed_s": time.perf_counter() - started,
                        "error": error,
                    }
                    await call(store.finish_run, run_id, run_outcome, finished)
            finally:
                try:
                    await call(store.close)
                finally:
                    await call(lock.release)
    return SyncReport(
        project_id=project_id,
        path=db_path,
        run_id=run_id,
        full=full,
        failures=tuple(failures),
        requests=engine.requests_sent - sent0,
        elapsed=time.perf_counter() - started,
        **counts,
    )


def _describe(error: ICAError) -> str:
    return f"{type(error).__name__}: {error}"
