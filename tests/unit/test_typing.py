"""The public signatures, as a type checker sees them (see ``typing_checks.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_raw_overloads_and_libica_keywords_type_check() -> None:
    done = _mypy(HERE / "typing_checks.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_can_fail(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing import Any\n"
        "from typing_extensions import assert_type\n"
        "import aioica\n"
        "async def f(ica: aioica.Session) -> None:\n"
        "    assert_type(await ica.get_workflow_session_inputs('p', 's'), dict[str, Any])\n"
        "    await ica.search_workflow_sessions_with_http_info('p', pagesize=1)\n"
    )
    done = _mypy(wrong)
    assert done.returncode == 1
    assert "assert_type" in done.stdout or "Expression is of type" in done.stdout
    assert 'Unexpected keyword argument "pagesize"' in done.stdout
