"""Pages decoded with their items' wire text (the mirror's decoding): the values are exactly
what ``json.loads`` gives, every object item knows the text it came from, and anything odd is
``json.loads``'s business, errors included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioica._wiretext import MAX_ITEMS, WireObject, loads_page, wire_text

KEEP = frozenset({"analysis"})


def _texts_agree(page: Any, body: bytes) -> None:
    """Every object item's wire text decodes to the item itself and is a slice of the body."""
    text = body.decode()
    for item in page.get("items") or ():
        if isinstance(item, dict):
            assert type(item) is WireObject
            assert json.loads(item.wire) == item
            assert item.wire in text


@pytest.mark.parametrize(
    "body",
    [
        b'{"items":[{"id":"a","n":1},{"id":"b","nested":{"x":[1,2,{"y":null}]}}],"next":"t"}',
        b' {\n  "items" : [ {"id" : "a"} ,\n\t{ "id":"b" } ] ,"totalItemCount": 2 }\n',
        b'{"items":[]}',
        b'{"items":[ ]}',
        b"{}",
        b'{"other":1}',
        b'{"items":[1,"two",null,[3],{"id":"x"},true]}',
        b'{"items":[{"id":"dup"}],"items":[{"id":"last wins"}]}',
        b'{"items":[{"s":"\\u00e9\\ud83d\\ude00 \\"q\\" \\\\"}]}',
        '{"items":[{"s":"é 😀 ∑"}]}'.encode(),
        b'{"items":[{"n":123456789012345678901234567890,"f":1.5e300,"z":-0}]}',
        b'{"items":[{"n":NaN,"i":Infinity}]}',
        b'{"items":{"not":"a list"}}',
        b'{"items":[{"analysis":{"id":"a1"},"project":{"id":"p"}},{"analysis":null}]}',
    ],
)
def test_values_are_json_loads_values(body: bytes) -> None:
    page = loads_page(body, KEEP)
    assert page == json.loads(body)
    _texts_agree(page, body)


def test_items_keep_their_exact_text_whitespace_included() -> None:
    body = b'{"items": [ {"id": "a",  "x": [1, 2]},\n {"id":"b"} ]}'
    items = loads_page(body)["items"]
    assert [wire_text(i) for i in items] == ['{"id": "a",  "x": [1, 2]}', '{"id":"b"}']


def test_a_kept_member_first_in_its_item_keeps_its_text() -> None:
    body = b'{"items":[{"analysis": {"id":"a1", "p":{"c":1}} ,"project":{"id":"p"}}]}'
    (item,) = loads_page(body, KEEP)["items"]
    assert item.wire == '{"analysis": {"id":"a1", "p":{"c":1}} ,"project":{"id":"p"}}'
    assert wire_text(item["analysis"]) == '{"id":"a1", "p":{"c":1}}'
    assert wire_text(item["project"]) is None  # not asked for: a plain dict
    assert type(item["project"]) is dict


def test_a_kept_member_listed_later_is_a_plain_dict() -> None:
    # The walk happens only for items that start with a kept member; others are scanned whole
    # (their values are right either way, only the nested text is unknown).
    (item,) = loads_page(b'{"items":[{"project":{},"analysis":{"id":"a"}}]}', KEEP)["items"]
    assert wire_text(item) == '{"project":{},"analysis":{"id":"a"}}'
    assert wire_text(item["analysis"]) is None
    assert item["analysis"] == {"id": "a"}


def test_without_keep_nested_objects_stay_plain() -> None:
    (item,) = loads_page(b'{"items":[{"analysis":{"id":"a"}}]}')["items"]
    assert wire_text(item) is not None
    assert wire_text(item["analysis"]) is None


def test_plain_values_have_no_wire_text() -> None:
    assert wire_text({"id": "a"}) is None
    assert wire_text("text") is None
    assert wire_text(None) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b'{"items":[{"id":"a"}]} trailing',
        b'{"items":[{"id":"a"},]}',
        b'{"items":[{"id":"a"}}',
        b'{"items":[{"id":"a"}',
        b'{"items" [1]}',
        b"{'items': []}",
        b'{"a":1,}',
        b'{"items":["\x01"]}',  # a raw control character: json's strict mode refuses it
        b"\xff\xfe{",
    ],
)
def test_bodies_json_refuses_are_refused_the_same_way(body: bytes) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(body)
    with pytest.raises(type(expected.value)):
        loads_page(body, KEEP)


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"items":[{"id":"a"}]}',  # a UTF-8 byte order mark
        '{"items":[{"id":"a"}]}'.encode("utf-16"),
        b'{"items":[{"s":"\xed\xa0\x80"}]}',  # an encoded surrogate: json.loads lets it pass
        b"[1, 2]",  # JSON, but no object: the caller refuses it as it refuses json.loads's
        b'"items"',
    ],
)
def test_bodies_only_json_loads_reads_are_left_to_it(body: bytes) -> None:
    page = loads_page(body, KEEP)
    assert page == json.loads(body)
    if isinstance(page, dict):
        assert all(wire_text(i) is None for i in page["items"])


def test_a_page_of_absurdly_many_items_is_left_to_json_loads() -> None:
    body = ('{"items":[' + ",".join(["{}"] * (MAX_ITEMS + 1)) + "]}").encode()
    page = loads_page(body, KEEP)
    assert page == json.loads(body)
    assert all(type(i) is dict for i in page["items"])
    at_most = ('{"items":[' + ",".join(["{}"] * MAX_ITEMS) + "]}").encode()
    assert all(type(i) is WireObject for i in loads_page(at_most)["items"])


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_scalars |= st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
_pages = st.fixed_dictionaries(
    {
        "items": st.lists(
            st.dictionaries(st.text(max_size=6), _json, max_size=5) | _json, max_size=6
        )
    },
    optional={"nextPageToken": st.text(max_size=10), "totalItemCount": st.integers(0, 10**6)},
)


def _spaced(value: Any, gaps: Any) -> str:
    """``value`` as JSON with arbitrary JSON whitespace between tokens."""
    if isinstance(value, dict):
        members = [
            f"{gaps()}{json.dumps(k)}{gaps()}:{gaps()}{_spaced(v, gaps)}{gaps()}"
            for k, v in value.items()
        ]
        return "{" + ",".join(members) + gaps() + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{gaps()}{_spaced(v, gaps)}{gaps()}" for v in value) + gaps() + "]"
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(page=_pages, data=st.data(), escaped=st.booleans())
def test_any_page_in_any_layout(page: dict[str, Any], data: st.DataObject, escaped: bool) -> None:
    if escaped:  # compact, every non-ASCII character a \u escape
        body = json.dumps(page, separators=(",", ":")).encode()
    else:
        whitespace = st.text(alphabet=" \t\n\r", max_size=3)
        body = _spaced(page, lambda: data.draw(whitespace)).encode()
    decoded = loads_page(body, KEEP)
    assert decoded == json.loads(body)
    _texts_agree(decoded, body)
