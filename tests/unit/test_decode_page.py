"""Big pages decode in slices: the same models as ``from_dict``, other tasks run in between."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import aioica
from aioica._decode import SLICE, decode_page
from tests.support.payloads import analysis, session_v4


def sessions(n: int) -> dict[str, Any]:
    items: list[Any] = [session_v4(str(uuid.UUID(int=i + 1, version=4))) for i in range(n)]
    items[min(3, n - 1)] = "odd item"
    if n > 4:
        items[n - 1] = {**items[n - 1], "timeCreated": "not a date", "surprise": 1}
    return {"items": items, "nextPageToken": "t", "remainingRecords": 3, "unknownKey": [1]}


@pytest.mark.anyio
@pytest.mark.parametrize("n", [1, SLICE, SLICE + 1, 5 * SLICE + 7])
async def test_same_result_as_from_dict(n: int) -> None:
    data = sessions(n)
    before = copy.deepcopy(data)
    page = await decode_page(data, aioica.WorkflowSessionPagedListV4)
    assert page == aioica.from_dict(before, aioica.WorkflowSessionPagedListV4)
    assert aioica.to_dict(page) == aioica.to_dict(
        aioica.from_dict(before, aioica.WorkflowSessionPagedListV4)
    )
    assert page.extra == {"unknownKey": [1]}
    assert data == before  # the parsed JSON is not modified

    analyses = {"items": [analysis(str(uuid.uuid4())) for _ in range(n)]}
    decoded = await decode_page(analyses, aioica.WorkflowSessionAnalysisPagedListV4)
    assert decoded == aioica.from_dict(analyses, aioica.WorkflowSessionAnalysisPagedListV4)


@pytest.mark.anyio
async def test_odd_pages_decode_as_from_dict_does() -> None:
    for data in ({"items": "not a list"}, {"items": None}, {}, {"items": [None] * (SLICE * 2)}):
        expected = aioica.from_dict(copy.deepcopy(data), aioica.WorkflowSessionPagedListV4)
        assert await decode_page(data, aioica.WorkflowSessionPagedListV4) == expected


@pytest.mark.anyio
async def test_other_tasks_run_while_a_big_page_decodes() -> None:
    ticks: list[int] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(len(ticks))
            await anyio.lowlevel.checkpoint()

    data = sessions(10 * SLICE)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()
        start = len(ticks)
        await decode_page(data, aioica.WorkflowSessionPagedListV4)
        during = len(ticks) - start
        done.set()
    # One slice per checkpoint: the ticker ran between slices, not only after the page.
    assert during >= 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06T07:08:09Z", "2024-05-06T07:08:09+00:00"),
        ("2024-05-06T07:08:09.123456789Z", "2024-05-06T07:08:09.123456+00:00"),
        ("2024-05-06T07:08Z", "2024-05-06T07:08:00+00:00"),
        # fromisoformat refuses this one; the lenient parser, reached via the slow path, does not.
        (" 2024-05-06T07:08:09Z", "2024-05-06T07:08:09+00:00"),
        ("2024-05-06T07:08:09+02:00", "2024-05-06T07:08:09+02:00"),
        ("2024-05-06T07:08:09", "2024-05-06T07:08:09+00:00"),
    ],
)
def test_timestamps_decode_inline_or_leniently(text: str, expected: str) -> None:
    item = {**session_v4(str(uuid.UUID(int=7, version=4))), "timeCreated": text}
    decoded = aioica.from_dict(item, aioica.models.WorkflowSessionV4)
    assert decoded.time_created is not None
    assert decoded.time_created.isoformat() == expected
    assert "timeCreated" not in (decoded.extra or {})


def test_a_timestamp_nobody_can_parse_is_kept_raw() -> None:
    item = {**session_v4(str(uuid.UUID(int=7, version=4))), "timeCreated": "2024-13-01T00:00:00Z"}
    decoded = aioica.from_dict(item, aioica.models.WorkflowSessionV4)
    assert decoded.time_created is None
    assert decoded.extra["timeCreated"] == "2024-13-01T00:00:00Z"
    assert decoded.id == uuid.UUID(int=7, version=4)


def test_extra_keys_are_found_whatever_is_missing_or_null() -> None:
    import itertools

    from aioica import models
    from aioica.models._schemas import WIRE_NAMES

    # Region: strings, ids, dates and a nested model. Every mix of present, absent and null
    # known keys, with and without unknown keys: exactly the unknown keys land in `extra`.
    full = {
        "id": "66666666-7777-4888-9999-000000000000",
        "timeCreated": "2024-01-01T00:00:00Z",
        "code": "US",
        "cityName": "Portland",
        "country": {"id": "66666666-7777-4888-9999-000000000000", "code": "US", "x": 1},
    }
    assert set(full) <= set(WIRE_NAMES[models.Region].values())
    names = list(full)
    for states in itertools.product(("value", "absent", "null"), repeat=len(names)):
        for unknown in ({}, {"surprise": [1]}, {"a": None, "b": 2}):
            data: dict[str, Any] = {}
            for name, state in zip(names, states, strict=True):
                if state != "absent":
                    data[name] = full[name] if state == "value" else None
            data.update(unknown)
            region = aioica.from_dict(data, models.Region)
            assert dict(region.extra) == unknown, (states, unknown)
            assert region.code == ("US" if data.get("code") else None)
            if data.get("country"):
                assert region.country is not None and dict(region.country.extra) == {"x": 1}
    assert aioica.from_dict({}, models.Region).extra == {}
    tags = aioica.from_dict({"technicalTags": [], "userTags": ["a"]}, models.WorkflowSessionTag)
    assert tags.technical_tags == [] and tags.user_tags == ["a"] and tags.extra == {}
    odd = aioica.from_dict({"technicalTags": "a"}, models.WorkflowSessionTag)
    assert odd.technical_tags is None and odd.extra == {"technicalTags": "a"}  # kept, raw


# Values of every kind a server could put where a field's value belongs: the right type, and
# every way of being wrong the decoders tell apart (None, numbers where text belongs, text
# where a list belongs, non-text inside a list of text, ids and timestamps in odd forms).
ODD_VALUES: list[Any] = [
    None,
    "text",
    "",
    7,
    2.5,
    True,
    [],
    ["a", "b"],
    ["a", 3],
    ["a", None],
    [None],
    {},
    {"id": "66666666-7777-4888-9999-000000000000"},
    "66666666-7777-4888-9999-000000000000",
    "66666666-7777-4888-9999-00000000000G",
    "{66666666-7777-4888-9999-000000000000}",
    "2024-05-06T07:08:09Z",
    "2024-05-06T07:08:09+02:00",
]


def test_the_generated_decoders_agree_with_the_field_by_field_path() -> None:
    import functools
    import typing

    from aioica.models._converter import _DECODERS, _slow_path
    from aioica.models._schemas import ALL_MODELS, WIRE_NAMES

    for cls in ALL_MODELS:
        known = frozenset(WIRE_NAMES[cls].values())
        slow = functools.partial(_slow_path, cls, known, typing.get_type_hints(cls))
        for name in WIRE_NAMES[cls].values():
            for value in ODD_VALUES:
                data = {name: value, "surprise": 1}
                fast, reference = _DECODERS[cls](copy.deepcopy(data)), slow(copy.deepcopy(data))
                assert fast == reference, (cls.__name__, name, value)
                assert dict(fast.extra) == dict(reference.extra), (cls.__name__, name, value)


@pytest.mark.parametrize(
    "text",
    [
        "66666666-7777-4888-9999-000000000000",
        "ABCDEF01-2345-6789-ABCD-EF0123456789",
        "0x666666-7777-4888-9999-000000000000",
        "{66666666-7777-4888-9999-000000000000}",
        "urn:uuid:66666666-7777-4888-9999-000000000000",
        "66666666777748889999000000000000",
        # int() takes a sign, spaces and an underscore between digits, so UUID() does too
        "66666666-7777-4888-9999-_00000000000",
        "+6666666-7777-4888-9999-000000000000",
        " 6666666-7777-4888-9999-000000000000",
        "\u0663\u0663\u0663\u0663\u0663\u0663\u0663\u0663-7777-4888-9999-000000000000",
    ],
)
def test_ids_parse_as_uuid_does(text: str) -> None:
    from aioica.models._scalars import _parse_uuid

    parsed = _parse_uuid(text)
    assert parsed == uuid.UUID(text) and type(parsed) is uuid.UUID
    assert parsed.is_safe is uuid.UUID(text).is_safe and str(parsed) == str(uuid.UUID(text))
    assert hash(parsed) == hash(uuid.UUID(text))


@pytest.mark.parametrize(
    "text",
    [
        "66666666-7777-4888-9999-00000000000G",
        "66666666-7777-4888-9999-0000000000 0",
        "66666666-7777-4888-9999-0000000000000",
        "66666666-7777-4888-99-9-000000000000",
        "",
    ],
)
def test_bad_ids_fail_as_uuid_does(text: str) -> None:
    from aioica.models._scalars import _parse_uuid

    with pytest.raises(ValueError) as ours:
        _parse_uuid(text)
    with pytest.raises(ValueError) as theirs:
        uuid.UUID(text)
    assert str(ours.value) == str(theirs.value)
