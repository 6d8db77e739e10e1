"""The one cattrs converter: wire (camelCase JSON) <-> attrs models.

Decoding is lenient by design. ICA adds fields and status values over time and sometimes sends
nulls where the spec promises values; none of that may cost the caller a page. The fast path is a
cattrs-generated function per class (cached by the converter); only an object that fails it is
decoded again field by field, keeping what it can and parking the undecodable raw values in
``extra``.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from ._scalars import (
    _DATETIME_CACHE,
    _DATETIME_TEXT,
    _UUID_CACHE,
    _UUID_TEXT,
    _datetime_text,
    _format_datetime,
    _fromisoformat,
    _structure_bool,
    _structure_datetime,
    _structure_datetime_kept,
    _structure_int,
    _structure_str,
    _structure_uuid,
    _uuid_str,
    parse_datetime,
)
from ._schemas import ALL_MODELS, NO_EXTRA, WIRE_NAMES

T = TypeVar("T")

__all__ = ["converter", "from_dict", "parse_datetime", "to_dict"]


converter = cattrs.Converter(detailed_validation=False)
"""The converter every aioica model goes through (one instance, hooks cached)."""

converter.register_structure_hook(datetime, _structure_datetime)
converter.register_structure_hook(UUID, _structure_uuid)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_unstructure_hook(datetime, _format_datetime)
converter.register_unstructure_hook(UUID, str)


_SCALARS: dict[Any, Callable[[Any, type], Any]] = {
    datetime: _structure_datetime,
    UUID: _structure_uuid,
    str: _structure_str,
    bool: _structure_bool,
    int: _structure_int,
}


def _field_expr(tp: Any, env: dict[str, Any], attr: str, absent: str) -> str:
    """Python source decoding local ``v`` into ``tp``, with names put in ``env``.

    ``absent`` is the source for a ``v`` of None. Where the usual value has a test that None
    fails anyway (a class check, a cache hit), that test comes first: the value a page is made
    of then costs one test, and only what fails it is checked for None.
    """
    name = f"_h_{attr}"
    if tp is str:
        env["_str"] = _structure_str
        return f"v if v.__class__ is str else ({absent} if v is None else _str(v, None))"
    if tp is UUID:
        # The cache lookup inline: ids repeat on every item (an unhashable value raises, and
        # the object goes to the slow path, as a failed parse would send it). None is never
        # cached, and a UUID is never false.
        env["_uuid_cached"] = _UUID_CACHE.get
        env[name] = _structure_uuid
        return f"_uuid_cached(v) or ({absent} if v is None else {name}(v, None))"
    if tp is bool:
        env[name] = _structure_bool
        return f"v if v.__class__ is bool else ({absent} if v is None else {name}(v, None))"
    if tp is datetime and _fromisoformat is not None:
        # The cache lookup inline, as for ids: a page's project, region and pipeline timestamps
        # repeat on every item, and equal texts then share one (immutable) datetime, which
        # encoding finds again by identity (_datetime_text). A datetime is never false.
        env["_dt_seen"] = _DATETIME_CACHE.get
        env[name] = _structure_datetime_kept
        return f"_dt_seen(v) or ({absent} if v is None else {name}(v, None))"
    if typing.get_origin(tp) is list:
        (elem,) = typing.get_args(tp)
        nullable = _optional_inner(elem) is not elem
        elem = _optional_inner(elem)
        env["_not_list"] = _not_list
        not_list = f"({absent} if v is None else _not_list(v))"
        if elem is str and not nullable:
            # str.join checks in C that every element is a str, and raises TypeError (the slow
            # path, which coerces numbers as _str does) for any that is not; its result is not
            # needed, and is never _NEVER, so the copy is what the expression gives.
            env["_join"] = "".join
            env["_NEVER"] = _NEVER
            return f"(_join(v) is _NEVER or v[:]) if v.__class__ is list else {not_list}"
        if elem is str:
            env["_str"] = _structure_str
            item = "x if x.__class__ is str else _str(x, None)"
        elif elem in _DECODERS:
            env[name] = _DECODERS[elem]
            item = f"{name}(x)"
        else:
            raise TypeError(f"no decoder for {tp!r}")
        if nullable:
            item = f"None if x is None else {item}"
        # An empty list (most tag lists) skips making the comprehension's function.
        return f"([{item} for x in v] if v else []) if v.__class__ is list else {not_list}"
    if tp in _SCALARS:
        env[name] = _SCALARS[tp]
        expr = f"{name}(v, None)"
    elif tp in _DECODERS:
        env[name] = _DECODERS[tp]
        expr = f"{name}(v)"
    else:
        # Anything else (a dict of strings) goes through the converter's own dispatch.
        env[name] = converter.structure
        env[name + "_t"] = tp
        expr = f"{name}(v, {name}_t)"
    return f"{absent} if v is None else {expr}"


_NEVER = object()


def _not_list(value: Any) -> Any:
    raise TypeError(f"expected a JSON array, got {type(value).__name__}")


def _optional_inner(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _compiled(lines: list[str], env: dict[str, Any], verb: str, cls: type) -> Any:
    """Compile generated source defining ``{verb}_{cls.__name__}`` in ``env``; return it.

    The file name (``<aioica decoder X>``) is what tracebacks and profiles show.
    """
    name = f"{verb}_{cls.__name__}"
    exec(compile("\n".join(lines), f"<aioica {verb}r {cls.__name__}>", "exec"), env)
    return env[name]


def _generate(cls: type[T]) -> Callable[[Any], T]:
    """Compile a straight-line decoder for ``cls``.

    One ``dict.get`` and one conversion per attribute, nested classes called directly, no
    per-value dispatch: this is the hot path of every page. The object is built with
    ``object.__new__`` and slot assignment (the generated classes have no validators or
    converters, so that is what their ``__init__`` would do). Anything the straight line cannot
    handle falls back to :func:`_slow_path`.
    """
    wire = WIRE_NAMES[cls]
    hints = typing.get_type_hints(cls)
    known = frozenset(wire.values())
    env: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_known_covers": known.issuperset,
        "_known": known,
        "_NO_EXTRA": NO_EXTRA,
        "_Exception": Exception,
        "_slow": functools.partial(_slow_path, cls, known, hints),
        "_odd": functools.partial(_odd_value, cls),
        "_N": len(known),
    }
    lines = [
        f"def decode_{cls.__name__}(d):",
        "    if d.__class__ is not dict:",
        "        return _odd(d)",
        "    g = d.get",
        "    o = _new(_cls)",
        "    m = 0",
        "    try:",
    ]
    for attr, name in wire.items():
        # m counts the known keys that gave None (absent or null), on that branch only.
        absent = "(m := m + 1) and " + ("[]" if attr == "items" else "None")
        expr = _field_expr(_optional_inner(hints[attr]), env, attr, absent)
        lines.append(f"        v = g({name!r})")
        lines.append(f"        o.{attr} = {expr}")
    lines += [
        "    except _Exception:",
        "        return _slow(d)",
        # Every key of d is known and non-null exactly when d has _N - m keys: then there is
        # nothing extra without looking at the keys one by one (a null or an unknown key makes
        # the count differ, and the keys are checked).
        "    if len(d) == _N - m or _known_covers(d):",
        "        o.extra = _NO_EXTRA",
        "    else:",
        "        o.extra = {k: v for k, v in d.items() if k not in _known}",
        "    return o",
    ]
    decode: Callable[[Any], T] = _compiled(lines, env, "decode", cls)
    return decode


def _odd_value(cls: type[T], data: Any) -> T:
    if isinstance(data, Mapping):
        decoded: T = _DECODERS[cls](dict(data))
        return decoded
    # One odd item must not cost the rest of the page: keep it, raw, in an empty model.
    obj = cls()
    obj.extra = {"": data}  # type: ignore[attr-defined]
    return obj


def _slow_path(
    cls: type[T], known: frozenset[str], hints: dict[str, Any], data: dict[str, Any]
) -> T:
    """Field by field: what cannot be decoded becomes None and its raw value goes to extra."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {k: v for k, v in data.items() if k not in known}
    for attr, name in WIRE_NAMES[cls].items():
        raw = data.get(name)
        if raw is None:
            continue
        try:
            values[attr] = converter.structure(raw, hints[attr])
        except Exception:
            extra[name] = raw
    obj = cls(**values)
    if extra:
        obj.extra = extra  # type: ignore[attr-defined]
    return obj


def _dependency_order(models: tuple[type, ...]) -> list[type]:
    """Models ordered so that every class comes after the classes it nests."""
    order: list[type] = []
    seen: set[type] = set()
    pool = set(models)

    def visit(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for tp in typing.get_type_hints(cls).values():
            for arg in (_optional_inner(tp), *typing.get_args(_optional_inner(tp))):
                if arg in pool:
                    visit(arg)
        order.append(cls)

    for cls in models:
        visit(cls)
    return order


_DECODERS: dict[type, Callable[[Any], Any]] = {}
for _cls in _dependency_order(ALL_MODELS):
    _DECODERS[_cls] = _generate(_cls)


def _structure_items(value: Any, type_: Any) -> list[Any]:
    (elem,) = type_.__args__
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {type(value).__name__}")
    return [converter.structure(v, elem) for v in value]


def _encode_expr(tp: Any, env: dict[str, Any], attr: str) -> str:
    """Python source encoding local ``v`` (not None) of declared type ``tp`` for the wire."""
    name = f"_e_{attr}"
    if tp in (str, bool, int):
        return "v"
    if tp is UUID:
        # A subclass (or a str set by hand) is written as str() writes it, never looked up.
        env["_UUID"] = UUID
        env["_uuid_text"] = _UUID_TEXT.get
        env["_uuid_str"] = _uuid_str
        env["_str"] = str
        return "(_uuid_text(v.int) or _uuid_str(v)) if v.__class__ is _UUID else _str(v)"
    if tp is datetime:
        env["_dt_text_of"] = _DATETIME_TEXT.get
        env["_dt_text"] = _datetime_text
        env["_id"] = id
        return "_dt_text_of(_id(v)) or _dt_text(v)"
    if tp in _MODEL_SET:
        env[name] = _encoder_of(tp)
        return f"{name}(v)"
    origin = typing.get_origin(tp)
    if origin is list:
        (elem,) = typing.get_args(tp)
        nullable = _optional_inner(elem) is not elem
        elem = _optional_inner(elem)
        if elem in (str, bool, int):
            return "list(v)"
        if elem in _MODEL_SET:
            env[name] = _encoder_of(elem)
            item = f"{name}(x)"
            if nullable:
                item = f"None if x is None else {item}"
            return f"[{item} for x in v]"
    if origin is dict and typing.get_args(tp) == (str, str):
        return "dict(v)"
    # Anything else goes through the converter's own dispatch.
    env[name] = converter.unstructure
    env[name + "_t"] = tp
    return f"{name}(v, {name}_t)"


def _generate_encoder(cls: type[Any]) -> Callable[[Any], Any]:
    """Compile a straight-line encoder for ``cls``: the mirror image of its decoder.

    Same output as the cattrs-generated unstructure function it replaces (attributes that are
    ``None`` left out, ``items`` always present, unknown keys from ``extra`` appended without
    overriding known ones, an odd item kept raw given back as it came), at a fraction of the
    cost: encoding a page must not cost more than decoding it.
    """
    wire = WIRE_NAMES[cls]
    hints = typing.get_type_hints(cls)
    env: dict[str, Any] = {"_NO_EXTRA": NO_EXTRA}
    lines = [
        f"def encode_{cls.__name__}(o):",
        "    ex = o.extra",
        "    if ex is not _NO_EXTRA and '' in ex:",
        "        return ex['']",
        "    out = {}",
    ]
    for attr, name in wire.items():
        expr = _encode_expr(_optional_inner(hints[attr]), env, attr)
        lines.append(f"    v = o.{attr}")
        if attr == "items":
            lines.append(f"    out[{name!r}] = None if v is None else {expr}")
        else:
            lines.append("    if v is not None:")
            lines.append(f"        out[{name!r}] = {expr}")
    lines += [
        "    if ex is not _NO_EXTRA and ex:",
        "        for k, v in ex.items():",
        "            if k and k not in out:",
        "                out[k] = v",
        "    return out",
    ]
    encode: Callable[[Any], Any] = _compiled(lines, env, "encode", cls)
    return encode


_MODEL_SET = frozenset(ALL_MODELS)
_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def _encoder_of(cls: type[Any]) -> Callable[[Any], Any]:
    # Nested classes come first (dependency order), so this only looks up in practice.
    fn = _ENCODERS.get(cls)
    if fn is None:
        fn = _ENCODERS[cls] = _generate_encoder(cls)
    return fn


for _cls in _dependency_order(ALL_MODELS):
    _encoder_of(_cls)


def _make_unstructure(cls: type[Any]) -> Callable[[Any], Any]:
    """The cattrs-generated unstructure function (reference for the generated encoders)."""
    wire = WIRE_NAMES[cls]
    overrides = {attr: override(rename=name) for attr, name in wire.items()}
    if "items" in wire:
        overrides["items"] = override(rename="items", omit_if_default=False)
    base = make_dict_unstructure_fn(
        cls,
        reference_converter,
        _cattrs_omit_if_default=True,
        extra=override(omit=True),
        **overrides,  # type: ignore[arg-type]
    )

    def unstructure(obj: Any) -> Any:
        if "" in obj.extra:
            return obj.extra[""]  # an odd item kept raw: give it back as it came
        out = base(obj)
        if obj.extra is not NO_EXTRA and obj.extra:
            for k, v in obj.extra.items():
                if k:
                    out.setdefault(k, v)
        return out

    return unstructure


_MODELS = frozenset(ALL_MODELS)
converter.register_structure_hook_factory(
    lambda t: t in _MODELS, lambda t: lambda data, _, fn=_DECODERS[t]: fn(data)
)
converter.register_unstructure_hook_factory(lambda t: t in _MODELS, lambda t: _ENCODERS[t])

#: A converter unstructuring with cattrs' own generated functions: what the generated encoders
#: must match (tests compare the two on every model).
reference_converter = cattrs.Converter(detailed_validation=False)
reference_converter.register_unstructure_hook(datetime, _format_datetime)
reference_converter.register_unstructure_hook(UUID, str)
# A factory, not eager hooks: a class's generated function must see the hooks of the classes it
# nests, so each is built on first use (and then cached by the converter).
reference_converter.register_unstructure_hook_factory(lambda t: t in _MODELS, _make_unstructure)

# Lists of models: a non-list is an error (the caller maps it to a typed decode error), but an
# odd element is kept (see _odd_value).
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
    encode = _ENCODERS.get(model.__class__)
    if encode is not None:
        encoded: dict[str, Any] = encode(model)
        return encoded
    result: dict[str, Any] = converter.unstructure(model)
    return result
