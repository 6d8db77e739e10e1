"""Static checks of the public signatures: ``tests/unit/test_typing.py`` runs mypy on this file.

Never executed; every ``assert_type`` is verified by mypy, and every ``type: ignore`` must be
needed (``warn_unused_ignores`` under ``--strict``), so a keyword that the signature wrongly
accepted would fail the check.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import aioica
from aioica.models import (
    WorkflowSessionAnalysisPagedListV4,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfigurationList,
    WorkflowSessionInputList,
    WorkflowSessionPagedListV3,
    WorkflowSessionPagedListV4,
    WorkflowSessionV3,
    WorkflowSessionV4,
)

Raw = aioica.Paginator[dict[str, Any], dict[str, Any]]


async def models_by_default(ica: aioica.Session, raw: bool) -> None:
    assert_type(
        ica.get_workflow_sessions("p"),
        aioica.Paginator[WorkflowSessionPagedListV3, WorkflowSessionV3],
    )
    assert_type(
        ica.search_workflow_sessions("p"),
        aioica.Paginator[WorkflowSessionPagedListV4, WorkflowSessionV4],
    )
    assert_type(
        ica.search_orchestrated_analyses("p", "s"),
        aioica.Paginator[WorkflowSessionAnalysisPagedListV4, WorkflowSessionAnalysisV4],
    )
    assert_type(await ica.search_workflow_sessions("p"), WorkflowSessionPagedListV4)
    async for ws in ica.search_workflow_sessions("p"):
        assert_type(ws, WorkflowSessionV4)
    assert_type(await ica.get_workflow_session_inputs("p", "s"), WorkflowSessionInputList)
    assert_type(
        await ica.get_workflow_session_configurations("p", "s"), WorkflowSessionConfigurationList
    )
    assert_type(ica.search_workflow_sessions("p", raw=raw), aioica.Paginator[Any, Any])


async def dicts_with_raw(ica: aioica.Session) -> None:
    assert_type(ica.get_workflow_sessions("p", raw=True), Raw)
    assert_type(ica.search_workflow_sessions("p", raw=True), Raw)
    assert_type(ica.search_orchestrated_analyses("p", "s", raw=True), Raw)
    async for item in ica.search_workflow_sessions("p", raw=True):
        assert_type(item, dict[str, Any])
    assert_type(await ica.get_workflow_session_inputs("p", "s", raw=True), dict[str, Any])
    assert_type(await ica.get_workflow_session_configurations("p", "s", raw=True), dict[str, Any])


async def exports(ica: aioica.Session, raw: bool) -> None:
    assert_type(ica.export_workflow_sessions("p"), aioica.Export[aioica.ExportRecord])
    async for record in ica.export_workflow_sessions("p"):
        assert_type(record.workflow_session, WorkflowSessionV4)
    raw_export = ica.export_workflow_sessions("p", raw=True)
    assert_type(raw_export, aioica.Export[aioica.RawExportRecord])
    async for raw_record in raw_export:
        assert_type(raw_record.workflow_session, dict[str, Any])
        assert_type(raw_record.analyses, list[dict[str, Any]] | None)
    assert_type(ica.export_workflow_sessions("p", raw=raw), aioica.Export[Any])


async def libica_keywords(ica: aioica.Session) -> None:
    info = await ica.get_workflow_sessions_with_http_info("p", userreference="x", page_size=10)
    assert_type(info, aioica.ApiResponse[WorkflowSessionPagedListV3])
    await ica.search_workflow_sessions_with_http_info("p", page_token="t", sort="status")
    await ica.search_orchestrated_analyses_with_http_info("p", "s", page_offset=0)
    await ica.get_workflow_sessions_with_http_info("p", user_reference="x")  # type: ignore[call-arg]
    await ica.search_workflow_sessions_with_http_info("p", pagesize=1)  # type: ignore[call-arg]
    await ica.search_orchestrated_analyses_with_http_info("p", "s", raw=True)  # type: ignore[call-arg]
    await ica.get_workflow_session_inputs("p", "s", raw=1)  # type: ignore[call-overload]
