"""Every response schema of the vendored spec: random schema-valid payloads (checked with
jsonschema) decode without losing anything, and the models give the same payload back."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

import aioica
from aioica import models
from tests.support.spec import RESPONSES, json_schema, random_instance

EXAMPLES = 150


def _normalise(value: Any) -> Any:
    """Wire JSON with nulls dropped (to_dict leaves out None, as ICA does)."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _strip_times(value: Any) -> Any:
    # Datetimes come back normalised (microseconds, "Z"): compared separately, as instants.
    if isinstance(value, dict):
        return {
            k: _strip_times(v)
            for k, v in value.items()
            if not k.endswith(("Date", "Created", "Modified", "timestamp"))
        }
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


@pytest.mark.parametrize("schema_name", sorted(set(RESPONSES.values()) | {"Problem"}))
def test_random_schema_valid_payloads_decode_and_round_trip(schema_name: str) -> None:
    model = getattr(models, schema_name)
    schema = json_schema(schema_name)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    rng = random.Random(f"aioica-{schema_name}")
    for _ in range(EXAMPLES):
        payload = random_instance(schema, rng)
        validator.validate(payload)  # the generator itself is held to the spec
        decoded = aioica.from_dict(payload, model)
        assert isinstance(decoded, model)
        wire = aioica.to_dict(decoded)
        # Nothing known was parked in `extra` as undecodable: the wire shape comes back.
        assert _strip_times(wire) == _strip_times(_normalise(payload))
        assert aioica.from_dict(wire, model) == decoded


def test_statuses_outside_the_enums_are_kept() -> None:
    page = aioica.from_dict(
        {"items": [{"id": "5c7c1c9a-1d2e-4f3a-8b4c-5d6e7f8a9b0c", "status": "HIBERNATING"}]},
        aioica.WorkflowSessionPagedListV3,
    )
    assert page.items[0].status == "HIBERNATING"
    assert aioica.StatusV3.INPROGRESS in aioica.StatusV3.ALL
    assert aioica.StatusV4.IN_PROGRESS in aioica.StatusV4.ALL
