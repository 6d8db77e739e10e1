"""``aioica sync``: bring a local SQLite mirror of a project up to date."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._config import ConfigurationError
from .._paging import page_items
from ._codes import EXIT_API_ERROR, EXIT_OK, classify
from ._runtime import Bar, Runtime
from ._sessions import estimate_total

__all__ = ["cmd_sync", "sync_ticker"]


def sync_ticker(bar: Bar) -> Callable[[str, str], None]:
    """The bar's update per synced session: unchanged ones count as skipped (nothing was
    fetched for them), failed ones as failed."""
    tick = {"unchanged": bar.skip, "failed": bar.fail}

    def on_session(_sid: str, outcome: str) -> None:
        tick.get(outcome, bar.advance)()

    return on_session


async def cmd_sync(rt: Runtime) -> int:
    """``aioica sync``."""
    from .._mirror import MirrorError

    args = rt.args
    project = rt.project()
    async with rt.session() as ica:
        total = None
        if rt.progress_wanted():
            first: Any = await ica.search_workflow_sessions(project, page_size=1, raw=True)
            total = estimate_total(first, len(page_items(first)), None)
        with rt.progress(
            "sync", "sessions", lambda: ica.requests_sent, to_stdout=False, bar_width=10
        ) as bar:
            bar.set_total(total)
            try:
                report = await ica.sync_workflow_sessions(
                    project,
                    args.db,
                    full=args.full,
                    concurrency=args.concurrency,
                    on_session=sync_ticker(bar),
                )
            except MirrorError as exc:
                raise ConfigurationError(str(exc)) from None
    for failure in report.failures:
        _, message = classify(failure.error, rt.base_url)
        what = f"session {failure.session_id}" if failure.session_id else "a listed session"
        print(rt.error_line(f"{what}: {message}"), file=sys.stderr, flush=True)
    rt.note(report.summary())
    if not report.complete:
        message = f"{report.failed:,} session(s) not synced; the next sync fetches them again"
        print(rt.error_line(message), file=sys.stderr, flush=True)
        return EXIT_API_ERROR
    return EXIT_OK
