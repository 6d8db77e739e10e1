"""The integer checks shared by the library, each raising the error its layer promises:
:class:`ConfigurationError` for a Session's settings, :class:`InvalidParameterError` for a
call's arguments, ``ValueError`` for a value object's fields."""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from ._config import ConfigurationError
from ._errors import InvalidParameterError

__all__ = ["at_least", "config_int", "is_int_at_least", "param_int"]

N = TypeVar("N", int, float)


def is_int_at_least(value: object, minimum: int) -> bool:
    """Whether ``value`` is an ``int`` (a ``bool`` is not) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def config_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``, else :class:`ConfigurationError`."""
    if not is_int_at_least(value, minimum):
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def param_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``, else :class:`InvalidParameterError`."""
    if not is_int_at_least(value, minimum):
        raise InvalidParameterError(name, f"must be an integer >= {minimum}")
    return int(value)


def at_least(minimum: int) -> Any:
    """An attrs validator: the field must be >= ``minimum`` (NaN is not), else ``ValueError``."""

    def check(_: object, attribute: attrs.Attribute[N], value: N) -> None:
        if not value >= minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum}, got {value!r}")

    return check
