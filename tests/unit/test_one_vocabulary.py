"""The status vocabulary has one copy (``aioica.models``): the fake ICA and the command line use
it rather than lists of their own."""

from __future__ import annotations

import aioica.testing
from aioica.cli import _sessions
from aioica.models import V3_TO_V4, V4_TO_V3, StatusV3, StatusV4


def test_the_fake_uses_the_models_vocabulary() -> None:
    assert aioica.testing.V4_TO_V3 is V4_TO_V3
    assert aioica.testing.V3_TO_V4 is V3_TO_V4
    assert tuple(s.value for s in StatusV4) == aioica.testing.V4_STATUSES


def test_the_command_line_spellings_derive_from_the_maps() -> None:
    assert _sessions._V4_SPELLING == {
        "INPROGRESS": "IN_PROGRESS",
        "AWAITINGINPUT": "AWAITING_INPUT",
        "FAILEDFINAL": "FAILED_FINAL",
    }
    assert StatusV4.ALL | StatusV3.ALL == _sessions._KNOWN
    for v3, v4 in _sessions._V4_SPELLING.items():
        assert V4_TO_V3[v4] == v3
    assert _sessions.status_word("failed-final") == "FAILED_FINAL"
    assert _sessions.status_word(" inprogress ") == "INPROGRESS"
