"""The status vocabularies and the generated model modules."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

import aioica
from aioica.models import V3_TO_V4, V4_TO_V3, StatusV3, StatusV4, from_dict
from tests.support.paths import ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_models", ROOT / "tools" / "gen_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_model_modules_equal_the_generator_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _generator().main(["--check"]) == 0, capsys.readouterr().out


def test_generator_check_notices_a_stale_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = _generator()
    models = tmp_path / "models"
    models.mkdir()
    for name in ("_schemas.py", "__init__.py", "_converter.py", "_status.py"):
        (models / name).write_text((gen.MODELS / name).read_text())
    (models / "__init__.py").write_text("# edited by hand\n")
    monkeypatch.setattr(gen, "MODELS", models)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    assert "__init__.py" in capsys.readouterr().out


def test_statuses_iterate_and_answer_in_for_plain_strings() -> None:
    assert [s.value for s in StatusV3] == [
        "REQUESTED",
        "AWAITINGINPUT",
        "INPROGRESS",
        "SUCCEEDED",
        "FAILED",
        "FAILEDFINAL",
        "ABORTED",
    ]
    assert len(list(StatusV4)) == 12
    assert "FAILED_FINAL" in StatusV4
    assert "FAILEDFINAL" not in StatusV4
    assert "FAILEDFINAL" in StatusV3
    assert 3 not in StatusV4
    assert None not in StatusV4
    assert frozenset(s.value for s in StatusV4) == StatusV4.ALL


def test_status_members_are_their_values_everywhere() -> None:
    member = StatusV4.FAILED_FINAL
    assert member == "FAILED_FINAL"
    assert hash(member) == hash("FAILED_FINAL")
    assert str(member) == f"{member}" == f"{member:>12}".strip() == "FAILED_FINAL"
    assert json.dumps({"status": [member]}) == '{"status": ["FAILED_FINAL"]}'
    assert {"FAILED_FINAL": 1}[member] == 1


def test_unknown_statuses_still_decode_as_plain_strings() -> None:
    ws = from_dict({"id": "s1", "status": "HIBERNATING"}, aioica.models.WorkflowSessionV4)
    assert ws.status == "HIBERNATING"
    assert ws.status not in StatusV4
    assert not StatusV4.is_terminal(ws.status)


@pytest.mark.parametrize(
    ("value", "terminal"),
    [
        ("SUCCEEDED", True),
        ("FAILED_FINAL", True),
        ("ABORTED", True),
        ("FAILED", False),  # may still become FAILED_FINAL
        ("IN_PROGRESS", False),
        ("ABORTING", False),
        ("SOMETHING_NEW", False),
        (None, False),
        (7, False),
    ],
)
def test_terminal_statuses(value: object, terminal: bool) -> None:
    assert StatusV4.is_terminal(value) is terminal


def test_v3_terminal_statuses() -> None:
    assert {s.value for s in StatusV3 if s.terminal} == {"SUCCEEDED", "FAILEDFINAL", "ABORTED"}


def test_v3_v4_maps_cover_both_vocabularies_once() -> None:
    assert set(V4_TO_V3) == StatusV4.ALL
    assert set(V3_TO_V4) == StatusV3.ALL
    covered = [v4 for v4s in V3_TO_V4.values() for v4 in v4s]
    assert sorted(covered) == sorted(StatusV4.ALL)
    assert all(V4_TO_V3[v4] == v3 for v3, v4s in V3_TO_V4.items() for v4 in v4s)


def test_statuses_work_as_query_values(monkeypatch: pytest.MonkeyPatch) -> None:
    aqp = aioica.AnalysisQueryParameters(status=[StatusV4.FAILED, StatusV4.FAILED_FINAL])
    from aioica._params import encode_query_body

    assert json.dumps(encode_query_body(aqp)) == json.dumps(
        encode_query_body(aioica.AnalysisQueryParameters(status=["FAILED", "FAILED_FINAL"]))
    )


if sys.version_info < (3, 12):  # pragma: no cover - the behaviour 3.12 gives every enum

    def test_in_does_not_raise_for_strings_before_312() -> None:
        assert ("nope" in StatusV4) is False
