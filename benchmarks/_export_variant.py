"""A variant of the export measured by ``streaming.py --variants models,sequential``.

Not part of the library: it measures a change to ``aioica/_export.py`` before it is made there.
The only difference from ``Export._record``: a session's parts (inputs, configurations,
analyses) are fetched one after another in the session's own task, instead of in a task group
of three tasks per session. With the export's default ``concurrency`` (= ``max_concurrency``)
as many sessions are in progress as requests may be in flight, so the session-wide limit stays
full and throughput is the same; what goes away is a task group, its cancel scope and three
task spawns per session.
"""

from __future__ import annotations

from typing import Any

from aioica._export import Export, ExportRecord
from aioica._paging import next_params, page_items
from aioica._params import PageParams, session_path
from aioica.models import WorkflowSessionConfigurationList, WorkflowSessionInputList


class SequentialPartsExport(Export):
    async def _record(self, ws: Any) -> ExportRecord:
        sid = ws.get("id") if isinstance(ws, dict) else ws.id
        parts: dict[str, list[Any]] = {}
        if sid is None:
            return ExportRecord(ws)
        session = self._session
        pid = self._project_id
        for part in self._include:
            if part == "analyses":
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
                continue
            model = (
                WorkflowSessionInputList if part == "inputs" else WorkflowSessionConfigurationList
            )
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
        return ExportRecord(ws, **parts)
