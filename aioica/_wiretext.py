"""Decoding a page so that each item keeps the exact JSON text it was decoded from.

The mirror stores every item's JSON as the server sent it. Encoding the decoded dicts again
cost the event loop about 0.1 ms of CPU per session (an analysis is a few KiB of nested
objects); slicing the response text costs a copy. The
``items`` array is split element by element with the json module's own C scanner, so values
are the same objects :func:`json.loads` builds; only the page's top level and each item's top
level are walked here.

Used only while :data:`KEEP_WIRE_TEXT` is set (by the mirror, around its export): everywhere
else raw pages hold plain dicts, as documented.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

__all__ = ["KEEP_WIRE_TEXT", "MAX_ITEMS", "WireObject", "loads_page", "wire_text"]

#: While set, raw pages are decoded by :func:`loads_page` with this as ``keep`` (the mirror
#: sets ``{"analysis"}``: the object an ``analyses:search`` item wraps); ``None``, the default,
#: decodes them with plain :func:`json.loads`.
KEEP_WIRE_TEXT: ContextVar[frozenset[str] | None] = ContextVar("KEEP_WIRE_TEXT", default=None)


class WireObject(dict[str, Any]):
    """A decoded JSON object that also holds the text it was decoded from (``wire``)."""

    __slots__ = ("wire",)

    wire: str


def wire_text(value: Any) -> str | None:
    """The text ``value`` was decoded from, if it was decoded by :func:`loads_page`."""
    return value.wire if value.__class__ is WireObject else None


# The json module's C scanners (untyped in the stubs): a value at an index -> (value, end),
# StopIteration on bad input; a string from just after its opening quote -> (str, end).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = " \t\n\r"
_ws_run = re.compile(r"[ \t\n\r]*").match

#: ICA pages hold at most 1,000 items. A body with far more (a hostile server's millions of
#: ``{}``) is left to json.loads, whose loop is C: this one's costs about a microsecond an item.
MAX_ITEMS = 10_000

#: Decodes the value of member ``key`` at ``s[i]``: ``(value, end)``.
_ValueAt = Callable[[str, str, int], tuple[Any, int]]


def _ws(s: str, i: int) -> int:
    """The index after the whitespace at ``i`` (the pattern matches everywhere)."""
    return _ws_run(s, i).end()  # type: ignore[union-attr]


def _skip(s: str, i: int) -> int:
    # Most bodies are compact: look at one character before paying for a regex match.
    return _ws(s, i) if s[i] in _WS else i


class _Unhandled(Exception):
    """Not a shape this walker knows; the caller decodes with json.loads instead."""


def _value(s: str, i: int) -> tuple[Any, int]:
    try:
        return _scan(s, i)
    except StopIteration:
        raise _Unhandled from None


def _object(s: str, i: int, into: dict[str, Any], value_at: _ValueAt) -> int:
    """Decode the members of the object at ``s[i] == "{"`` into ``into``, each value with
    ``value_at``; returns the index after the object."""
    i = _skip(s, i + 1)
    if s.startswith("}", i):
        return i + 1
    while True:
        if not s.startswith('"', i):
            raise _Unhandled
        key, i = _scanstring(s, i + 1)
        i = _skip(s, i)
        if not s.startswith(":", i):
            raise _Unhandled
        into[key], i = value_at(key, s, _skip(s, i + 1))
        i = _skip(s, i)
        if s.startswith(",", i):
            i = _skip(s, i + 1)
        elif s.startswith("}", i):
            return i + 1
        else:
            raise _Unhandled


def _with_text(s: str, i: int) -> tuple[Any, int]:
    """The value at ``s[i]``; an object becomes a :class:`WireObject`."""
    value, end = _value(s, i)
    if value.__class__ is dict:
        obj = WireObject(value)
        obj.wire = s[i:end]
        return obj, end
    return value, end


def _first_key(s: str, i: int) -> str | None:
    i = _skip(s, i + 1)
    if not s.startswith('"', i):
        return None
    return _scanstring(s, i + 1)[0]


def _items(s: str, i: int, keep: frozenset[str]) -> tuple[list[Any], int]:
    """Decode the array at ``s[i] == "["``, each object element a :class:`WireObject`."""

    def member(key: str, s: str, i: int) -> tuple[Any, int]:
        return _with_text(s, i) if key in keep else _value(s, i)

    items: list[Any] = []
    i = _skip(s, i + 1)
    if s.startswith("]", i):
        return items, i + 1
    while True:
        if keep and s.startswith("{", i) and _first_key(s, i) in keep:
            # Walked member by member only for an item that wraps an object to keep (its
            # first member, as the API lists it): walking costs about a microsecond per
            # member, while the scanner takes a whole listing item in one call.
            item = WireObject()
            end = _object(s, i, item, member)
            item.wire = s[i:end]
        else:
            item, end = _with_text(s, i)
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise _Unhandled
        i = _skip(s, end)
        if s.startswith(",", i):
            i = _skip(s, i + 1)
        elif s.startswith("]", i):
            return items, i + 1
        else:
            raise _Unhandled


def loads_page(body: bytes, keep: frozenset[str] = frozenset()) -> Any:
    """``json.loads(body)``, but each object in a top-level ``items`` array is a
    :class:`WireObject`, and so is an item's object member named in ``keep`` when it is the
    item's first member (otherwise it stays a plain dict, and its text is unknown).

    Anything unusual (not UTF-8 text holding one object, a syntax error, more than
    :data:`MAX_ITEMS` items) is left to :func:`json.loads`, so errors and odd bodies behave
    exactly as they do without this.
    """

    def member(key: str, s: str, i: int) -> tuple[Any, int]:
        return _items(s, i, keep) if key == "items" and s.startswith("[", i) else _value(s, i)

    try:
        s = body.decode()
        i = _skip(s, 0)
        if not s.startswith("{", i):
            raise _Unhandled
        page: dict[str, Any] = {}
        if _ws(s, _object(s, i, page, member)) != len(s):
            raise _Unhandled
        return page
    except (_Unhandled, ValueError, IndexError, RecursionError):
        # UnicodeDecodeError and json's own errors are ValueErrors.
        return json.loads(body)
