"""Validation of operation arguments and their wire encoding.

Everything here runs before a request is built, so bad input fails fast with an
:class:`~aioica.InvalidParameterError` naming the parameter, and nothing is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from uuid import UUID

import attrs

from ._errors import InvalidParameterError
from .models import AnalysisQueryParameters, from_dict, to_dict

__all__ = [
    "MAX_OFFSET_ROWS",
    "MAX_PAGE_SIZE",
    "MAX_TOKEN_LENGTH",
    "PageParams",
    "encode_query_body",
    "path_segment",
    "session_path",
    "session_uuid",
]

MAX_PAGE_SIZE = 1000
MAX_TOKEN_LENGTH = 2000
MAX_QUERY_VALUE = 2048
"""Longest URL-encoded filter value (``reference``, ``usertag``, ...)."""
MAX_OFFSET_ROWS = 200_000
"""ICA serves at most this many rows through offset paging."""
_MAX_ID_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The form str(UUID(...)) gives: such a string is its own canonical form.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

SESSION_SORT_FIELDS = frozenset(
    {"reference", "userReference", "pipeline", "status", "startDate", "endDate", "workflow"}
)
ANALYSIS_SORT_FIELDS = frozenset(
    {"reference", "userReference", "pipeline", "status", "startDate", "endDate", "summary"}
)


_SEGMENTS: dict[str, str] = {}
# Ids that passed the checks, with their encoded form: a project id is on every request and a
# session id on three or more, so most calls find theirs here. Bounded by clearing.
_SEGMENTS_MAX = 1024


def path_segment(name: str, value: object) -> str:
    """Percent-encode one path parameter so that no value can change the path.

    ``.`` and ``..`` survive percent-encoding and are then collapsed by URL normalisation, which
    would send the request to another endpoint; they are rejected, as are empty values, control
    characters and absurd lengths.
    """
    if value.__class__ is str:
        known = _SEGMENTS.get(value)
        if known is not None:
            return known
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise InvalidParameterError(name, f"must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise InvalidParameterError(name, "must not be empty")
    if value in (".", ".."):
        raise InvalidParameterError(name, f"{value!r} is not a valid id")
    if len(value) > _MAX_ID_LENGTH:
        raise InvalidParameterError(name, f"is {len(value)} characters long (max {_MAX_ID_LENGTH})")
    if _CONTROL.search(value):
        raise InvalidParameterError(name, "must not contain control characters")
    _encodable(name, value)
    encoded = quote(value, safe="")
    if value.__class__ is str:
        if len(_SEGMENTS) >= _SEGMENTS_MAX:
            _SEGMENTS.clear()
        _SEGMENTS[value] = encoded
    return encoded


def _encodable(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError(name, "is not valid Unicode (a lone surrogate)") from None


def session_uuid(name: str, value: object) -> str:
    """A path parameter the spec declares ``format: uuid``."""
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise InvalidParameterError(name, f"must be a UUID, got {type(value).__name__}")
    if value.__class__ is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(UUID(value.strip()))
    except ValueError:
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidParameterError(name, f"must be a UUID, got {shown!r}") from None


def session_path(
    project_id: object, workflow_session_id: object, tail: str, *, uuid: bool = False
) -> str:
    """The validated, encoded path of a per-session endpoint (``inputs``, ``analyses:search``...).

    ``uuid=True`` where the spec declares the session id ``format: uuid``.
    """
    project = path_segment("project_id", project_id)
    session = (
        session_uuid("workflow_session_id", workflow_session_id)
        if uuid
        else path_segment("workflow_session_id", workflow_session_id)
    )
    return f"/api/projects/{project}/workflowSessions/{session}/{tail}"


def _number(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise InvalidParameterError(name, "must be an integer, got a bool")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*([0-9]{1,9})\s*", value, re.ASCII)):
        number = int(m.group(1))
    else:
        shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
        raise InvalidParameterError(name, f"must be an integer or a numeric string, got {shown}")
    if not low <= number <= high:
        raise InvalidParameterError(name, f"must be between {low} and {high}, got {number}")
    return number


def _optional_str(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterError(name, f"must be a string, got {type(value).__name__}")
    if _CONTROL.search(value):
        raise InvalidParameterError(name, "must not contain control characters")
    _encodable(name, value)
    return value


_SORT_PART = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)(?:\s+(asc|desc|ASC|DESC))?\s*")


def _sort(value: object, fields: frozenset[str]) -> str | None:
    text = _optional_str("sort", value)
    if text is None:
        return None
    parts = text.split(",")
    for part in parts:
        m = _SORT_PART.fullmatch(part)
        if m is None:
            raise InvalidParameterError(
                "sort", f"expected 'field [asc|desc]' separated by commas, got {part.strip()!r}"
            )
        if m.group(1) not in fields:
            raise InvalidParameterError(
                "sort", f"cannot sort on {m.group(1)!r}; sortable: {', '.join(sorted(fields))}"
            )
    return text


@attrs.frozen
class PageParams:
    """The validated paging arguments of one call (values as the wire wants them)."""

    page_size: int | None = None
    page_offset: int | None = None
    page_token: str | None = None
    sort: str | None = None

    @classmethod
    def build(
        cls,
        *,
        page_size: object,
        page_offset: object,
        page_token: object,
        sort: object,
        sort_fields: frozenset[str],
    ) -> PageParams:
        """Validate libica's paging keywords (ints or numeric strings accepted)."""
        size = None if page_size is None else _number("page_size", page_size, 1, MAX_PAGE_SIZE)
        offset = (
            None if page_offset is None else _number("page_offset", page_offset, 0, MAX_OFFSET_ROWS)
        )
        token = _optional_str("page_token", page_token)
        if token is not None and len(token) > MAX_TOKEN_LENGTH:
            raise InvalidParameterError(
                "page_token", f"is {len(token)} characters long (max {MAX_TOKEN_LENGTH})"
            )
        if token == "":
            token = None
        if token is not None and offset is not None:
            raise InvalidParameterError(
                "page_token", "cannot be combined with page_offset (cursor vs offset paging)"
            )
        sort_text = _sort(sort, sort_fields)
        if sort_text is not None and token is not None:
            raise InvalidParameterError(
                "sort", "is only allowed with offset paging, not together with page_token"
            )
        return cls(page_size=size, page_offset=offset, page_token=token, sort=sort_text)

    @property
    def offset_mode(self) -> bool:
        """Offset paging: a sort or an offset was asked for."""
        return self.sort is not None or self.page_offset is not None

    def query(self) -> list[tuple[str, str]]:
        """The paging query parameters, wire names, string values."""
        out: list[tuple[str, str]] = []
        if self.page_offset is not None:
            out.append(("pageOffset", str(self.page_offset)))
        if self.page_token is not None:
            out.append(("pageToken", self.page_token))
        if self.page_size is not None:
            out.append(("pageSize", str(self.page_size)))
        if self.sort is not None:
            out.append(("sort", self.sort))
        return out


def filters(**values: object) -> list[tuple[str, str]]:
    """The GET filters (reference, userreference, ...), validated, in wire form."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        text = _optional_str(name, value)
        if text is not None:
            size = len(quote(text, safe=""))
            if size > MAX_QUERY_VALUE:
                # Five such values, a cursor and the path stay far below httpx's URL limit.
                raise InvalidParameterError(
                    name, f"is {size} characters once URL-encoded (max {MAX_QUERY_VALUE})"
                )
            out.append((name, text))
    return out


def _string_list(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            f"analysis_query_parameters.{name}",
            f"must be a list of strings, got {type(value).__name__}",
        )
    for item in value:
        if not isinstance(item, str):
            raise InvalidParameterError(
                f"analysis_query_parameters.{name}",
                f"must be a list of strings, found {type(item).__name__}",
            )


def encode_query_body(value: object) -> dict[str, Any]:
    """Validate ``analysis_query_parameters`` and give its wire-shaped JSON object."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = set(value) - {
            "reference",
            "userReference",
            "status",
            "userTags",
            "technicalTags",
            "referenceTags",
        }
        if unknown:
            raise InvalidParameterError(
                "analysis_query_parameters", f"unknown keys {sorted(unknown)!r}"
            )
        value = from_dict(dict(value), AnalysisQueryParameters)
        assert isinstance(value, AnalysisQueryParameters)
        if value.extra:
            raise InvalidParameterError(
                "analysis_query_parameters", f"invalid values for {sorted(value.extra)!r}"
            )
    if not isinstance(value, AnalysisQueryParameters):
        raise InvalidParameterError(
            "analysis_query_parameters",
            f"must be an AnalysisQueryParameters or a dict, got {type(value).__name__}",
        )
    for name in ("reference", "user_reference"):
        _optional_str(f"analysis_query_parameters.{name}", getattr(value, name))
    for name in ("status", "user_tags", "technical_tags", "reference_tags"):
        _string_list(name, getattr(value, name))
    return to_dict(value)
