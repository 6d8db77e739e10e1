"""Where things are, for tests that read files of the repository."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
SPEC_PATH = TESTS / "spec" / "ica-workflow-sessions.openapi.yaml"
EXAMPLES = ROOT / "examples"
PRISM = TESTS / "prism"
