"""``aioica export``: every session with its details, streamed; ``--resume``, ``--keep-going``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._export import RawExportRecord
from .._paging import page_items
from .._resume import ExportFileError, prepare_resume
from .._session import Session
from ..models import AnalysisQueryParameters
from ._codes import EXIT_API_ERROR, EXIT_OK, UsageError, classify
from ._output import Writer, open_output
from ._runtime import Bar, Runtime
from ._sessions import aqp, estimate_total

__all__ = ["Exported", "cmd_export", "export_into"]


class Exported:
    """What an export run did (counts of sessions)."""

    def __init__(self) -> None:
        self.sessions = 0
        self.analyses = 0
        self.skipped = 0
        self.failed = 0


async def export_into(
    ica: Session,
    project: str,
    writer: Writer,
    bar: Bar,
    *,
    include: Sequence[str],
    concurrency: int | None,
    aqp: AnalysisQueryParameters | None,
    skip: Collection[str] = (),
    on_failure: Callable[[RawExportRecord], str] | None = None,
) -> Exported:
    """Run the export and write each good record. With ``on_failure``, a failed session is
    not written and does not end the export: the line ``on_failure`` makes of it goes to
    stderr (above the bar)."""
    done = Exported()
    export = ica.export_workflow_sessions(
        project,
        analysis_query_parameters=aqp,
        include=include,
        concurrency=concurrency,
        raw=True,
        skip=skip,
        on_error="raise" if on_failure is None else "record",
    )

    def count_skipped() -> None:
        # The listing runs ahead of the records: catch the bar up with it.
        if export.sessions_skipped > done.skipped:
            bar.skip(export.sessions_skipped - done.skipped)
            done.skipped = export.sessions_skipped

    writer.start()
    async with export:
        async for record in export:
            count_skipped()
            if record.error is not None:
                assert on_failure is not None
                done.failed += 1
                bar.fail()
                bar.line(on_failure(record))
                continue
            # Counted first: a line printed above the bar redraws it, showing this one too.
            bar.advance()
            writer.write(record.to_dict())
            done.sessions += 1
            done.analyses += len(record.analyses or ())
        count_skipped()
    writer.finish()
    return done


def _failed_id(record: RawExportRecord) -> str | None:
    ws: Any = record.workflow_session
    sid = ws.get("id") if isinstance(ws, dict) else None
    # An id the server sent is printed only when it is plain text (an unusable one is quoted
    # in the error's own message).
    return sid if isinstance(sid, str) and sid.isprintable() and sid.strip() else None


async def cmd_export(rt: Runtime) -> int:
    """``aioica export``."""
    args = rt.args
    project = rt.project()
    body = aqp(args)
    path = None if args.output in (None, "-") else args.output
    already = frozenset[str]()
    if args.resume:
        if path is None:
            raise UsageError("--resume needs -o FILE: it appends to FILE")
        if args.format not in (None, "jsonl"):
            raise UsageError("--resume works with JSON Lines only (--format jsonl)")
        try:
            state = prepare_resume(path, args.include)
        except ExportFileError as exc:
            raise UsageError(str(exc)) from None
        already = state.ids
        if state.existed:
            rt.note(
                f"resuming {path}: {len(state.ids):,} sessions already complete"
                + (
                    f"; dropped a partial last line ({state.dropped:,} bytes)"
                    if state.dropped
                    else ""
                )
            )

    def report(record: RawExportRecord) -> str:
        sid = _failed_id(record)
        assert record.error is not None
        _, message = classify(record.error, rt.base_url)
        return rt.error_line(f"{'session ' + sid if sid else 'a listed session'}: {message}")

    async with rt.session() as ica:
        with open_output(path, append=args.resume) as stream:
            writer = Writer(stream, rt.format_for(sys.stdout if path is None else stream), "export")
            total = None
            if rt.progress_wanted():
                # One small extra request buys the bar a total (remainingRecords is approximate).
                first: Any = await ica.search_workflow_sessions(
                    project, page_size=1, analysis_query_parameters=body, raw=True
                )
                total = estimate_total(first, len(page_items(first)), None)
            started = time.perf_counter()
            with rt.progress(
                "export",
                "sessions",
                lambda: ica.requests_sent,
                to_stdout=path is None,
                # Room on the line for the skipped and failed counts.
                bar_width=10 if args.resume or args.keep_going else 24,
            ) as bar:
                bar.set_total(total)
                done = await export_into(
                    ica,
                    project,
                    writer,
                    bar,
                    include=args.include,
                    concurrency=args.concurrency,
                    aqp=body,
                    skip=already,
                    on_failure=report if args.keep_going else None,
                )
            wall = time.perf_counter() - started
        rate = done.sessions / wall if wall > 0 else 0
        rt.note(
            f"exported {done.sessions:,} sessions ({done.analyses:,} analyses) in {wall:.1f} s: "
            f"{rate:,.0f} sessions/s, {ica.requests_sent:,} requests"
            + (f"; skipped {done.skipped:,} already in the file" if args.resume else "")
            + (f"; {done.failed:,} failed" if done.failed else "")
            + (f" -> {path}" if path else "")
        )
    if done.failed:
        several = done.failed != 1
        message = (
            f"{done.failed:,} session{'s' if several else ''} failed and "
            f"{'were' if several else 'was'} not written"
        )
        if path:
            message += (
                f" to {path}; the same command with --resume fetches {'them' if several else 'it'}"
            )
        print(rt.error_line(message), file=sys.stderr, flush=True)
        return EXIT_API_ERROR
    return EXIT_OK
