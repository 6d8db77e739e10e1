"""The fake ICA's queries: filters, sorts, offset and cursor paging, page bodies."""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ._dataset import Dataset
from ._records import V3_TO_V4, V4_STATUSES, AnalysisRecord, SessionRecord
from ._wire import Problem

__all__ = ["ANALYSIS_SORT", "SESSION_SORT", "SESSION_SORT_V3", "Filter", "Paging", "Queries"]

R = TypeVar("R", SessionRecord, AnalysisRecord)

_NUMBER = re.compile(r"[0-9]{1,9}")
_TOKEN_HEAD = "ica+/"
_TOKEN_SIG = "&sig="
_TOKEN_TAIL = "% ="

SESSION_SORT: dict[str, Callable[[SessionRecord], Any]] = {
    "reference": lambda s: s.reference,
    "userreference": lambda s: s.user_reference,
    "pipeline": lambda s: s.workflow_code,
    "status": lambda s: s.status,
    "startdate": lambda s: s.start_date,
    "enddate": lambda s: s.end_date,
    "workflow": lambda s: s.workflow_code,
}
# The V3 list shows (and so orders by) the V3 spelling of the status.
SESSION_SORT_V3 = {**SESSION_SORT, "status": lambda s: s.status_v3}
ANALYSIS_SORT: dict[str, Callable[[AnalysisRecord], Any]] = {
    "reference": lambda a: a.reference,
    "userreference": lambda a: a.user_reference,
    "pipeline": lambda a: a.pipeline,
    "status": lambda a: a.status,
    "startdate": lambda a: a.start_date,
    "enddate": lambda a: a.end_date,
    "summary": lambda a: a.summary,
}


class Filter:
    """AnalysisQueryParameters / V3 query filters; all given fields must match (AND)."""

    __slots__ = ("key", "reference", "references", "statuses", "technical", "user", "user_ref")

    def __init__(
        self,
        reference: str | None,
        user_ref: str | None,
        statuses: frozenset[str] | None,
        user: frozenset[str],
        technical: frozenset[str],
        references: frozenset[str],
    ) -> None:
        self.reference = reference.lower() if reference else None
        self.user_ref = user_ref.lower() if user_ref else None
        self.statuses = statuses
        self.user = user
        self.technical = technical
        self.references = references
        self.key = repr(
            (
                self.reference,
                self.user_ref,
                sorted(statuses) if statuses is not None else None,
                sorted(user),
                sorted(technical),
                sorted(references),
            )
        )

    def __call__(self, r: SessionRecord | AnalysisRecord) -> bool:
        if self.reference is not None and self.reference not in r.reference.lower():
            return False
        if self.user_ref is not None and self.user_ref not in r.user_reference.lower():
            return False
        if self.statuses is not None and r.status not in self.statuses:
            return False
        if self.user and self.user.isdisjoint(r.user_tags):
            return False
        if self.technical and self.technical.isdisjoint(r.technical_tags):
            return False
        return not (self.references and self.references.isdisjoint(r.reference_tags))


class Paging:
    """How one request pages: size, offset or cursor, sort keys."""

    __slots__ = ("offset", "position", "size", "sort", "token")

    def __init__(
        self, size: int, offset: int | None, token: str | None, sort: list[tuple[str, bool]]
    ) -> None:
        self.size = size
        self.offset = offset
        self.token = token
        self.sort = sort
        self.position = 0


def _sorted_key(value: Any) -> tuple[int, Any]:
    # None sorts after every value ascending and before them descending (as PostgreSQL does).
    return (1, "") if value is None else (0, value)


_NO_FILTER = Filter(None, None, None, frozenset(), frozenset(), frozenset()).key


class Queries:
    """The query side of :class:`~aioica.testing.FakeICA` (a mixin)."""

    dataset: Dataset
    page_size_default: int
    max_page_size: int
    offset_limit: int
    last_page_token: str
    _cursor_secret: bytes
    _selections: collections.OrderedDict[tuple[Any, ...], Sequence[Any]]

    def _body_filter(self, params: Mapping[str, Any]) -> Filter:
        def text(name: str) -> str | None:
            value = params.get(name)
            if value is not None and not isinstance(value, str):
                raise Problem(400, f"{name} must be a string", {name: str(value)[:200]})
            return value

        def strings(name: str) -> list[str]:
            value = params.get(name)
            if value is None:
                return []
            if not isinstance(value, list) or not all(
                v is None or isinstance(v, str) for v in value
            ):
                raise Problem(400, f"{name} must be an array of strings", {name: str(value)[:200]})
            return [v for v in value if v is not None]

        status = strings("status")
        for s in status:
            if s not in V4_STATUSES:
                raise Problem(400, f"Unknown status {s}", {"status": s})
        return Filter(
            text("reference"),
            text("userReference"),
            frozenset(status) if status else None,
            frozenset(strings("userTags")),
            frozenset(strings("technicalTags")),
            frozenset(strings("referenceTags")),
        )

    def _v3_filter(self, query: Mapping[str, str]) -> Filter:
        statuses: set[str] | None = None
        if query.get("status"):
            statuses = set()
            for s in query["status"].split(","):
                s = s.strip()
                if s in V3_TO_V4:
                    statuses |= V3_TO_V4[s]
                elif s in V4_STATUSES:
                    statuses.add(s)
                else:
                    raise Problem(400, f"Unknown status {s}", {"status": s})

        def tags(name: str) -> frozenset[str]:
            return frozenset(t.strip() for t in query.get(name, "").split(",") if t.strip())

        return Filter(
            query.get("reference") or None,
            query.get("userreference") or None,
            frozenset(statuses) if statuses is not None else None,
            tags("usertag"),
            tags("technicaltag"),
            frozenset(),
        )

    def _paging(self, query: Mapping[str, str], fields: Mapping[str, Any]) -> Paging:
        size = self.page_size_default
        raw_size = query.get("pageSize")
        if raw_size:
            if not _NUMBER.fullmatch(raw_size) or not 1 <= int(raw_size) <= self.max_page_size:
                raise Problem(
                    400,
                    f"pageSize must be a number between 1 and {self.max_page_size}",
                    {"pageSize": raw_size[:200]},
                )
            size = int(raw_size)
        token = query.get("pageToken") or None
        raw_offset = query.get("pageOffset") or None
        raw_sort = (query.get("sort") or "").strip() or None
        if token is not None and raw_offset is not None:
            raise Problem(400, "pageToken and pageOffset cannot be combined")
        if token is not None and raw_sort is not None:
            raise Problem(400, "sort is only supported with offset-based paging")
        offset = None
        if raw_offset is not None or raw_sort is not None:
            offset = 0
            if raw_offset is not None:
                if not _NUMBER.fullmatch(raw_offset):
                    raise Problem(
                        400, "pageOffset must be a number", {"pageOffset": raw_offset[:200]}
                    )
                offset = int(raw_offset)
                if offset and offset >= self.offset_limit:
                    raise Problem(
                        400,
                        f"Offset-based paging is limited to {self.offset_limit} rows; "
                        "use cursor-based paging",
                        {"pageOffset": raw_offset},
                    )
        sort: list[tuple[str, bool]] = []
        if raw_sort is not None:
            for part in raw_sort.split(","):
                bits = part.split()
                if not bits or len(bits) > 2 or bits[0].lower() not in fields:
                    raise Problem(400, f"Cannot sort on '{part.strip()}'", {"sort": raw_sort[:200]})
                direction = bits[1].lower() if len(bits) == 2 else "asc"
                if direction not in ("asc", "desc"):
                    raise Problem(
                        400, f"Unknown sort direction {bits[1]}", {"sort": raw_sort[:200]}
                    )
                sort.append((bits[0].lower(), direction == "desc"))
        return Paging(size, offset, token, sort)

    def _select(
        self,
        key: tuple[Any, ...],
        paging: Paging,
        source: Callable[[], Sequence[R]],
        flt: Filter,
        fields: Mapping[str, Callable[[R], Any]],
    ) -> Sequence[R]:
        full_key = (self.dataset.version, *key, tuple(paging.sort))
        cached = self._selections.get(full_key)
        if cached is not None:
            self._selections.move_to_end(full_key)
            return cached
        rows = source()
        if flt.key == _NO_FILTER and not paging.sort:
            return rows  # possibly lazy: not cached, so the full list is never forced
        rows = [r for r in rows if flt(r)]
        if paging.sort:
            for name, desc in reversed(paging.sort):
                getter = fields[name]
                rows.sort(key=lambda r: _sorted_key(getter(r)), reverse=desc)
        self._selections[full_key] = rows
        if len(self._selections) > 32:
            self._selections.popitem(last=False)
        return rows

    def _page(
        self,
        rows: Sequence[R],
        piece: Callable[[R], str],
        paging: Paging,
        key: tuple[Any, ...],
    ) -> bytes:
        total = len(rows)
        fingerprint = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        if paging.offset is not None:
            start = paging.offset
            end = min(start + paging.size, total, self.offset_limit)
            items = ",".join([piece(r) for r in rows[start:end]]) if start < end else ""
            tail = f'],"nextPageToken":"","totalItemCount":{total}}}'
            return ('{"items":[' + items + tail).encode()
        start = 0
        if paging.token is not None:
            start = self._decode_cursor(paging.token, fingerprint, total)
        end = min(start + paging.size, total)
        items = ",".join([piece(r) for r in rows[start:end]]) if start < end else ""
        if end < total:
            token = json.dumps(self._encode_cursor(end, fingerprint))
            tail = f'],"nextPageToken":{token},"remainingRecords":{total - end}}}'
        else:
            form = self.last_page_token
            if form == "rotate":
                form = ("null", "absent", "empty")[
                    zlib.crc32(f"{fingerprint}/{paging.size}".encode()) % 3
                ]
            tail = {
                "null": '],"nextPageToken":null,"remainingRecords":0}',
                "absent": '],"remainingRecords":0}',
                "empty": '],"nextPageToken":"","remainingRecords":0}',
            }[form]
        return ('{"items":[' + items + tail).encode()

    def _encode_cursor(self, position: int, fingerprint: str) -> str:
        raw = f"{position}.{fingerprint}".encode()
        mac = hmac.new(self._cursor_secret, raw, hashlib.sha256).digest()[:12]
        return (
            _TOKEN_HEAD
            + base64.b64encode(raw).decode()
            + _TOKEN_SIG
            + base64.b64encode(mac).decode()
            + _TOKEN_TAIL
        )

    def _decode_cursor(self, token: str, fingerprint: str, total: int) -> int:
        bad = Problem(400, "Invalid pageToken", {"pageToken": token[:200]})
        if not (token.startswith(_TOKEN_HEAD) and token.endswith(_TOKEN_TAIL)):
            raise bad
        body, sep, sig = token[len(_TOKEN_HEAD) : -len(_TOKEN_TAIL)].partition(_TOKEN_SIG)
        try:
            raw = base64.b64decode(body, validate=True)
            mac = base64.b64decode(sig, validate=True)
        except (ValueError, binascii.Error):
            raise bad from None
        expected = hmac.new(self._cursor_secret, raw, hashlib.sha256).digest()[:12]
        if not sep or not hmac.compare_digest(mac, expected):
            raise bad
        position, _, token_fp = raw.decode().partition(".")
        if token_fp != fingerprint:
            raise Problem(400, "pageToken belongs to another query", {"pageToken": token[:200]})
        start = int(position)
        if start > total:
            raise bad
        return start
