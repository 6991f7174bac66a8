"""Activity options: the vendor's error table and poll schedules expressed as Temporal retry policies.

The error table itself lives in the activities (which turn each HTTP error into an `ApplicationError` with
a type, `non_retryable` or a `next_retry_delay`); these policies supply the rest: exponential backoff for
502/network errors, and for polling activities the schedule on which a not-yet-finished job is checked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from activities.models import NON_RETRYABLE_ERROR_TYPES
from workflows.models import Timing

API_CALL_TIMEOUT = timedelta(seconds=60)

# 502 and network failures: exponential backoff (the guide's "retry with exponential backoff").
API_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)

# Signup is limited to 5 per IP per day and must never be repeated blindly: a few tries for transport
# failures (a repeat is recognised by 409 CONFLICT), then the workflow reports the error.
SIGNUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)


def api_call(summary: str | None = None) -> dict[str, Any]:
    """Options for one ordinary API call."""
    return {
        "start_to_close_timeout": API_CALL_TIMEOUT,
        "retry_policy": API_RETRY,
        "summary": summary,
    }


def poll(timing: Timing, kind: str, summary: str | None = None) -> dict[str, Any]:
    """Options for a polling activity: its retry policy is the poll schedule of `kind`.

    The activity checks once and raises a benign `NotReady` error while the job runs; Temporal retries it
    on this schedule, so history records one result per poll rather than one event per check.

    The give-up budget is the schedule's (scaled) plus one attempt's start-to-close timeout: an attempt
    lost with a crashed worker is only noticed when that timeout passes, and a crash must cost a poll a
    late answer, never its budget (at a small time scale the budget alone is shorter than the timeout).
    """
    schedule = timing.schedule(kind)
    return {
        "start_to_close_timeout": API_CALL_TIMEOUT,
        "schedule_to_close_timeout": timing.scaled(schedule.give_up_after_seconds) + API_CALL_TIMEOUT,
        "retry_policy": RetryPolicy(
            initial_interval=timing.scaled(schedule.first_check_seconds),
            backoff_coefficient=schedule.backoff,
            maximum_interval=max(
                timing.scaled(schedule.max_interval_seconds), timing.scaled(schedule.first_check_seconds)
            ),
            maximum_attempts=0,
            non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
        ),
        "summary": summary,
    }
