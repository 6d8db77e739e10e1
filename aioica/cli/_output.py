"""Output formats: JSON Lines, one JSON array written incrementally, or a fixed-width table;
every write ends on a complete line."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._text import inert
from ._codes import UsageError
from ._runtime import isatty

__all__ = ["StdoutProxy", "Writer", "open_output", "short"]


class StdoutProxy:
    """``sys.stdout`` looked up at every write, so a progress bar's redirection applies."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return isatty(sys.stdout)


def short(value: Any, width: int, *, prefix: bool = False) -> str:
    """``value`` as text of at most ``width`` characters, cut in the middle if needed (names
    differ at both ends: a run id first, a sample last), or kept to its start (ids)."""
    text = "-" if value is None or value == "" else " ".join(str(value).split())
    # Server data printed on a terminal: escape sequences in it must not act.
    text = inert(text, max(width, 3) * 8)
    if len(text) <= width:
        return text
    if prefix:
        return text[:width]
    if width <= 3:
        return text[:width]
    head = (width - 3 + 1) // 2
    tail = width - 3 - head
    return text[:head] + "..." + (text[-tail:] if tail else "")


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else "-"


def _count(value: Any) -> str:
    return "-" if value is None else str(len(value))


# Columns per kind: (header, width); width 0 is the one flexible column (the rest of the line).
_COLUMNS: dict[str, list[tuple[str, int]]] = {
    "sessions": [("ID", 8), ("STATUS", 18), ("STARTED (UTC)", 16), ("USER REFERENCE", 0)],
    "analyses": [("ID", 8), ("STATUS", 18), ("STARTED (UTC)", 16), ("USER REFERENCE", 0)],
    "inputs": [("CODE", 24), ("TYPE", 6), ("NAME", 0)],
    "configurations": [("NAME", 28), ("VALUES", 0)],
    "export": [("ID", 8), ("STATUS", 18), ("IN", 3), ("CFG", 3), ("AN", 3), ("USER REFERENCE", 0)],
}
_GAP = "  "
_ID_FIRST = frozenset({"sessions", "analyses", "export"})
_ID_FULL = 36


def _rows(kind: str, item: dict[str, Any]) -> list[list[Any]]:
    """The table cells of one wire-shaped item (some items make several rows)."""
    if kind == "sessions":
        return [
            [
                item.get("id"),
                item.get("status"),
                _when(item.get("startDate")),
                item.get("userReference"),
            ]
        ]
    if kind == "analyses":
        a = item.get("analysis") or {}
        return [[a.get("id"), a.get("status"), _when(a.get("startDate")), a.get("userReference")]]
    if kind == "inputs":
        data = item.get("analysisData") or []
        if not data:
            return [[item.get("code"), "-", "-"]]
        return [
            [item.get("code"), d.get("dataType"), d.get("name") or d.get("dataId")] for d in data
        ]
    if kind == "configurations":
        values = item.get("values")
        return [[item.get("name"), ", ".join(map(str, values)) if values else "-"]]
    ws = item.get("workflowSession") or {}
    return [
        [
            ws.get("id"),
            ws.get("status"),
            _count(item.get("inputs")),
            _count(item.get("configurations")),
            _count(item.get("analyses")),
            ws.get("userReference"),
        ]
    ]


class Writer:
    """Streams items in one of the three formats; every write ends on a complete line."""

    def __init__(self, stream: Any, fmt: str, kind: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.kind = kind
        self.count = 0
        self.widths: list[int] = []
        if fmt == "table":
            columns = _COLUMNS[kind]
            total = shutil.get_terminal_size().columns if isatty(stream) else 80
            total = max(60, total)
            fixed = sum(w for _, w in columns) + len(_GAP) * (len(columns) - 1)
            flex = total - fixed
            self.widths = [w or max(10, flex) for _, w in columns]
            if columns[0][0] == "ID" and flex >= _ID_FULL - columns[0][1] + 20:
                # A wide terminal has room for full ids, which other commands accept.
                self.widths[0] = _ID_FULL
                self.widths[-1] = flex - (_ID_FULL - columns[0][1])

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _line(self, cells: Sequence[Any]) -> str:
        ids = self.kind in _ID_FIRST
        parts = [
            short(c, w, prefix=ids and i == 0)
            for i, (c, w) in enumerate(zip(cells, self.widths, strict=False))
        ]
        padded = [p.ljust(w) for p, w in zip(parts[:-1], self.widths, strict=False)] + [parts[-1]]
        return _GAP.join(padded).rstrip()

    def start(self) -> None:
        if self.fmt == "json":
            self._emit("[")
        elif self.fmt == "table":
            self._emit(self._line([h for h, _ in _COLUMNS[self.kind]]) + "\n")

    def write(self, item: dict[str, Any]) -> None:
        if self.fmt == "table":
            self._emit("".join(self._line(r) + "\n" for r in _rows(self.kind, item)))
        else:
            text = json.dumps(item, separators=(",", ":"))
            if self.fmt == "json":
                text = ("\n" if self.count == 0 else ",\n") + text
            else:
                text += "\n"
            # One write per item: an interruption can only fall between complete lines.
            self._emit(text)
        self.count += 1

    def finish(self) -> None:
        if self.fmt == "json":
            self._emit("\n]\n" if self.count else "]\n")


@contextmanager
def open_output(path: str | None, *, append: bool = False) -> Iterator[Any]:
    if path is None or path == "-":
        yield StdoutProxy()
        return
    try:
        stream = open(path, "a" if append else "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream
