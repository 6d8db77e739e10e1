"""The generated encoders (``to_dict``) give exactly what cattrs' generated unstructure gives."""

from __future__ import annotations

import concurrent.futures
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aioica
from aioica import models
from aioica.models._converter import reference_converter
from aioica.models._schemas import ALL_MODELS, NO_EXTRA
from tests.support.payloads import analysis, session_v3, session_v4
from tests.support.spec import RESPONSES, json_schema, random_instance


def same(model: Any) -> dict[str, Any]:
    ours = aioica.to_dict(model)
    reference = reference_converter.unstructure(model)
    # Same keys in the same order, same values, same JSON text.
    assert json.dumps(ours) == json.dumps(reference)
    assert ours == reference
    return ours


@pytest.mark.parametrize("schema_name", sorted(set(RESPONSES.values()) | {"Problem"}))
def test_random_payloads_encode_as_cattrs_does(schema_name: str) -> None:
    model = getattr(models, schema_name)
    schema = json_schema(schema_name)
    rng = random.Random(f"aioica-encode-{schema_name}")
    for _ in range(60):
        same(aioica.from_dict(random_instance(schema, rng), model))


def test_every_model_empty_and_converter_dispatch_agree() -> None:
    for cls in ALL_MODELS:
        empty = cls()
        assert same(empty) == ({"items": []} if "items" in models._schemas.WIRE_NAMES[cls] else {})
        assert models.converter.unstructure(empty) == aioica.to_dict(empty)


def test_edge_values_encode_as_cattrs_does() -> None:
    page = aioica.from_dict(
        {
            "items": [
                session_v4(status="NEW_STATUS", surprise={"nested": [1, 2]}),
                "not an object",
                session_v4(str(uuid.uuid4()).upper()),
                {"id": "not-a-uuid", "timeCreated": "yesterday", "workflow": {"id": 7}},
            ],
            "nextPageToken": "",
            "unknownTop": True,
        },
        aioica.WorkflowSessionPagedListV4,
    )
    wire = same(page)
    assert wire["items"][1] == "not an object"
    assert wire["unknownTop"] is True
    assert wire["items"][0]["surprise"] == {"nested": [1, 2]}
    same(aioica.from_dict({"items": [session_v3(), analysis()]}, aioica.WorkflowSessionPagedListV3))
    same(aioica.from_dict({"items": [analysis()]}, aioica.WorkflowSessionAnalysisPagedListV4))


def test_datetimes_keep_their_offset_even_when_equal_instants_were_seen() -> None:
    utc = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    east = utc.astimezone(timezone(timedelta(hours=-5)))
    naive = datetime(2025, 1, 1, 12, 0)
    assert utc == east
    out = []
    for when in (utc, east, utc, naive, east):
        out.append(same(models.Project(time_created=when))["timeCreated"])
    assert out == [
        "2025-01-01T12:00:00Z",
        "2025-01-01T07:00:00-05:00",
        "2025-01-01T12:00:00Z",
        "2025-01-01T12:00:00Z",
        "2025-01-01T07:00:00-05:00",
    ]


def test_uuid_text_follows_the_object_not_a_stale_entry() -> None:
    for _ in range(3):
        # Fresh objects each round: an id() reused after a collection must not give old text.
        ids = [uuid.uuid4() for _ in range(50)]
        texts = [same(models.Project(id=i))["id"] for i in ids]
        assert texts == [str(i) for i in ids]
    # A str where a UUID is declared (built by hand) is written as is, as cattrs does.
    assert same(models.Project(id="plain-text"))["id"] == "plain-text"  # type: ignore[arg-type]


def test_decoded_timestamps_share_objects_and_encode_back() -> None:
    texts = [
        "2025-01-01T12:00:00Z",
        "2025-01-01T07:00:00-05:00",
        "2025-01-01T12:00:00.123456789Z",
        "2025-01-01T12:00:00",
    ]
    first = [aioica.from_dict({"timeCreated": t}, models.Project).time_created for t in texts]
    again = [aioica.from_dict({"timeCreated": t}, models.Project).time_created for t in texts]
    # Equal texts decode to one shared (immutable) object; equal instants in other offsets not.
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert first[0] == first[1] and first[0] is not first[1]
    wire = [same(models.Project(time_created=when))["timeCreated"] for when in first + again]
    assert wire == 2 * [
        "2025-01-01T12:00:00Z",
        "2025-01-01T07:00:00-05:00",
        "2025-01-01T12:00:00.123456Z",
        "2025-01-01T12:00:00Z",
    ]
    # A subclass is formatted as what it is, not looked up.

    class Stamp(datetime):
        pass

    stamp = Stamp(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert same(models.Project(time_created=stamp))["timeCreated"] == "2025-01-01T12:00:00Z"


def test_subclasses_format_themselves() -> None:
    class Stamp(datetime):
        def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
            return "stamp"

    class Tag(uuid.UUID):
        def __str__(self) -> str:
            return "tag"

    value = uuid.uuid4()
    tag = Tag(str(value))
    when = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    stamp = Stamp(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    # The plain values first, so that a lookup by value would find their text.
    wire = [same(models.Project(id=i, time_created=t)) for i, t in ((value, when), (tag, stamp))]
    assert [w["id"] for w in wire] == [str(value), "tag"]
    assert [w["timeCreated"] for w in wire] == ["2025-01-01T12:00:00Z", "stamp"]


def test_text_caches_stay_bounded_and_right() -> None:
    from aioica.models import _scalars

    limit = _scalars._CACHE_MAX
    start = datetime(1, 1, 1, tzinfo=timezone.utc)
    whens = [start + timedelta(days=397 * k, microseconds=k % 3) for k in range(2 * limit + 7)]
    whens += [datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(999, 1, 2, 3, 4, 5)]
    ids = [uuid.UUID(int=k * 7919) for k in range(2 * limit + 7)]
    for _ in range(2):  # the second pass reads what the first one cached
        for when, ident in zip(whens, ids, strict=False):
            wire = same(models.Project(id=ident, time_created=when))
            assert wire["id"] == str(ident)
            assert wire["timeCreated"] == when.replace(tzinfo=None).isoformat() + "Z"
        caches = (_scalars._UUID_TEXT, _scalars._DATETIME_TEXT, _scalars._DAY_TEXT)
        assert all(len(cache) <= limit for cache in caches)
        assert len(_scalars._DATETIME_KEPT) == len(_scalars._DATETIME_TEXT)
    # Fresh datetimes after the cached ones are gone: a reused id() must not give old text.
    for k in range(3):
        fresh = [
            datetime(2000 + k, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=s) for s in range(50)
        ]
        texts = [same(models.Project(time_created=t))["timeCreated"] for t in fresh]
        assert texts == [t.isoformat().replace("+00:00", "Z") for t in fresh]


def test_timestamp_texts_stay_right_across_threads() -> None:
    # Many threads encoding fresh datetimes at once, switching as often as the interpreter
    # allows, while the cache fills and is emptied: none may get another datetime's text.
    from aioica.models import _scalars

    def work(seed: int) -> list[tuple[str, str]]:
        out = []
        for k in range(3 * _scalars._CACHE_MAX):
            when = datetime(2000 + seed, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=k)
            out.append((same(models.Project(time_created=when))["timeCreated"], when.isoformat()))
        return out

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(work, range(8)))
    finally:
        sys.setswitchinterval(interval)
    for pairs in results:
        assert all(text == iso.replace("+00:00", "Z") for text, iso in pairs)


def test_extra_never_overrides_known_keys() -> None:
    project = models.Project(name="real")
    project.extra = {"name": "shadow", "other": 1, "": None}
    # An empty key marks an odd item kept raw: given back as it came.
    assert aioica.to_dict(project) is None
    project.extra = {"name": "shadow", "other": 1}
    assert same(project) == {"name": "real", "other": 1}
    assert models.Project().extra is NO_EXTRA
