"""Known status values, as constants.

Model attributes hold plain strings so that a value ICA adds later never breaks decoding; these
classes name the values known today. Compare with ``==`` (``ws.status == StatusV4.FAILED_FINAL``).
"""

from __future__ import annotations

from typing import Final


class StatusV3:
    """Workflow-session statuses of the V3 vocabulary (``get_workflow_sessions``)."""

    REQUESTED: Final = "REQUESTED"
    AWAITINGINPUT: Final = "AWAITINGINPUT"
    INPROGRESS: Final = "INPROGRESS"
    SUCCEEDED: Final = "SUCCEEDED"
    FAILED: Final = "FAILED"
    FAILEDFINAL: Final = "FAILEDFINAL"
    ABORTED: Final = "ABORTED"
    ALL: Final = frozenset(
        {REQUESTED, AWAITINGINPUT, INPROGRESS, SUCCEEDED, FAILED, FAILEDFINAL, ABORTED}
    )


class StatusV4:
    """Statuses of the V4 vocabulary (V4 workflow sessions and orchestrated analyses)."""

    REQUESTED: Final = "REQUESTED"
    QUEUED: Final = "QUEUED"
    INITIALIZING: Final = "INITIALIZING"
    PREPARING_INPUTS: Final = "PREPARING_INPUTS"
    IN_PROGRESS: Final = "IN_PROGRESS"
    GENERATING_OUTPUTS: Final = "GENERATING_OUTPUTS"
    AWAITING_INPUT: Final = "AWAITING_INPUT"
    ABORTING: Final = "ABORTING"
    SUCCEEDED: Final = "SUCCEEDED"
    FAILED: Final = "FAILED"
    FAILED_FINAL: Final = "FAILED_FINAL"
    ABORTED: Final = "ABORTED"
    ALL: Final = frozenset(
        {
            REQUESTED,
            QUEUED,
            INITIALIZING,
            PREPARING_INPUTS,
            IN_PROGRESS,
            GENERATING_OUTPUTS,
            AWAITING_INPUT,
            ABORTING,
            SUCCEEDED,
            FAILED,
            FAILED_FINAL,
            ABORTED,
        }
    )


class AnalysisPriority:
    """Analysis priorities (``AnalysisV4.analysis_priority``)."""

    LOW: Final = "LOW"
    MEDIUM: Final = "MEDIUM"
    HIGH: Final = "HIGH"
