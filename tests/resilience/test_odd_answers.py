"""Odd answers are typed errors: cursors, ids and items that cannot be used, bounded inflate,
short and inert error messages.

Transport-independent, so driven through a mock transport; ``test_hostile_server.py`` covers
what depends on the wire (bombs, lengths, deadlines, redirects) on every transport.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import aioica
from tests.support.mock_ica import FUZZ, Chunks, ok, open_session
from tests.support.payloads import SID


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["\ud800", "ok\udfffok", "a" * 100 + "\udbff"])
async def test_cursor_that_cannot_be_sent_back_is_an_invalid_response(token: str) -> None:
    pages = iter([{"items": [{"id": SID}], "nextPageToken": token}, {"items": []}])
    async with open_session(lambda _: ok(next(pages))) as (ica, sent):
        with pytest.raises(aioica.InvalidResponseError, match="nextPageToken"):
            await ica.search_workflow_sessions("p", raw=True).collect()
    assert len(sent) == 1


SORTED_OPS = {
    "sessions": lambda ica, **kw: ica.search_workflow_sessions("p", sort="reference", **kw),
    "analyses": lambda ica, **kw: ica.search_orchestrated_analyses(
        "p", SID, sort="reference", **kw
    ),
}
BAD_IDS = [["x"], {"a": 1}, 5, 1.5, True]


@pytest.mark.anyio
@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("op", sorted(SORTED_OPS))
async def test_unusable_ids_in_offset_deduplication_are_invalid_responses(
    op: str, bad: Any
) -> None:
    item = {"analysis": {"id": bad}} if op == "analyses" else {"id": bad}
    page = {"items": [{"id": "fine"}, item], "totalItemCount": 2}
    async with open_session(lambda _: ok(page)) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError, match="not a string") as info:
            await SORTED_OPS[op](ica, raw=True).collect()
    assert not isinstance(info.value, aioica.InvalidParameterError)


@pytest.mark.anyio
async def test_offset_deduplication_keeps_ids_of_5_and_5_apart_only_as_strings() -> None:
    # A numeric id used to collide with its string form ("5"), silently dropping a row.
    page = {"items": [{"id": "5"}, {"id": 5}], "totalItemCount": 2}
    async with open_session(lambda _: ok(page)) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError):
            await ica.search_workflow_sessions("p", sort="reference", raw=True).collect()


@pytest.mark.anyio
async def test_offset_deduplication_does_not_merge_analyses_without_ids() -> None:
    page = {"items": [{"analysis": {}}, {"analysis": {"id": None}}, {}], "totalItemCount": 3}
    async with open_session(lambda _: ok(page)) as (ica, _):
        models = await SORTED_OPS["analyses"](ica).collect()
        raw = await SORTED_OPS["analyses"](ica, raw=True).collect()
    assert len(models) == 3
    assert len(raw) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    "item", [None, 5, "text", ["a"], {"id": 7}, {"id": ["x"]}, {"id": {"a": 1}}], ids=repr
)
@pytest.mark.parametrize("mode", ["cursor", "offset"])
async def test_raw_items_that_are_not_objects_with_string_ids_are_invalid(
    item: Any, mode: str
) -> None:
    page = {"items": [{"id": "fine"}, item], "nextPageToken": None, "totalItemCount": 2}
    kwargs = {"sort": "reference"} if mode == "offset" else {}
    async with open_session(lambda _: ok(page)) as (ica, _):
        with pytest.raises(aioica.InvalidResponseError, match="the server sent"):
            async for _ in ica.search_workflow_sessions("p", raw=True, **kwargs):
                pass
        # Models stay lenient: a broken item decodes to an empty model, never an exception.
        assert len(await ica.search_workflow_sessions("p", **kwargs).collect()) == 2


@pytest.mark.anyio
async def test_raw_items_with_string_or_missing_ids_pass() -> None:
    page = {"items": [{"id": "a"}, {"id": None}, {}], "nextPageToken": ""}
    async with open_session(lambda _: ok(page)) as (ica, _):
        items = [ws async for ws in ica.search_workflow_sessions("p", raw=True)]
    assert items == page["items"]


@pytest.mark.anyio
@pytest.mark.parametrize("piece", [7, 4096, None], ids=["7-bytes", "4k", "one-chunk"])
@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
async def test_bounded_inflate_decodes_exactly(
    encoding: str, extra: int, piece: int | None
) -> None:
    from aioica._body import DECODE_STEP

    # Highly compressible JSON whose decoded size sits on a step boundary: the steps must
    # drain output zlib still holds after all input was consumed.
    body = b'{"items": [], "pad": "' + b"ab" * (DECODE_STEP // 2)
    body += b"c" * (3 * DECODE_STEP + extra - len(body) - 2) + b'"}'
    assert len(body) == 3 * DECODE_STEP + extra
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[encoding]
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    wire = z.compress(body) + z.flush()
    size = piece or len(wire)
    stream = Chunks(wire[i : i + size] for i in range(0, len(wire), size))
    header = "deflate" if encoding == "deflate-raw" else encoding
    async with open_session(
        lambda _: httpx.Response(200, headers={"Content-Encoding": header}, stream=stream)
    ) as (ica, _):
        result = await ica.get_workflow_session_inputs_with_http_info("p", SID)
    assert result.http_response.content == body


UNSAFE_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
problem_text = st.text(max_size=50) | st.builds(
    lambda c, n: c * n, st.characters(), st.integers(0, 20_000)
)


@pytest.mark.anyio
@settings(FUZZ, max_examples=60)
@given(
    status=st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 502, 503]),
    problem=st.fixed_dictionaries(
        {},
        optional={
            "title": problem_text,
            "detail": problem_text,
            "type": problem_text,
            "instance": problem_text,
            "parameters": st.dictionaries(problem_text, problem_text, max_size=3),
            "id": problem_text,
        },
    ),
    as_json=st.booleans(),
)
@example(status=400, problem={"title": "\ud800", "detail": "a\udfffb"}, as_json=True)
@example(status=400, problem={"title": "\ud800"}, as_json=False)
async def test_any_error_body_gives_a_short_inert_message(
    status: int, problem: dict[str, Any], as_json: bool
) -> None:
    # A lone surrogate in a text body becomes bytes that are not UTF-8, as a broken server sends.
    text = "".join(map(str, problem.values()))
    body = json.dumps(problem).encode() if as_json else text.encode("utf-8", "surrogatepass")
    headers = {"Content-Type": "application/problem+json" if as_json else "text/html"}
    async with open_session(lambda _: httpx.Response(status, headers=headers, content=body)) as (
        ica,
        _,
    ):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    message = str(info.value)
    assert len(message) <= 4100
    assert UNSAFE_CHARS.search(message) is None
    message.encode("utf-8")  # writable to a UTF-8 log or terminal
