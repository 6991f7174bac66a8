"""Reading an activity's failure inside a workflow: its type, its message, and whether it parks or gave up."""

from __future__ import annotations

from typing import Literal

from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TimeoutError_

from activities.error_types import PARK_FOR_BALANCE, PARK_FOR_CREDENTIALS, PARK_FOR_OPERATOR, ErrorType

__all__ = ["ParkKind", "error_message", "error_type", "is_timeout", "park_kind"]

ParkKind = Literal["balance", "credentials", "operator"]


def error_type(err: BaseException) -> str | None:
    """The `ApplicationError.type` an activity raised (None for timeouts, cancellations and others)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type
    return None


def error_message(err: BaseException) -> str:
    """The activity's own message (already redacted by the activities), for reports and status."""
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    return str(cause) or type(cause).__name__


def is_timeout(err: BaseException) -> bool:
    """A polling activity gave up: its schedule-to-close passed while the job was still not ready.

    The server reports that as the last attempt's NotReady error with retry state TIMEOUT (or as a
    timeout failure when an attempt itself was cut off), never as a plain error of the vendor's.
    """
    if not isinstance(err, ActivityError):
        return False
    return (
        isinstance(err.cause, TimeoutError_)
        or err.retry_state == RetryState.TIMEOUT
        or error_type(err) == ErrorType.NOT_READY
    )


def park_kind(err: BaseException) -> ParkKind | None:
    """Which operator action a failure waits for, or None when it is not a parking failure."""
    kind = error_type(err) if isinstance(err, ActivityError) else None
    if kind in PARK_FOR_BALANCE:
        return "balance"
    if kind in PARK_FOR_CREDENTIALS:
        return "credentials"
    if kind in PARK_FOR_OPERATOR:
        return "operator"
    return None
