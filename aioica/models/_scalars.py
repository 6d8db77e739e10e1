"""The wire's scalars: timestamps, ids, strings, booleans and integers, both ways.

Parsing is lenient (see ``_converter``); formatting gives the text ICA sends (``Z`` for UTC).
Ids and timestamps repeat on every item of a page, so both directions keep small bounded
caches: text -> parsed value for decoding, value -> text for encoding.
"""

from __future__ import annotations

import re
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, SafeUUID

__all__ = ["parse_datetime"]

_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?$"
)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp into an aware ``datetime``.

    Accepts ``Z`` or numeric offsets and 0-9 fractional digits (ICA sends nanoseconds at times);
    a timestamp without an offset is taken as UTC. Digits beyond microseconds are truncated.
    """
    m = _ISO_RE.match(value.strip())
    if m is None:
        raise ValueError(f"not an ISO 8601 date-time: {value[:64]!r}")
    year, month, day, hour, minute, second, frac, z, sign, oh, om = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if z or not sign:
        tz = timezone.utc
    else:
        delta = timedelta(hours=int(oh), minutes=int(om or 0))
        tz = timezone(-delta if sign == "-" else delta)
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz
    )


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_fromisoformat = datetime.fromisoformat if sys.version_info >= (3, 11) else None


def _structure_datetime(value: Any, _: Any) -> datetime:
    if _fromisoformat is not None and value.__class__ is str:
        # 3.11's C parser accepts Z, offsets and any number of fractional digits; it is ~10x
        # faster than the regex. Anything it refuses still gets the lenient parser.
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            return parse_datetime(value)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    if isinstance(value, datetime):
        return value
    return parse_datetime(value)


# Entries per cache. Small: the values worth caching are the few a page repeats, and each cached
# UUID is one more object for every full pass of the cyclic collector to scan (at 8192 entries
# the caches then held about 16,000 objects, on top of the 54,000 that importing aioica leaves;
# ints, strings and datetimes are not tracked).
_CACHE_MAX = 1024

_DATETIME_CACHE: dict[str, datetime] = {}


def _structure_datetime_kept(value: Any, _: Any) -> datetime:
    """:func:`_structure_datetime`, remembering what a text decoded to (bounded cache)."""
    if value.__class__ is str and value[-1:] == "Z" and _fromisoformat is not None:
        # A "Z" timestamp is what fromisoformat parses as UTC. If it refuses one, the object
        # goes to the slow path, whose hook parses leniently.
        parsed = _fromisoformat(value)
    else:
        parsed = _structure_datetime(value, _)
    if value.__class__ is str:
        if len(_DATETIME_CACHE) >= _CACHE_MAX:
            _DATETIME_CACHE.clear()
        _DATETIME_CACHE[value] = parsed
    return parsed


_UUID_CACHE: dict[str, UUID] = {}

_new_object = object.__new__
_set_slot = object.__setattr__
# UUID keeps its value in these two slots (and sets them with object.__setattr__, as it is
# immutable); if a later Python stores them otherwise, every id goes through UUID() instead.
_UUID_SLOTS = {"int", "is_safe"} <= set(getattr(UUID, "__slots__", ()))


def _parse_uuid(text: str) -> UUID:
    """``UUID(text)``, without its general string handling for the canonical form.

    ``UUID()`` strips braces and ``urn:uuid:`` prefixes and removes dashes wherever they are,
    about 1.5 us an id; the 8-4-4-4-12 form every server sends needs only its 32 hex digits
    checked. Anything else (or a digit ``int()`` would take that is not ASCII) goes to
    ``UUID()``, so the result, and the error for a bad id, are UUID's own.
    """
    if _UUID_SLOTS and len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        digits = text.replace("-", "")
        if len(digits) == 32 and digits.isascii() and digits.isalnum():
            # isalnum() leaves out the sign, "_" and spaces int() would accept; a letter past
            # "f" (or an "x" not where a "0x" prefix is, which UUID() also takes) fails int().
            value = _new_object(UUID)
            _set_slot(value, "int", int(digits, 16))
            _set_slot(value, "is_safe", SafeUUID.unknown)
            return value
    return UUID(text)


def _structure_uuid(value: Any, _: Any) -> UUID:
    # Owner, tenant, workflow and storage ids repeat on every item of a page; UUIDs are
    # immutable, so equal strings can share one object. The cache is bounded by clearing.
    cached = _UUID_CACHE.get(value) if value.__class__ is str else None
    if cached is not None:
        return cached
    if isinstance(value, UUID):
        return value
    parsed = _parse_uuid(value) if value.__class__ is str else UUID(value)
    if len(_UUID_CACHE) >= _CACHE_MAX:
        _UUID_CACHE.clear()
    _UUID_CACHE[value] = parsed
    return parsed


_UTC = timezone.utc


class _DayTexts(dict[int, str]):
    """``YYYY-MM-DDT`` by proleptic ordinal, made on first use (bounded by clearing)."""

    def __missing__(self, ordinal: int) -> str:
        if len(self) >= _CACHE_MAX:
            self.clear()
        text = self[ordinal] = datetime.fromordinal(ordinal).date().isoformat() + "T"
        return text


_DAY_TEXT = _DayTexts()

# Keyed by identity (hashing an aware datetime asks its tzinfo for the offset, and equal
# instants in different offsets must keep their own text): decoded pages share one datetime per
# timestamp text (_structure_datetime_kept). The list keeps each cached datetime alive, so no
# id() is reused while its entry exists.
_DATETIME_TEXT: dict[int, str] = {}
_DATETIME_KEPT: list[datetime] = []
_DATETIME_LOCK = threading.Lock()


def _datetime_text(value: datetime) -> str:
    """``_format_datetime``, remembering the text of an exact datetime (bounded cache)."""
    if value.__class__ is not datetime:
        return _format_datetime(value)  # a subclass may format itself differently
    if value.tzinfo is _UTC or value.tzinfo is None:
        # isoformat() of an aware datetime asks the zone for its offset and formats it, twice
        # the cost of the naive time's isoformat() after its day's (cached) text.
        text = _DAY_TEXT[value.toordinal()] + value.time().isoformat() + "Z"
    else:
        text = _format_datetime(value)
    with _DATETIME_LOCK:
        # Entries are emptied before the datetimes they name, and made after them: a lookup
        # (which takes no lock) that finds an id finds one whose datetime is kept alive, so the
        # datetime is the caller's own, whichever threads encode at once.
        if len(_DATETIME_KEPT) >= _CACHE_MAX:
            _DATETIME_TEXT.clear()
            _DATETIME_KEPT.clear()
        _DATETIME_KEPT.append(value)
        _DATETIME_TEXT[id(value)] = text
    return text


# Keyed by the id's 128-bit integer, of which the text is a pure function (UUID.__hash__ is
# Python code; int keys are cheap to hash and not tracked by the cyclic collector).
_UUID_TEXT: dict[int, str] = {}


def _uuid_str(value: UUID) -> str:
    """``str(value)`` of an exact UUID, remembered (bounded cache)."""
    if len(_UUID_TEXT) >= _CACHE_MAX:
        _UUID_TEXT.clear()
    text = _UUID_TEXT[value.int] = str(value)
    return text


def _structure_str(value: Any, _: Any) -> str:
    # A number where a string belongs is coerced; a mapping or list is not a string.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")
