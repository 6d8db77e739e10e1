"""The status vocabularies: one copy, for the models, the command line and the fake ICA.

Model attributes hold plain strings so that a value ICA adds later never breaks decoding; these
enums name the values known today. Members are ``str`` subclasses that compare, hash, format and
serialise as their value (``ws.status == StatusV4.FAILED_FINAL``, ``json.dumps`` sends
``"FAILED_FINAL"``), and the classes iterate (``list(StatusV4)``) and answer ``in`` for plain
strings on every Python version (``"FAILED" in StatusV4``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = ["AnalysisPriority", "StatusV3", "StatusV4", "V3_TO_V4", "V4_TO_V3"]


class _Vocabulary(enum.EnumMeta):
    """``in`` accepts plain strings (Python 3.12 does so for every enum; 3.10 and 3.11 raise)."""

    def __contains__(cls, value: object) -> bool:
        if isinstance(value, str):
            return value in cls._value2member_map_
        return False

    @property
    def ALL(cls) -> frozenset[str]:
        """Every known value, as plain strings (upper case: a constant in 0.1.0)."""
        return frozenset(cls._value2member_map_)


class _Status(str, enum.Enum, metaclass=_Vocabulary):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def terminal(self) -> bool:
        """True for a final state (``SUCCEEDED``, ``FAILED_FINAL``/``FAILEDFINAL``, ``ABORTED``);
        ``FAILED`` may still become ``FAILED_FINAL``."""
        return self.name in _TERMINAL_NAMES

    @classmethod
    def is_terminal(cls, value: Any) -> bool:
        """Whether a status value as found on a model or in JSON is final. Unknown values, and
        anything that is not a string, are not: a status ICA adds later may still change."""
        member = cls._value2member_map_.get(value) if isinstance(value, str) else None
        return member is not None and member.name in _TERMINAL_NAMES


_TERMINAL_NAMES: Final = frozenset({"SUCCEEDED", "FAILEDFINAL", "FAILED_FINAL", "ABORTED"})


class StatusV3(_Status):
    """Workflow-session statuses of the V3 vocabulary (``get_workflow_sessions``)."""

    REQUESTED = "REQUESTED"
    AWAITINGINPUT = "AWAITINGINPUT"
    INPROGRESS = "INPROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILEDFINAL = "FAILEDFINAL"
    ABORTED = "ABORTED"


class StatusV4(_Status):
    """Statuses of the V4 vocabulary (V4 workflow sessions and orchestrated analyses)."""

    REQUESTED = "REQUESTED"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    PREPARING_INPUTS = "PREPARING_INPUTS"
    IN_PROGRESS = "IN_PROGRESS"
    GENERATING_OUTPUTS = "GENERATING_OUTPUTS"
    AWAITING_INPUT = "AWAITING_INPUT"
    ABORTING = "ABORTING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILED_FINAL = "FAILED_FINAL"
    ABORTED = "ABORTED"


#: How each V4 status reads in the V3 vocabulary (V3 has fewer values: many-to-one).
V4_TO_V3: Final[Mapping[str, str]] = MappingProxyType(
    {
        "REQUESTED": "REQUESTED",
        "QUEUED": "REQUESTED",
        "INITIALIZING": "INPROGRESS",
        "PREPARING_INPUTS": "INPROGRESS",
        "IN_PROGRESS": "INPROGRESS",
        "GENERATING_OUTPUTS": "INPROGRESS",
        "AWAITING_INPUT": "AWAITINGINPUT",
        "ABORTING": "INPROGRESS",
        "SUCCEEDED": "SUCCEEDED",
        "FAILED": "FAILED",
        "FAILED_FINAL": "FAILEDFINAL",
        "ABORTED": "ABORTED",
    }
)

#: The V4 statuses each V3 status stands for (what a V3 ``status`` filter selects).
V3_TO_V4: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {v3: frozenset(v4 for v4, m in V4_TO_V3.items() if m == v3) for v3 in StatusV3.ALL}
)


class AnalysisPriority(str, enum.Enum, metaclass=_Vocabulary):
    """Analysis priorities (``AnalysisV4.analysis_priority``)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
