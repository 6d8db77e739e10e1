"""Resuming a JSON Lines export file (``aioica export -o FILE --resume``).

What "complete in FILE" means: a line that ends with a newline and is a JSON object holding
``workflowSession`` (an object with a non-empty string ``id``) and exactly the parts this run
exports (``inputs``, ``configurations``, ``analyses`` as chosen by ``--include``), nothing else.
The export writes each record as one line in one write, so a killed run can leave at most one
incomplete line, at the end, without its newline: that one is dropped (and its session fetched
again). Any other line that is not complete means the file is not this export's output, and
nothing is appended to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import attrs

__all__ = ["ExportFile", "ExportFileError", "prepare_resume"]

_KEY = "workflowSession"


class ExportFileError(Exception):
    """FILE cannot be resumed (unreadable, or a line that is not a complete record)."""


@attrs.frozen
class ExportFile:
    """What an export file already holds."""

    ids: frozenset[str]
    """Workflow session ids of the complete records."""
    records: int
    """Complete lines (a session written twice counts twice)."""
    dropped: int
    """Bytes of the partial last line removed from the file (0 if there was none)."""
    existed: bool
    """Whether FILE existed before."""


def prepare_resume(path: str, parts: Sequence[str]) -> ExportFile:
    """Read FILE, check that every line is a complete record with exactly ``parts``, and cut a
    trailing partial line off the file. A missing FILE is an empty one."""
    want = {_KEY, *parts}
    ids: set[str] = set()
    records = 0
    keep = 0
    try:
        with open(path, "r+b") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break  # the partial last line of a killed run
                ids.add(_record_id(line, want, path, number))
                records += 1
                keep += len(line)
            size = f.seek(0, os.SEEK_END)
            if size > keep:
                f.truncate(keep)
    except FileNotFoundError:
        return ExportFile(frozenset(), 0, 0, existed=False)
    except OSError as exc:
        raise ExportFileError(f"cannot resume {path}: {exc.strerror or exc}") from None
    return ExportFile(frozenset(ids), records, size - keep, existed=True)


def _record_id(line: bytes, want: set[str], path: str, number: int) -> str:
    where = f"{path} line {number}"
    try:
        record = json.loads(line)
    except ValueError:
        raise ExportFileError(
            f"{where} is not JSON; not appending to a file that is not an export's output"
        ) from None
    ws = record.get(_KEY) if isinstance(record, dict) else None
    sid = ws.get("id") if isinstance(ws, dict) else None
    if not isinstance(sid, str) or not sid:
        raise ExportFileError(
            f"{where} is not an export record (no workflowSession.id); not appending to it"
        )
    if set(record) != want:
        have = ",".join(sorted(set(record) - {_KEY})) or "none"
        asked = ",".join(sorted(want - {_KEY})) or "none"
        raise ExportFileError(
            f"{where} has the parts {have}, this run exports {asked}: resume with the "
            "--include of the run that wrote it"
        )
    return sid
