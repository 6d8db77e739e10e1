"""The one cattrs converter: wire (camelCase JSON) <-> attrs models.

Decoding is lenient by design. ICA adds fields and status values over time and sometimes sends
nulls where the spec promises values; none of that may cost the caller a page. The fast path is a
cattrs-generated function per class (cached by the converter); only an object that fails it is
decoded again field by field, keeping what it can and parking the undecodable raw values in
``extra``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import UUID

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._schemas import ALL_MODELS, NO_EXTRA, WIRE_NAMES

T = TypeVar("T")

__all__ = ["converter", "from_dict", "parse_datetime", "to_dict"]

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


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value)


def _structure_uuid(value: Any, _: type) -> UUID:
    if isinstance(value, UUID):
        return value
    return UUID(value)


def _structure_str(value: Any, _: type) -> str:
    # A number where a string belongs is coerced; a mapping or list is not a string.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


converter = cattrs.Converter(detailed_validation=False)
"""The converter every aioica model goes through (one instance, hooks cached)."""

converter.register_structure_hook(datetime, _structure_datetime)
converter.register_structure_hook(UUID, _structure_uuid)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_unstructure_hook(datetime, _format_datetime)
converter.register_unstructure_hook(UUID, str)


def _make_structure(cls: type[T]) -> Callable[[Any, type], T]:
    wire = WIRE_NAMES[cls]
    known = frozenset(wire.values())
    fields = {f.name: f for f in attrs.fields(cls)}
    overrides = {attr: override(rename=name) for attr, name in wire.items()}
    fast = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=False,
        extra=override(omit=True),
        **overrides,  # type: ignore[arg-type]
    )

    def slow(data: Mapping[str, Any]) -> T:
        # Field by field: what cannot be decoded becomes None and its raw value goes to extra.
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {k: v for k, v in data.items() if k not in known}
        for attr, name in wire.items():
            if name not in data:
                continue
            raw = data[name]
            if raw is None:
                continue
            try:
                values[attr] = converter.structure(raw, fields[attr].type)
            except Exception:
                extra[name] = raw
        obj = cls(**values)
        if extra:
            obj.extra = extra  # type: ignore[attr-defined]
        return obj

    def structure(data: Any, _: type) -> T:
        if not isinstance(data, Mapping):
            # One odd item must not cost the rest of the page: keep it, raw, in an empty model.
            obj = cls()
            obj.extra = {"": data}  # type: ignore[attr-defined]
            return obj
        try:
            obj = fast(data, cls)
        except Exception:
            return slow(data)
        if not known.issuperset(data):
            obj.extra = {k: v for k, v in data.items() if k not in known}  # type: ignore[attr-defined]
        return obj

    return structure


def _structure_items(value: Any, type_: Any) -> list[Any]:
    (elem,) = type_.__args__
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {type(value).__name__}")
    return [converter.structure(v, elem) for v in value]


def _make_unstructure(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    wire = WIRE_NAMES[cls]
    overrides = {attr: override(rename=name) for attr, name in wire.items()}
    if "items" in wire:
        overrides["items"] = override(rename="items", omit_if_default=False)
    base = make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=True,
        extra=override(omit=True),
        **overrides,  # type: ignore[arg-type]
    )

    def unstructure(obj: Any) -> dict[str, Any]:
        out = base(obj)
        if obj.extra is not NO_EXTRA and obj.extra:
            for k, v in obj.extra.items():
                if k:
                    out.setdefault(k, v)
        return out

    return unstructure


_MODELS = frozenset(ALL_MODELS)
# Factories, not eager hooks: a class's generated function must see the hooks of the classes it
# nests, so each is built on first use (and then cached by the converter).
converter.register_structure_hook_factory(lambda t: t in _MODELS, _make_structure)
converter.register_unstructure_hook_factory(lambda t: t in _MODELS, _make_unstructure)

# Lists of models: a non-list is an error (the caller maps it to a typed decode error), but an
# odd element is kept (see _make_structure).
converter.register_structure_hook_func(
    lambda t: getattr(t, "__origin__", None) is list, _structure_items
)


def from_dict(data: Any, cls: type[T]) -> T:
    """Decode a wire-shaped (camelCase) JSON value into model ``cls``."""
    return converter.structure(data, cls)


def to_dict(model: Any) -> dict[str, Any]:
    """Give back the wire-shaped (camelCase) dict of a model, unknown keys included.

    Attributes that are ``None`` are left out, as ICA leaves them out.
    """
    result: dict[str, Any] = converter.unstructure(model)
    return result
