"""Decoding a page without holding the event loop for the whole page.

A page of 1,000 items takes 10-30 ms to decode into models; done in one go, every other task of
the loop (a web handler, a heartbeat) waits that long. Big pages are decoded in slices of
``SLICE`` items with a checkpoint between slices, so no single step holds the loop for more
than a slice's worth of work. The result is the same object ``from_dict`` builds.
"""

from __future__ import annotations

import typing
from typing import Any, TypeVar

import anyio.lowlevel

from .models import from_dict
from .models._converter import _DECODERS

__all__ = ["SLICE", "decode_page"]

T = TypeVar("T")

#: Items decoded between two checkpoints: about 1-3 ms of work.
SLICE = 100


def _item_decoder(model: type[Any]) -> Any:
    hint = typing.get_type_hints(model).get("items")
    args = typing.get_args(hint)
    return _DECODERS.get(args[0]) if len(args) == 1 else None


_ITEM_DECODERS: dict[type, Any] = {}


async def decode_page(data: dict[str, Any], model: type[T]) -> T:
    """``from_dict(data, model)``, yielding to the event loop between slices of big pages."""
    items = data.get("items")
    if items.__class__ is not list or len(items) <= SLICE:
        return from_dict(data, model)
    decode = _ITEM_DECODERS.get(model)
    if decode is None:
        decode = _ITEM_DECODERS[model] = _item_decoder(model)
        if decode is None:
            return from_dict(data, model)
    page = from_dict({**data, "items": []}, model)
    decoded: list[Any] = []
    for start in range(0, len(items), SLICE):
        await anyio.lowlevel.checkpoint()
        decoded.extend([decode(x) for x in items[start : start + SLICE]])
    page.items = decoded  # type: ignore[attr-defined]
    return page
