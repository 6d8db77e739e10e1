"""``aioica sessions list|inputs|configurations`` and ``aioica analyses``; the filter options and
the status vocabularies they accept."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._paging import page_items
from ..models import AnalysisQueryParameters
from ..models._status import V4_TO_V3, StatusV3, StatusV4
from ._codes import EXIT_OK, UsageError
from ._output import StdoutProxy, Writer
from ._runtime import Runtime

__all__ = [
    "aqp",
    "cmd_analyses",
    "cmd_sessions_configurations",
    "cmd_sessions_inputs",
    "cmd_sessions_list",
    "estimate_total",
    "status_word",
]

# V3 and V4 spell three statuses differently (INPROGRESS / IN_PROGRESS, ...); either spelling is
# accepted with either endpoint and sent in the endpoint's own.
_V4_SPELLING = {v3: v4 for v4, v3 in V4_TO_V3.items() if v4 != v3 and v4.replace("_", "") == v3}
_V3_SPELLING = {v4: v3 for v3, v4 in _V4_SPELLING.items()}
_KNOWN = StatusV4.ALL | StatusV3.ALL


def status_word(text: str) -> str:
    """An argparse type: a known status in either vocabulary (any case, ``-`` for ``_``)."""
    value = text.strip().upper().replace("-", "_")
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    if value not in _KNOWN:
        raise argparse.ArgumentTypeError(
            f"unknown status {text.strip()[:40]!r}; choose from "
            f"{', '.join(StatusV4)}; V3 spellings {', '.join(_V4_SPELLING)} work too"
        )
    return value


def _status(value: str, *, v3: bool) -> str:
    return _V3_SPELLING.get(value, value) if v3 else _V4_SPELLING.get(value, value)


def _query(args: argparse.Namespace, *, v3: bool = False) -> dict[str, Any]:
    """Filter options as AnalysisQueryParameters fields (V4) or V3 query parameters."""
    statuses = [_status(s, v3=v3) for s in (args.status or [])]
    user_tags = list(getattr(args, "user_tag", None) or [])
    tech_tags = list(getattr(args, "technical_tag", None) or [])
    user_ref = getattr(args, "user_reference", None)
    if v3:
        if len(statuses) > 1:
            raise UsageError("--v3 takes one --status (the V3 list filters on a single status)")
        return {
            "status": statuses[0] if statuses else None,
            "userreference": user_ref,
            "usertag": ",".join(user_tags) or None,
            "technicaltag": ",".join(tech_tags) or None,
        }
    fields = {
        "status": statuses or None,
        "user_reference": user_ref,
        "user_tags": user_tags or None,
        "technical_tags": tech_tags or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def aqp(args: argparse.Namespace) -> AnalysisQueryParameters | None:
    """The V4 search body the filter options ask for (``None`` for no filter)."""
    fields = _query(args)
    return AnalysisQueryParameters(**fields) if fields else None


def estimate_total(page: dict[str, Any], first_items: int, limit: int | None) -> int | None:
    """How many items the listing will yield, from its first page (``None``: cannot tell)."""
    total = page.get("totalItemCount")
    if not isinstance(total, int):
        remaining = page.get("remainingRecords")
        if isinstance(remaining, int) and not isinstance(remaining, bool):
            total = first_items + remaining
        elif not page.get("nextPageToken"):
            total = first_items
        else:
            return None
    return min(total, limit) if limit is not None else total


async def cmd_sessions_list(rt: Runtime) -> int:
    """``aioica sessions list``."""
    args = rt.args
    project = rt.project()
    v3_query = _query(args, v3=True) if args.v3 else None
    body = None if args.v3 else aqp(args)
    writer = Writer(StdoutProxy(), rt.format_for(sys.stdout), "sessions")
    async with rt.session() as ica:
        if v3_query is not None:
            paginator: Any = ica.get_workflow_sessions(
                project, sort=args.sort, max_items=args.limit, raw=True, **v3_query
            )
        else:
            paginator = ica.search_workflow_sessions(
                project,
                sort=args.sort,
                analysis_query_parameters=body,
                max_items=args.limit,
                raw=True,
            )
        with rt.progress("list", "sessions", lambda: ica.requests_sent, to_stdout=True) as bar:
            writer.start()
            async with paginator.pages() as pages:
                first = True
                async for page in pages:
                    items = page_items(page)
                    if first:
                        bar.set_total(estimate_total(page, len(items), args.limit))
                        first = False
                    for item in items:
                        if args.limit is not None and writer.count >= args.limit:
                            break
                        # Counted first: a row printed above the bar redraws it, and the bar
                        # then shows this row too.
                        bar.advance()
                        writer.write(item)
                    if args.limit is not None and writer.count >= args.limit:
                        break
            writer.finish()
    return EXIT_OK


async def cmd_sessions_inputs(rt: Runtime) -> int:
    """``aioica sessions inputs``."""
    project = rt.project()
    async with rt.session() as ica:
        result = await ica.get_workflow_session_inputs(project, rt.args.session_id, raw=True)
    _write_all(rt, "inputs", result.get("items") or [])
    return EXIT_OK


async def cmd_sessions_configurations(rt: Runtime) -> int:
    """``aioica sessions configurations``."""
    project = rt.project()
    async with rt.session() as ica:
        result = await ica.get_workflow_session_configurations(
            project, rt.args.session_id, raw=True
        )
    _write_all(rt, "configurations", result.get("items") or [])
    return EXIT_OK


def _write_all(rt: Runtime, kind: str, items: list[dict[str, Any]]) -> None:
    writer = Writer(StdoutProxy(), rt.format_for(sys.stdout), kind)
    writer.start()
    for item in items:
        writer.write(item)
    writer.finish()


async def cmd_analyses(rt: Runtime) -> int:
    """``aioica analyses``."""
    args = rt.args
    project = rt.project()
    statuses = [_status(s, v3=False) for s in (args.status or [])]
    body = AnalysisQueryParameters(status=list(statuses)) if statuses else None
    writer = Writer(StdoutProxy(), rt.format_for(sys.stdout), "analyses")
    async with rt.session() as ica:
        paginator = ica.search_orchestrated_analyses(
            project, args.session_id, analysis_query_parameters=body, raw=True
        )
        writer.start()
        async with paginator.__aiter__() as items:
            async for item in items:
                writer.write(item)
        writer.finish()
    return EXIT_OK
