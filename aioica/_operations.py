"""The five operations of libica's ``ProjectWorkflowSessionApi`` and their ``*_with_http_info``
twins: each validates its arguments and builds a call (the session sends it). ``raw=True`` is
typed: it returns plain dicts."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import attrs
import httpx

from ._direct import Answer, as_response
from ._paging import Paginator
from ._params import (
    ANALYSIS_SORT_FIELDS,
    SESSION_SORT_FIELDS,
    PageParams,
    encode_query_body,
    filters,
    path_segment,
    session_path,
)
from .models import (
    AnalysisQueryParameters,
    WorkflowSessionAnalysisPagedListV4,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfigurationList,
    WorkflowSessionInputList,
    WorkflowSessionPagedListV3,
    WorkflowSessionPagedListV4,
    WorkflowSessionV3,
    WorkflowSessionV4,
)

if TYPE_CHECKING:
    from ._retry import RetryPolicy

__all__ = ["ApiResponse", "Operations", "RawPaginator"]

T = TypeVar("T")

#: What a paged operation returns with ``raw=True``: wire-shaped dicts, pages and items alike.
RawPaginator = Paginator[dict[str, Any], dict[str, Any]]
Query = AnalysisQueryParameters | Mapping[str, Any] | None


@attrs.frozen
class ApiResponse(Generic[T]):
    """A parsed result together with the HTTP response it came from (libica's ``ApiResponse``).

    Returned by the ``*_with_http_info`` methods: ``data`` is what the plain method returns,
    ``http_response`` the ``httpx.Response`` (body already read; no second request is made).
    """

    data: T
    # A direct-path reply builds its response here (see _direct).
    http_response: httpx.Response = attrs.field(repr=False, converter=as_response)

    @property
    def status_code(self) -> int:
        """HTTP status of the response."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """Response headers."""
        return self.http_response.headers


def _page_params(
    page_offset: object,
    page_token: object,
    page_size: object,
    sort: object,
    fields: frozenset[str],
) -> PageParams:
    return PageParams.build(
        page_size=page_size,
        page_offset=page_offset,
        page_token=page_token,
        sort=sort,
        sort_fields=fields,
    )


async def _one_page_with_info(paginator: Paginator[Any, Any]) -> ApiResponse[Any]:
    page, response = await paginator.fetch_with_response(paginator.given_params)
    return ApiResponse(page, response)


class Operations:
    """The operations, mixed into :class:`~aioica.Session` (which provides the request path)."""

    if TYPE_CHECKING:

        async def _call(
            self,
            method: str,
            path: str,
            query: list[tuple[str, str]],
            body: dict[str, Any] | None,
            model: type[Any] | None,
            *,
            paged: bool,
            retry: RetryPolicy | None,
        ) -> tuple[Any, Answer]: ...

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
        ) -> Paginator[Any, Any]: ...

    # -- the paged operations -----------------------------------------------------------------

    @overload
    def get_workflow_sessions(
        self,
        project_id: str,
        reference: str | None = ...,
        userreference: str | None = ...,
        status: str | None = ...,
        usertag: str | None = ...,
        technicaltag: str | None = ...,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[False] = ...,
    ) -> Paginator[WorkflowSessionPagedListV3, WorkflowSessionV3]: ...

    @overload
    def get_workflow_sessions(
        self,
        project_id: str,
        reference: str | None = ...,
        userreference: str | None = ...,
        status: str | None = ...,
        usertag: str | None = ...,
        technicaltag: str | None = ...,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[True],
    ) -> RawPaginator: ...

    @overload
    def get_workflow_sessions(
        self,
        project_id: str,
        reference: str | None = ...,
        userreference: str | None = ...,
        status: str | None = ...,
        usertag: str | None = ...,
        technicaltag: str | None = ...,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: bool = ...,
    ) -> Paginator[Any, Any]: ...

    def get_workflow_sessions(
        self,
        project_id: str,
        reference: str | None = None,
        userreference: str | None = None,
        status: str | None = None,
        usertag: str | None = None,
        technicaltag: str | None = None,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        prefetch: int | None = None,
        max_items: int | None = None,
        raw: bool = False,
    ) -> Paginator[Any, Any]:
        """List workflow sessions (V3 items; deprecated upstream, prefer the search).

        ``await`` it for one page (:class:`WorkflowSessionPagedListV3`), ``async for`` it for
        every :class:`WorkflowSessionV3`. ``raw=True`` yields plain dicts instead of models.
        """
        path = f"/api/projects/{path_segment('project_id', project_id)}/workflowSessions"
        query = filters(
            reference=reference,
            userreference=userreference,
            status=status,
            usertag=usertag,
            technicaltag=technicaltag,
        )
        params = _page_params(page_offset, page_token, page_size, sort, SESSION_SORT_FIELDS)
        return self._paged(
            "GET",
            path,
            query,
            None,
            WorkflowSessionPagedListV3,
            params,
            retry=retry,
            prefetch=prefetch,
            max_items=max_items,
            raw=raw,
        )

    @overload
    def search_workflow_sessions(
        self,
        project_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[False] = ...,
    ) -> Paginator[WorkflowSessionPagedListV4, WorkflowSessionV4]: ...

    @overload
    def search_workflow_sessions(
        self,
        project_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[True],
    ) -> RawPaginator: ...

    @overload
    def search_workflow_sessions(
        self,
        project_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: bool = ...,
    ) -> Paginator[Any, Any]: ...

    def search_workflow_sessions(
        self,
        project_id: str,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        analysis_query_parameters: Query = None,
        *,
        retry: RetryPolicy | None = None,
        prefetch: int | None = None,
        max_items: int | None = None,
        raw: bool = False,
    ) -> Paginator[Any, Any]:
        """Search workflow sessions (V4 items).

        ``await`` it for one page (:class:`WorkflowSessionPagedListV4`), ``async for`` it for
        every :class:`WorkflowSessionV4`. ``raw=True`` yields plain dicts instead of models.
        """
        path = f"/api/projects/{path_segment('project_id', project_id)}/workflowSessions:search"
        body = encode_query_body(analysis_query_parameters)
        params = _page_params(page_offset, page_token, page_size, sort, SESSION_SORT_FIELDS)
        return self._paged(
            "POST",
            path,
            [],
            body,
            WorkflowSessionPagedListV4,
            params,
            retry=retry,
            prefetch=prefetch,
            max_items=max_items,
            raw=raw,
        )

    @overload
    def search_orchestrated_analyses(
        self,
        project_id: str,
        workflow_session_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[False] = ...,
    ) -> Paginator[WorkflowSessionAnalysisPagedListV4, WorkflowSessionAnalysisV4]: ...

    @overload
    def search_orchestrated_analyses(
        self,
        project_id: str,
        workflow_session_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: Literal[True],
    ) -> RawPaginator: ...

    @overload
    def search_orchestrated_analyses(
        self,
        project_id: str,
        workflow_session_id: str,
        page_offset: int | str | None = ...,
        page_token: str | None = ...,
        page_size: int | str | None = ...,
        sort: str | None = ...,
        analysis_query_parameters: Query = ...,
        *,
        retry: RetryPolicy | None = ...,
        prefetch: int | None = ...,
        max_items: int | None = ...,
        raw: bool = ...,
    ) -> Paginator[Any, Any]: ...

    def search_orchestrated_analyses(
        self,
        project_id: str,
        workflow_session_id: str,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        analysis_query_parameters: Query = None,
        *,
        retry: RetryPolicy | None = None,
        prefetch: int | None = None,
        max_items: int | None = None,
        raw: bool = False,
    ) -> Paginator[Any, Any]:
        """Search the analyses a workflow session orchestrated (``workflow_session_id``: UUID).

        ``await`` it for one page (:class:`WorkflowSessionAnalysisPagedListV4`), ``async for``
        it for every :class:`WorkflowSessionAnalysisV4`. ``raw=True`` yields plain dicts.
        """
        path = session_path(project_id, workflow_session_id, "analyses:search", uuid=True)
        body = encode_query_body(analysis_query_parameters)
        params = _page_params(page_offset, page_token, page_size, sort, ANALYSIS_SORT_FIELDS)
        return self._paged(
            "POST",
            path,
            [],
            body,
            WorkflowSessionAnalysisPagedListV4,
            params,
            retry=retry,
            prefetch=prefetch,
            max_items=max_items,
            raw=raw,
        )

    # -- the single-object operations ---------------------------------------------------------

    @overload
    async def get_workflow_session_inputs(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: Literal[False] = ...,
    ) -> WorkflowSessionInputList: ...

    @overload
    async def get_workflow_session_inputs(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: Literal[True],
    ) -> dict[str, Any]: ...

    @overload
    async def get_workflow_session_inputs(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: bool = ...,
    ) -> Any: ...

    async def get_workflow_session_inputs(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = None,
        raw: bool = False,
    ) -> Any:
        """The inputs of one workflow session (a plain dict with ``raw=True``)."""
        model = None if raw else WorkflowSessionInputList
        data, _ = await self._detail(project_id, workflow_session_id, "inputs", model, retry)
        return data

    @overload
    async def get_workflow_session_configurations(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: Literal[False] = ...,
    ) -> WorkflowSessionConfigurationList: ...

    @overload
    async def get_workflow_session_configurations(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: Literal[True],
    ) -> dict[str, Any]: ...

    @overload
    async def get_workflow_session_configurations(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = ...,
        raw: bool = ...,
    ) -> Any: ...

    async def get_workflow_session_configurations(
        self,
        project_id: str,
        workflow_session_id: str,
        *,
        retry: RetryPolicy | None = None,
        raw: bool = False,
    ) -> Any:
        """The configurations of one workflow session (a plain dict with ``raw=True``)."""
        model = None if raw else WorkflowSessionConfigurationList
        data, _ = await self._detail(
            project_id, workflow_session_id, "configurations", model, retry
        )
        return data

    def _detail(
        self,
        project_id: str,
        workflow_session_id: str,
        part: str,
        model: type[Any] | None,
        retry: RetryPolicy | None,
    ) -> Awaitable[tuple[Any, Answer]]:
        path = session_path(project_id, workflow_session_id, part)  # not awaited: one frame less
        return self._call("GET", path, [], None, model, paged=False, retry=retry)

    # -- libica's *_with_http_info ------------------------------------------------------------

    async def get_workflow_sessions_with_http_info(
        self,
        project_id: str,
        reference: str | None = None,
        userreference: str | None = None,
        status: str | None = None,
        usertag: str | None = None,
        technicaltag: str | None = None,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ApiResponse[WorkflowSessionPagedListV3]:
        """Like :meth:`get_workflow_sessions` (one page), with the HTTP response."""
        return await _one_page_with_info(
            self.get_workflow_sessions(
                project_id,
                reference,
                userreference,
                status,
                usertag,
                technicaltag,
                page_offset,
                page_token,
                page_size,
                sort,
                retry=retry,
            )
        )

    async def search_workflow_sessions_with_http_info(
        self,
        project_id: str,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        analysis_query_parameters: Query = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ApiResponse[WorkflowSessionPagedListV4]:
        """Like :meth:`search_workflow_sessions` (one page), with the HTTP response."""
        return await _one_page_with_info(
            self.search_workflow_sessions(
                project_id,
                page_offset,
                page_token,
                page_size,
                sort,
                analysis_query_parameters,
                retry=retry,
            )
        )

    async def search_orchestrated_analyses_with_http_info(
        self,
        project_id: str,
        workflow_session_id: str,
        page_offset: int | str | None = None,
        page_token: str | None = None,
        page_size: int | str | None = None,
        sort: str | None = None,
        analysis_query_parameters: Query = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ApiResponse[WorkflowSessionAnalysisPagedListV4]:
        """Like :meth:`search_orchestrated_analyses` (one page), with the HTTP response."""
        return await _one_page_with_info(
            self.search_orchestrated_analyses(
                project_id,
                workflow_session_id,
                page_offset,
                page_token,
                page_size,
                sort,
                analysis_query_parameters,
                retry=retry,
            )
        )

    async def get_workflow_session_inputs_with_http_info(
        self, project_id: str, workflow_session_id: str, *, retry: RetryPolicy | None = None
    ) -> ApiResponse[WorkflowSessionInputList]:
        """Like :meth:`get_workflow_session_inputs`, with the HTTP response."""
        model, part = WorkflowSessionInputList, "inputs"
        return ApiResponse(*await self._detail(project_id, workflow_session_id, part, model, retry))

    async def get_workflow_session_configurations_with_http_info(
        self, project_id: str, workflow_session_id: str, *, retry: RetryPolicy | None = None
    ) -> ApiResponse[WorkflowSessionConfigurationList]:
        """Like :meth:`get_workflow_session_configurations`, with the HTTP response."""
        model, part = WorkflowSessionConfigurationList, "configurations"
        return ApiResponse(*await self._detail(project_id, workflow_session_id, part, model, retry))
