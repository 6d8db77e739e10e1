"""aioica: an asynchronous client for the ICA v3 Project Workflow Session API.

>>> async with aioica.Session(auth=aioica.ApiKeyAuth(key)) as ica:
...     async for ws in ica.search_workflow_sessions(project_id):
...         print(ws.id, ws.status)
"""

from __future__ import annotations

from ._auth import ApiKeyAuth, BearerAuth, TokenAuth
from ._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, ConfigurationError
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ICAError,
    InvalidParameterError,
    InvalidResponseError,
    IteratorFinishedError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SessionClosedError,
    TokenError,
    UnprocessableEntityError,
    WrongEventLoopError,
)
from ._events import RequestEvent
from ._export import Export, ExportRecord, RawExportRecord
from ._mirror import MirrorError, SyncFailure, SyncReport
from ._operations import ApiResponse
from ._paging import ItemIterator, PageIterator, Paginator
from ._retry import RetryPolicy
from ._session import Session
from ._version import __version__
from .models import (
    AnalysisQueryParameters,
    Problem,
    StatusV3,
    StatusV4,
    WorkflowSessionAnalysisPagedListV4,
    WorkflowSessionAnalysisV4,
    WorkflowSessionConfiguration,
    WorkflowSessionConfigurationList,
    WorkflowSessionInput,
    WorkflowSessionInputList,
    WorkflowSessionPagedListV3,
    WorkflowSessionPagedListV4,
    WorkflowSessionV3,
    WorkflowSessionV4,
    from_dict,
    to_dict,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AnalysisQueryParameters",
    "ApiKeyAuth",
    "ApiResponse",
    "AuthenticationError",
    "BadRequestError",
    "BearerAuth",
    "ConfigurationError",
    "ConflictError",
    "Export",
    "ExportRecord",
    "ICAError",
    "InvalidParameterError",
    "InvalidResponseError",
    "ItemIterator",
    "MirrorError",
    "IteratorFinishedError",
    "NotFoundError",
    "PageIterator",
    "PaginationError",
    "Paginator",
    "PermissionDeniedError",
    "Problem",
    "RateLimitError",
    "RawExportRecord",
    "RequestEvent",
    "RetryPolicy",
    "ServerError",
    "Session",
    "SessionClosedError",
    "StatusV3",
    "StatusV4",
    "SyncFailure",
    "SyncReport",
    "TokenAuth",
    "TokenError",
    "UnprocessableEntityError",
    "WorkflowSessionAnalysisPagedListV4",
    "WorkflowSessionAnalysisV4",
    "WorkflowSessionConfiguration",
    "WorkflowSessionConfigurationList",
    "WorkflowSessionInput",
    "WorkflowSessionInputList",
    "WorkflowSessionPagedListV3",
    "WorkflowSessionPagedListV4",
    "WorkflowSessionV3",
    "WorkflowSessionV4",
    "WrongEventLoopError",
    "__version__",
    "from_dict",
    "to_dict",
]
