"""Making server-supplied text safe to show: short, and inert on a terminal or in a log.

A problem body, a header or a reason phrase may carry megabytes of text, terminal escape
sequences (``ESC [ ...``), carriage returns that overwrite a log line, Unicode direction
overrides that reorder what a reader sees, or lone surrogates (a JSON ``"\\ud800"`` escape
decodes to one) that make writing the text to a UTF-8 log or terminal raise. :func:`inert`
escapes all of those as ``\\xNN`` / ``\\uNNNN`` and :func:`clip` keeps text to a bounded length.
"""

from __future__ import annotations

import re

__all__ = ["MAX_MESSAGE", "clip", "inert"]

#: Longest exception message aioica builds (characters).
MAX_MESSAGE = 4000

# C0 and C1 controls (ESC, CR, LF, TAB and DEL included), and the Unicode format characters
# that reorder or hide text: bidi embeddings/overrides/isolates, marks, line/paragraph
# separators, zero-width characters, the BOM, interlinear annotations; and surrogates.
_FORMAT = "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff\ufff9-\ufffb"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")
_UNSAFE_KEEP_NEWLINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_FORMAT}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters plus a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def inert(text: str, limit: int = MAX_MESSAGE, *, keep_newlines: bool = False) -> str:
    """``text`` with control and direction-changing characters escaped, clipped to ``limit``.

    ``keep_newlines`` leaves ``\\n`` alone (for multi-line output such as a traceback).
    """
    # Clip before escaping too, so a huge input costs no more than a bounded amount of work.
    text = clip(text, limit)
    pattern = _UNSAFE_KEEP_NEWLINES if keep_newlines else _UNSAFE
    if pattern.search(text) is None:
        return text
    return clip(pattern.sub(_escape, text), limit)
