"""One copy of each piece of wire vocabulary and of each integer check in the library core."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import aioica
from aioica._config import ConfigurationError
from aioica._validate import at_least, config_int, is_int_at_least, param_int
from aioica._wire import CREDENTIAL_HEADERS, MEDIA_TYPE

PACKAGE = Path(aioica.__file__).parent
# The CLI and the fake ICA move to packages of their own elsewhere; they adopt _wire then.
CORE = [p for p in PACKAGE.glob("*.py") if p.name not in ("_wire.py", "cli.py")]


def test_the_media_type_is_spelt_once() -> None:
    assert MEDIA_TYPE == "application/vnd.illumina.v3+json"
    assert [p.name for p in CORE if "vnd.illumina" in p.read_text()] == []


def test_the_credential_headers_are_listed_once() -> None:
    assert set(CREDENTIAL_HEADERS) == {
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "cookie",
    }
    assert [p.name for p in CORE if '"x-api-key", "authorization"' in p.read_text()] == []


@pytest.mark.parametrize(
    ("value", "minimum", "ok"),
    [(1, 1, True), (0, 1, False), (0, 0, True), (True, 0, False), (1.0, 1, False), ("1", 1, False)],
)
def test_integer_checks(value: object, minimum: int, ok: bool) -> None:
    assert is_int_at_least(value, minimum) is ok
    if ok:
        assert config_int("n", value, minimum) == value
        assert param_int("n", value, minimum) == value
    else:
        with pytest.raises(ConfigurationError, match=rf"n must be an integer >= {minimum}"):
            config_int("n", value, minimum)
        with pytest.raises(
            aioica.InvalidParameterError, match=rf"n: must be an integer >= {minimum}"
        ):
            param_int("n", value, minimum)


def test_attrs_validator_rejects_nan_and_small_values() -> None:
    with pytest.raises(ValueError, match="backoff_base must be >= 0, got nan"):
        aioica.RetryPolicy(backoff_base=math.nan)
    with pytest.raises(ValueError, match="max_attempts must be >= 1, got 0"):
        aioica.RetryPolicy(max_attempts=0)
    assert callable(at_least(3))
