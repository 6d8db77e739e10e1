"""Hostile input and hostile responses.

Input: every path, query and body parameter either fails with an ``InvalidParameterError``
naming it before anything is sent, or reaches the server exactly as intended (same endpoint,
same segments, same query values). Responses: huge, nested, mistyped or garbage bodies give
typed errors (or a lenient decode), read a bounded number of bytes, and never hang.
"""

from __future__ import annotations

import base64
import gc
import gzip
import json
import re
import tracemalloc
import warnings
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes
from uuid import UUID

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import aioica
from tests.support.jwt import make_jwt
from tests.support.mock_ica import FUZZ, KEY, Chunks, ok, open_session
from tests.support.payloads import SID

HOST = "ica.example.org"
PREFIX = ["", "ica", "rest", "api", "projects"]
MIB = 1024 * 1024


def segments(request: httpx.Request) -> list[str]:
    """The path as the server decodes it: split the raw path on '/', then percent-decode."""
    raw_path = request.url.raw_path.split(b"?", 1)[0]
    return [unquote_to_bytes(part).decode("utf-8") for part in raw_path.split(b"/")]


def query_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    """The query as the server decodes it; checked to mean the same with '+' read as space."""
    raw = request.url.query
    assert b" " not in raw and b"+" not in raw  # '+' would be ambiguous between servers
    pairs = []
    for part in raw.split(b"&") if raw else []:
        name, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(name).decode(), unquote_to_bytes(value).decode()))
    assert pairs == parse_qsl(raw.decode("ascii"), keep_blank_values=True)
    return pairs


def assert_well_formed(request: httpx.Request) -> None:
    assert request.url.host == HOST
    assert request.url.raw_path.isascii()
    assert request.url.fragment == ""


# -- hostile path parameters ------------------------------------------------------------------

NASTY = [
    "/",
    ".",
    "..",
    "../",
    "?",
    "#",
    "%",
    " ",
    "\x00",
    "\t",
    "\n",
    "\r\n",
    "\x7f",
    "\x85",
    "\u2028",
    "\u202e",
    "\ufeff",
    "é",
    "\U0001f4a5",
    "&",
    "=",
    "+",
    ";",
    ":",
    "@",
    "\\",
    "%2e",
    "%2E%2E",
    "%2F",
    "%00",
    "..%2f",
    "\u3000",
]

hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=4), min_size=1, max_size=8).map("".join),
    st.text(),
    # Long values (up to 10 KB), built cheaply instead of drawn character by character.
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["a", "/", "..", "%", "é", "?#"]),
        st.integers(500, 10_240),
    ),
)

Op = Callable[[aioica.Session, Any, Any], Awaitable[Any]]


async def _export(ica: aioica.Session, pid: Any, sid: Any) -> None:
    async with ica.export_workflow_sessions(pid) as export:
        async for _ in export:
            pass


async def _await(value: Awaitable[Any]) -> Any:
    return await value


# op name -> (call, takes a session id, expected path tail (project, session))
OPS: dict[str, tuple[Op, bool, Callable[[str, str], list[str]]]] = {
    "get_workflow_sessions": (
        lambda ica, p, s: _await(ica.get_workflow_sessions(p)),
        False,
        lambda p, s: [p, "workflowSessions"],
    ),
    "search_workflow_sessions": (
        lambda ica, p, s: _await(ica.search_workflow_sessions(p)),
        False,
        lambda p, s: [p, "workflowSessions:search"],
    ),
    "search_workflow_sessions_with_http_info": (
        lambda ica, p, s: ica.search_workflow_sessions_with_http_info(p),
        False,
        lambda p, s: [p, "workflowSessions:search"],
    ),
    "export_workflow_sessions": (
        _export,
        False,
        lambda p, s: [p, "workflowSessions:search"],
    ),
    "get_workflow_session_inputs": (
        lambda ica, p, s: ica.get_workflow_session_inputs(p, s),
        True,
        lambda p, s: [p, "workflowSessions", s, "inputs"],
    ),
    "get_workflow_session_configurations": (
        lambda ica, p, s: ica.get_workflow_session_configurations(p, s),
        True,
        lambda p, s: [p, "workflowSessions", s, "configurations"],
    ),
    "get_workflow_session_inputs_with_http_info": (
        lambda ica, p, s: ica.get_workflow_session_inputs_with_http_info(p, s),
        True,
        lambda p, s: [p, "workflowSessions", s, "inputs"],
    ),
    "search_orchestrated_analyses": (
        lambda ica, p, s: _await(ica.search_orchestrated_analyses(p, s)),
        True,
        lambda p, s: [p, "workflowSessions", str(UUID(s.strip())), "analyses:search"],
    ),
}
UUID_OPS = {"search_orchestrated_analyses"}


@st.composite
def hostile_call(draw: st.DrawFn) -> tuple[str, str, str, str]:
    op = draw(st.sampled_from(sorted(OPS)))
    param = "workflow_session_id" if OPS[op][1] and draw(st.booleans()) else "project_id"
    return op, param, draw(hostile_text), "proj-1" if param == "workflow_session_id" else SID


@pytest.mark.anyio
@settings(FUZZ, max_examples=200)
@given(case=hostile_call())
@example(case=("get_workflow_session_inputs", "workflow_session_id", "..", "proj-1"))
@example(case=("get_workflow_session_inputs", "project_id", "../../tokens", SID))
@example(case=("get_workflow_session_configurations", "workflow_session_id", "a/../b", "p"))
@example(case=("search_orchestrated_analyses", "workflow_session_id", SID + "/../x", "p"))
@example(case=("get_workflow_sessions", "project_id", "p?status=x#y", SID))
async def test_hostile_path_parameter_is_rejected_or_encoded(
    case: tuple[str, str, str, str],
) -> None:
    op, param, value, other = case
    call, _, tail = OPS[op]
    pid, sid = (value, other) if param == "project_id" else (other, value)
    async with open_session() as (ica, sent):
        error = await rejected(lambda: call(ica, pid, sid))
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert isinstance(error, ValueError)
        assert error.parameter == param
        assert sent == []
        return
    if op in UUID_OPS and param == "workflow_session_id":
        UUID(value.strip())  # only a UUID may pass where the spec wants one
    assert sent, "no request and no error"
    request = sent[0]
    assert_well_formed(request)
    assert segments(request) == PREFIX + tail(pid, sid)


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["", " ", ".", "..", "a\x00b", "a\nb", "\x7f", "x" * 10_240])
@pytest.mark.parametrize("param", ["project_id", "workflow_session_id"])
async def test_ids_that_cannot_be_sent_are_rejected(param: str, value: str) -> None:
    pid, sid = (value, SID) if param == "project_id" else ("p", value)
    async with open_session() as (ica, sent):
        for call in (
            lambda: ica.get_workflow_session_inputs(pid, sid),
            lambda: ica.get_workflow_session_configurations(pid, sid),
            lambda: _await(ica.search_orchestrated_analyses(pid, sid)),
        ):
            with pytest.raises(aioica.InvalidParameterError) as info:
                await call()
            assert info.value.parameter == param
    assert sent == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        SID[:-1],
        SID + "0",
        "../" + SID,
        SID + "/../inputs",
        SID + "?x=1",
        SID + "#",
        SID.replace("-", "/"),
        SID.upper().replace("0", "O"),
        "",
    ],
)
async def test_non_uuid_session_id_is_rejected_where_the_spec_wants_a_uuid(value: str) -> None:
    async with open_session() as (ica, sent):
        with pytest.raises(aioica.InvalidParameterError) as info:
            await ica.search_orchestrated_analyses("p", value)
    assert info.value.parameter == "workflow_session_id"
    assert sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["project_id", "workflow_session_id", "reference", "page_token"])
async def test_unencodable_text_is_an_invalid_parameter(param: str) -> None:
    bad = "a\ud800b"
    async with open_session() as (ica, sent):
        with pytest.raises(aioica.InvalidParameterError) as info:
            if param == "project_id":
                await ica.get_workflow_session_inputs(bad, SID)
            elif param == "workflow_session_id":
                await ica.get_workflow_session_inputs("p", bad)
            elif param == "reference":
                await ica.get_workflow_sessions("p", reference=bad)
            else:
                await ica.search_workflow_sessions("p", page_token=bad)
    assert info.value.parameter == param
    assert sent == []


# -- hostile query values ---------------------------------------------------------------------

FILTERS = ("reference", "userreference", "status", "usertag", "technicaltag")
# Query values stay short enough that five of them fit in one URL; the long case has its own
# test below.
query_text = st.one_of(
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=4), min_size=1, max_size=8).map("".join),
    st.text(max_size=200),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["a", "&", "=", "é"]), st.integers(1, 900)),
    st.sampled_from(["a&b=c", "=", "&", "&&==", "x=1&pageToken=evil", "100%", "a+b", "a b"]),
)


@pytest.mark.anyio
@settings(FUZZ)
@given(
    values=st.fixed_dictionaries({}, optional=dict.fromkeys(FILTERS, query_text)),
    token=st.none() | query_text,
)
@example(values={"reference": "r&pageSize=1", "status": "a=b"}, token="t&sort=evil=1")
async def test_get_filters_and_page_token_round_trip(
    values: dict[str, str], token: str | None
) -> None:
    async with open_session() as (ica, sent):
        error = await rejected(lambda: ica.get_workflow_sessions("p", page_token=token, **values))
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert error.parameter in {*values, "page_token"}
        assert sent == []
        return
    (request,) = sent
    assert_well_formed(request)
    assert segments(request) == [*PREFIX, "p", "workflowSessions"]
    expected = dict(values)
    if token:
        expected["pageToken"] = token
    pairs = query_pairs(request)
    assert len(pairs) == len(expected)
    assert dict(pairs) == expected


@pytest.mark.anyio
@settings(FUZZ)
@given(
    op=st.sampled_from(["search_workflow_sessions", "search_orchestrated_analyses"]),
    token=query_text,
)
async def test_page_token_round_trips_on_post_searches(op: str, token: str) -> None:
    async with open_session() as (ica, sent):
        if op == "search_workflow_sessions":
            error = await rejected(lambda: ica.search_workflow_sessions("p", page_token=token))
        else:
            error = await rejected(
                lambda: ica.search_orchestrated_analyses("p", SID, page_token=token)
            )
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert error.parameter == "page_token"
        assert sent == []
        return
    (request,) = sent
    assert_well_formed(request)
    assert query_pairs(request) == ([("pageToken", token)] if token else [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("unit", "names"),
    [("\U0001f4a5", FILTERS[:1]), ("\u00e9", FILTERS[:2]), ("&", FILTERS)],
    ids=["emoji-1-filter", "accent-2-filters", "ampersand-5-filters"],
)
async def test_10kb_filter_values_are_rejected_or_sent(unit: str, names: tuple[str, ...]) -> None:
    values = dict.fromkeys(names, unit * 10_240)
    async with open_session() as (ica, sent):
        error = await rejected(lambda: ica.get_workflow_sessions("p", **values))
    if error is not None:
        assert error.parameter in names
        assert sent == []
        return
    (request,) = sent
    assert dict(query_pairs(request)) == values


@pytest.mark.anyio
async def test_10kb_ascii_filter_value_is_rejected_or_sent_exactly() -> None:
    values = {"reference": "a" * 10_240, "usertag": "=&" * 5120}
    async with open_session() as (ica, sent):
        error = await rejected(lambda: ica.get_workflow_sessions("p", **values))
    if error is not None:
        assert error.parameter in values
        assert sent == []
    else:
        assert dict(query_pairs(sent[0])) == values


@pytest.mark.anyio
async def test_page_token_longer_than_2000_is_rejected() -> None:
    async with open_session() as (ica, sent):
        await ica.search_workflow_sessions("p", page_token="t" * 2000)
        with pytest.raises(aioica.InvalidParameterError) as info:
            await ica.search_workflow_sessions("p", page_token="t" * 2001)
    assert info.value.parameter == "page_token"
    assert len(sent) == 1


@pytest.mark.anyio
@settings(FUZZ)
@given(token=st.text(min_size=1, max_size=2000) | st.sampled_from(["a&b=c", "%2F..%2F", "+ +"]))
async def test_server_cursor_is_sent_back_exactly(token: str) -> None:
    pages = iter([{"items": [{"id": SID}], "nextPageToken": token}, {"items": []}])
    async with open_session(lambda _: ok(next(pages))) as (ica, sent):
        items = [ws async for ws in ica.search_workflow_sessions("p", raw=True)]
    assert len(items) == 1
    first, second = sent
    assert dict(query_pairs(first)) == {"pageSize": "1000"}
    assert dict(query_pairs(second)) == {"pageSize": "1000", "pageToken": token}
    assert segments(second) == [*PREFIX, "p", "workflowSessions:search"]


BODY_KEYS = {
    "reference": query_text,
    "userReference": query_text,
    "status": st.lists(query_text, max_size=3),
    "userTags": st.lists(query_text, max_size=3),
    "technicalTags": st.lists(query_text, max_size=3),
    "referenceTags": st.lists(query_text, max_size=3),
}
SNAKE = {"userReference": "user_reference"}


@pytest.mark.anyio
@settings(FUZZ)
@given(query=st.fixed_dictionaries({}, optional=BODY_KEYS))
async def test_search_body_round_trips(query: dict[str, Any]) -> None:
    async with open_session() as (ica, sent):
        error = await rejected(
            lambda: ica.search_workflow_sessions("p", analysis_query_parameters=query)
        )
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert error.parameter in {f"analysis_query_parameters.{SNAKE.get(k, k)}" for k in query}
        assert sent == []
        return
    (request,) = sent
    assert json.loads(request.content) == query
    assert request.url.query == b""


# -- absurd page sizes, offsets and sorts -----------------------------------------------------

# U+001C..U+001F are left out: they have their own test below.
SEPARATORS = "\x1c\x1d\x1e\x1f"
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**40), 10**40),
    st.from_regex(r"[ \t\n\u00a0\u3000]*[0-9]{1,12}[ \t\n]*", fullmatch=True),
    st.text(st.characters(exclude_characters=SEPARATORS), max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["1e3", "0x10", "+5", "-1", "1_000", "", " ", "\uff11\uff10", "1000\n"]),
    st.sampled_from([10**100, -(2**63), 2**63, 1000, 1001, 200_000, 200_001, 0]),
)


def _expected_number(value: Any) -> int | None:
    """The integer ``value`` stands for, when it is an int or a plain numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


@pytest.mark.anyio
@settings(FUZZ)
@given(which=st.sampled_from(["page_size", "page_offset"]), value=numbers)
async def test_absurd_page_size_and_offset(which: str, value: Any) -> None:
    wire, low, high = ("pageSize", 1, 1000) if which == "page_size" else ("pageOffset", 0, 200_000)
    async with open_session() as (ica, sent):
        error = await rejected(lambda: ica.get_workflow_sessions("p", **{which: value}))
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert error.parameter == which
        assert sent == []
        return
    number = _expected_number(value)
    assert number is not None and low <= number <= high, f"{value!r} was accepted"
    (request,) = sent
    sent_value = dict(query_pairs(request))[wire]
    assert re.fullmatch(r"[0-9]+", sent_value)
    assert int(sent_value) == number


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["0\x1f", "5\x1c", "\x1d7", "10\x1e"])
async def test_numbers_with_separator_characters_are_invalid_parameters(value: str) -> None:
    async with open_session() as (ica, sent):
        with pytest.raises(aioica.InvalidParameterError) as info:
            await ica.get_workflow_sessions("p", page_size=value)
    assert info.value.parameter == "page_size"
    assert sent == []


SORT_FIELDS = ["reference", "userReference", "status", "startDate", "endDate", "x", "status;1"]
sorts = st.lists(
    st.tuples(
        st.sampled_from(SORT_FIELDS),
        st.sampled_from(["", " asc", " DESC", " sideways", " desc&x=1"]),
        st.sampled_from(["", " ", "  ", "=", "\t"]),
    ).map("".join),
    min_size=1,
    max_size=3,
).map(",".join)


@pytest.mark.anyio
@settings(FUZZ)
@given(sort=query_text | sorts)
async def test_sort_is_rejected_or_sent_exactly(sort: str) -> None:
    async with open_session() as (ica, sent):
        error = await rejected(lambda: ica.get_workflow_sessions("p", sort=sort))
    event("rejected" if error is not None else "sent")
    if error is not None:
        assert error.parameter == "sort"
        assert sent == []
        return
    (request,) = sent
    assert dict(query_pairs(request))["sort"] == sort


# -- hostile ids coming from the server (export builds paths from them) -----------------------


@pytest.mark.anyio
@settings(FUZZ)
@given(sid=hostile_text | st.sampled_from([SID, SID.upper(), "{" + SID + "}"]))
async def test_export_with_hostile_server_ids_stays_on_its_endpoints(sid: str) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("workflowSessions:search"):
            return ok({"items": [{"id": sid}], "nextPageToken": None})
        return ok()

    async with open_session(respond) as (ica, sent):
        try:
            records = [r async for r in ica.export_workflow_sessions("p", raw=True)]
        except aioica.ICAError:
            records = []
    assert len(records) <= 1
    allowed = [[*PREFIX, "p", "workflowSessions:search"]]
    allowed += [
        [*PREFIX, "p", "workflowSessions", sid, tail] for tail in ("inputs", "configurations")
    ]
    try:
        allowed.append(
            [*PREFIX, "p", "workflowSessions", str(UUID(sid.strip())), "analyses:search"]
        )
    except ValueError:
        pass
    event(f"{len(sent)} requests")
    for request in sent:
        assert_well_formed(request)
        assert segments(request) in allowed


# -- hostile responses: size ------------------------------------------------------------------


def repeat(chunk: bytes, count: int | None) -> Iterable[bytes]:
    n = 0
    while count is None or n < count:
        n += 1
        yield chunk


async def rejected(call: Callable[[], Awaitable[Any]]) -> aioica.InvalidParameterError | None:
    """Run ``call`` (validation may fail before anything is awaited); its validation error or
    ``None`` if it went through."""
    try:
        await call()
    except aioica.InvalidParameterError as exc:
        return exc
    return None


async def settle() -> None:
    """Let trio finalise abandoned async generators: each one closes the next on a later tick."""
    gc.collect()
    for _ in range(12):
        await anyio.lowlevel.checkpoint()
    gc.collect()


CHUNK = b"x" * (64 * 1024)
HUGE_CHUNKS = 300 * MIB // len(CHUNK)  # 300 MB


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("status", [200, 500])
async def test_huge_body_is_refused_early(declared: bool, status: int) -> None:
    stream = Chunks(repeat(CHUNK, HUGE_CHUNKS))
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(HUGE_CHUNKS * len(CHUNK))

    async with open_session(
        lambda _: httpx.Response(status, headers=headers, stream=stream),
        max_response_bytes=1_000_000,
    ) as (ica, sent):
        with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
            await ica.get_workflow_session_inputs("p", SID)
    assert len(sent) == 1
    assert stream.served <= (0 if declared else 1_000_000 // len(CHUNK) + 1)
    assert stream.closed


@pytest.mark.anyio
async def test_endless_body_does_not_hang() -> None:
    stream = Chunks(repeat(b"[" * 4096, None))
    async with open_session(
        lambda _: httpx.Response(200, stream=stream), max_response_bytes=64 * 1024
    ) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError):
            await ica.search_workflow_sessions("p")
    assert stream.served <= 17


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_refused_body_leaves_no_half_consumed_generators() -> None:
    stream = Chunks(repeat(CHUNK, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with open_session(
            lambda _: httpx.Response(200, stream=stream), max_response_bytes=100_000
        ) as (ica, _):
            try:
                await ica.get_workflow_session_inputs("p", SID)
            except aioica.InvalidResponseError:
                pass
        await settle()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@cache
def gzip_zeros(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(bytes(MIB)) for _ in range(size // MIB)]
    return b"".join(out) + z.flush()


@pytest.mark.anyio
async def test_gzip_bomb_is_refused() -> None:
    body = gzip_zeros(48 * MIB)
    stream = Chunks(body[i : i + 4096] for i in range(0, len(body), 4096))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with open_session(
        lambda _: httpx.Response(200, headers=headers, stream=stream),
        max_response_bytes=1_000_000,
    ) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
            await ica.get_workflow_session_inputs("p", SID)
    assert stream.served <= 2


@pytest.mark.anyio
async def test_stacked_gzip_bomb_keeps_memory_bounded() -> None:
    body = gzip.compress(gzip_zeros(48 * MIB))  # a few hundred bytes on the wire
    headers = {"Content-Encoding": "gzip, gzip", "Content-Type": "application/json"}
    async with open_session(
        lambda _: httpx.Response(200, headers=headers, stream=Chunks([body])),
        max_response_bytes=1_000_000,
    ) as (ica, _):
        tracemalloc.start()
        try:
            with pytest.raises(aioica.InvalidResponseError):
                await ica.get_workflow_session_inputs("p", SID)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * MIB, f"peak {peak / MIB:.0f} MiB for a 1 MB cap"


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["mint", "401"])
async def test_token_auth_bodies_are_capped(where: str) -> None:
    stream = Chunks(repeat(CHUNK, 512))  # 32 MiB, no Content-Length

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens"):
            if where == "mint":
                return httpx.Response(200, stream=stream)
            return ok({"token": make_jwt()})
        if where == "401" and stream.served == 0:
            return httpx.Response(401, stream=stream)
        return ok()

    async with open_session(respond, auth=aioica.TokenAuth(KEY), max_response_bytes=1_000_000) as (
        ica,
        _,
    ):
        # Failing or going on after a bounded read are both fine; reading it all is not.
        try:
            await ica.get_workflow_session_inputs("p", SID)
        except aioica.ICAError:
            pass
    assert stream.served <= 1_000_000 // len(CHUNK) + 1


# -- hostile responses: shape -----------------------------------------------------------------

NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        b'{"items": ' + NESTED + b"}",
        b'{"items": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}",
    ],
    ids=["array", "in-items", "objects"],
)
async def test_deeply_nested_json_is_an_invalid_response(body: bytes) -> None:
    async with open_session(lambda _: httpx.Response(200, content=body)) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError):
            await ica.search_workflow_sessions("p")
        with pytest.raises(aioica.InvalidResponseError):
            await ica.get_workflow_session_inputs("p", SID)


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["error-body", "token-body", "jwt-payload"])
async def test_deeply_nested_json_elsewhere_is_a_typed_error(where: str) -> None:
    payload = base64.urlsafe_b64encode(NESTED).rstrip(b"=").decode()

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens"):
            if where == "token-body":
                return httpx.Response(200, content=NESTED)
            return ok({"token": f"e30.{payload}.sig"})
        return httpx.Response(500, content=NESTED)

    auth = aioica.ApiKeyAuth(KEY) if where == "error-body" else aioica.TokenAuth(KEY)
    async with open_session(respond, auth=auth) as (ica, _):
        with pytest.raises(aioica.ICAError):
            await ica.get_workflow_session_inputs("p", SID)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("text/html", b"<html>" + b"<div>" * 10_000),
        ("application/octet-stream", bytes(range(256)) * 16),
        ("application/json", b""),
        ("application/json", b"{'items': []}"),
        ("application/json", b'{"items": [1, 2'),
        ("application/json", b"\xff\xfe{}"),
        ("text/plain", b"NaN NaN NaN"),
    ],
)
async def test_non_json_success_is_an_invalid_response(content_type: str, body: bytes) -> None:
    async with open_session(
        lambda _: httpx.Response(200, content=body, headers={"Content-Type": content_type})
    ) as (ica, sent):
        with pytest.raises(aioica.InvalidResponseError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert len(sent) == 1  # not retried
    assert "expected a JSON" in str(info.value)
    assert info.value.response is not None


TOP_LEVEL = [[], [{"id": SID}], "items", 0, 1.5, None, True]


@pytest.mark.anyio
@pytest.mark.parametrize("data", TOP_LEVEL, ids=repr)
async def test_top_level_non_object_is_an_invalid_response(data: Any) -> None:
    async with open_session(lambda _: ok(data)) as (ica, _):
        for call in (
            lambda: _await(ica.search_workflow_sessions("p")),
            lambda: _await(ica.get_workflow_sessions("p")),
            lambda: ica.get_workflow_session_configurations("p", SID),
        ):
            with pytest.raises(aioica.InvalidResponseError, match="JSON object"):
                await call()


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.anyio
@settings(FUZZ, max_examples=50)
@given(items=json_values.filter(lambda v: v is not None and not isinstance(v, list)))
async def test_items_that_are_not_a_list_are_an_invalid_response(items: Any) -> None:
    async with open_session(lambda _: ok({"items": items})) as (ica, _):
        for call in (
            lambda: _await(ica.search_workflow_sessions("p")),
            lambda: _await(ica.search_orchestrated_analyses("p", SID)),
            lambda: ica.get_workflow_session_inputs("p", SID),
        ):
            with pytest.raises(aioica.InvalidResponseError, match="'items'"):
                await call()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "token", ["t" * 2001, "t" * 100_000, 5, ["a"], {"a": 1}, True], ids=lambda t: repr(t)[:12]
)
async def test_bad_next_page_token_is_an_invalid_response(token: Any) -> None:
    async with open_session(lambda _: ok({"items": [], "nextPageToken": token})) as (ica, sent):
        with pytest.raises(aioica.InvalidResponseError, match="nextPageToken"):
            await ica.search_workflow_sessions("p")
        with pytest.raises(aioica.InvalidResponseError, match="nextPageToken"):
            async for _ in ica.get_workflow_sessions("p"):
                pass
    assert len(sent) == 2  # neither followed nor retried


@pytest.mark.anyio
async def test_next_page_token_of_2000_chars_is_followed() -> None:
    pages = iter([{"items": [], "nextPageToken": "t" * 2000}, {"items": []}])
    async with open_session(lambda _: ok(next(pages))) as (ica, sent):
        assert [p async for p in ica.search_workflow_sessions("p").pages()]
    assert dict(query_pairs(sent[1]))["pageToken"] == "t" * 2000


def _garbage_items() -> list[Any]:
    nested = json.loads("[" * 500 + "]" * 500)
    wrong_types = {
        "id": {"x": 1},
        "status": ["IN_PROGRESS"],
        "timeCreated": "yesterday",
        "startDate": 12,
        "owner": "me",
        "tags": "a,b",
        "workflow": [1, 2],
        "analysis": 5,
        "values": "v",
        "multiValue": "yes",
        "analysisData": {"dataId": []},
    }
    kinds: list[Any] = [0, -1, 1.5e308, None, "", "garbage", True, [], [None], {}, nested]
    kinds += [wrong_types, {"id": "x" * 10_000, "status": "NOT_A_STATUS_YET"}]
    return [kinds[i % len(kinds)] for i in range(1000)]


LISTINGS = {"get_workflow_sessions", "search_workflow_sessions"}
PAGED_MODELS = [
    ("get_workflow_sessions", aioica.WorkflowSessionPagedListV3),
    ("search_workflow_sessions", aioica.WorkflowSessionPagedListV4),
    ("search_orchestrated_analyses", aioica.WorkflowSessionAnalysisPagedListV4),
    ("get_workflow_session_inputs", aioica.WorkflowSessionInputList),
    ("get_workflow_session_configurations", aioica.WorkflowSessionConfigurationList),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("op", "model"), PAGED_MODELS, ids=[op for op, _ in PAGED_MODELS])
async def test_page_of_garbage_items_decodes(op: str, model: type[Any]) -> None:
    page = {"items": _garbage_items(), "nextPageToken": None, "totalItemCount": "many"}
    async with open_session(lambda _: ok(page)) as (ica, _):
        call = getattr(ica, op)
        args = ("p",) if op in LISTINGS else ("p", SID)
        result = await call(*args)
        assert isinstance(result, model)
        assert len(result.items) == 1000
        if op in LISTINGS:
            assert len([x async for x in call(*args)]) == 1000


@pytest.mark.anyio
async def test_hostile_error_status_bodies_give_typed_errors() -> None:
    bodies: list[tuple[int, Mapping[str, str], bytes]] = [
        (500, {"Content-Type": "text/html"}, b"<html>" + b"x" * 100_000),
        (502, {}, b""),
        (400, {"Content-Type": "application/problem+json"}, b'{"title": 5, "parameters": [1]}'),
        (404, {"Content-Type": "application/problem+json"}, b'["not", "an", "object"]'),
        (429, {"Retry-After": "soon"}, b"slow down"),
        (401, {"Content-Type": "application/problem+json"}, b'{"detail": null, "status": "x"}'),
    ]
    for status, headers, body in bodies:
        async with open_session(
            lambda _, s=status, h=headers, b=body: httpx.Response(s, headers=h, content=b)
        ) as (ica, _):
            with pytest.raises(aioica.APIStatusError) as info:
                await ica.get_workflow_session_inputs("p", SID)
        assert info.value.status_code == status
        assert len(str(info.value)) < 1000
