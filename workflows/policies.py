"""Every timing fact of the workflows in one place: poll schedules, retry policies, activity options.

The error table lives in the activities (each HTTP error becomes an `ApplicationError` with a type,
`non_retryable` or a `next_retry_delay`); these policies supply the rest: exponential backoff for
502/network errors, and for polling activities the schedule on which a not-yet-finished job is checked.
`Timing` carries the schedules (and their overrides) into workflow inputs, scaled for rehearsals.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

from activities.error_types import NON_RETRYABLE_ERROR_TYPES

__all__ = [
    "API_CALL_TIMEOUT",
    "API_RETRY",
    "DEFAULT_SCHEDULES",
    "HEARTBEAT_TIMEOUT",
    "SIGNUP_RETRY",
    "ActivityOptions",
    "PollKind",
    "PollSchedule",
    "Timing",
    "api_call",
    "poll",
]


_WEEK = 7 * 24 * 3600


class PollKind(enum.StrEnum):
    """The jobs a workflow waits on by polling, each with its own schedule."""

    SYNC = "sync"
    IMAGE = "image"
    VIDEO = "video"
    DELIVERY = "delivery"
    EMAIL = "email"
    BONUS = "bonus"
    SERVER_POST = "server_post"


class PollSchedule(BaseModel):
    """One kind of job's poll schedule, used as the polling activity's retry policy.

    The first check comes near the lower bound of the documented duration; later checks back off up to
    `max_interval_seconds`, which bounds how late a finished job is noticed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    first_check_seconds: float = Field(gt=0, le=_WEEK)
    backoff: float = Field(default=1.5, ge=1.0, le=10.0)
    max_interval_seconds: float = Field(gt=0, le=_WEEK)
    give_up_after_seconds: float = Field(gt=0, le=30 * 24 * 3600)


#: The schedules' numbers, from the guide's documented durations (sync 30 s - 5 min, image 20-90 s,
#: video 60-300 s, delivery 10-60 s) and the human-paced waits of onboarding.
DEFAULT_SCHEDULES: dict[PollKind, PollSchedule] = {
    PollKind.SYNC: PollSchedule(first_check_seconds=30, max_interval_seconds=30, give_up_after_seconds=3600),
    PollKind.IMAGE: PollSchedule(first_check_seconds=20, max_interval_seconds=15, give_up_after_seconds=3600),
    PollKind.VIDEO: PollSchedule(first_check_seconds=60, max_interval_seconds=30, give_up_after_seconds=3 * 3600),
    PollKind.DELIVERY: PollSchedule(first_check_seconds=10, max_interval_seconds=15, give_up_after_seconds=3600),
    PollKind.EMAIL: PollSchedule(first_check_seconds=5, max_interval_seconds=30, give_up_after_seconds=24 * 3600),
    PollKind.BONUS: PollSchedule(first_check_seconds=2, max_interval_seconds=30, give_up_after_seconds=3600),
    PollKind.SERVER_POST: PollSchedule(first_check_seconds=20, max_interval_seconds=30, give_up_after_seconds=3 * 3600),
}


class Timing(BaseModel):
    """Durations the workflows wait on. `time_scale` shrinks every one of them for rehearsals against the
    simulator (which runs its clock at the same scale); production leaves it at 1."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    time_scale: float = Field(default=1.0, gt=0, le=1.0)
    poll: dict[PollKind, PollSchedule] = Field(default_factory=lambda: dict(DEFAULT_SCHEDULES))
    balance_recheck_minutes: float = Field(default=30, gt=0, le=7 * 24 * 60)
    credentials_recheck_minutes: float = Field(default=60, gt=0, le=7 * 24 * 60)

    def scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=max(seconds * self.time_scale, 0.01))

    def schedule(self, kind: PollKind) -> PollSchedule:
        return self.poll.get(kind) or DEFAULT_SCHEDULES[kind]


#: One attempt of an activity: several HTTP calls (lists follow pages), each with its own deadline
#: (`REELMIRROR_HTTP_TIMEOUT_SECONDS`, 30 s), and waits for the account's rate budget. A dead worker is
#: noticed by the heartbeat timeout long before this.
API_CALL_TIMEOUT = timedelta(minutes=5)
#: Every activity heartbeats while it runs (`activities.liveness`): an attempt lost with a killed worker
#: is retried on another within this, not after the start-to-close timeout.
HEARTBEAT_TIMEOUT = timedelta(seconds=10)

# Activities set the delay of every failure they report themselves (the server's wait for 429 and 503,
# their own exponential backoff for 502 and network errors: `activities.backoff`); this policy's backoff
# only spaces the retries of attempts that timed out (a lost worker) or failed with a bug.
API_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
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


@dataclass(frozen=True)
class ActivityOptions:
    """How one activity call is scheduled: its timeouts, its retry policy and the Web UI's summary.

    Every option carries a heartbeat timeout: the worker heartbeats for each running activity, so an
    attempt that died with its worker is retried within `HEARTBEAT_TIMEOUT`."""

    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    schedule_to_close_timeout: timedelta | None = None
    summary: str | None = None
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT

    def config(self) -> workflow.ActivityConfig:
        """The keyword arguments of `workflow.execute_activity_method`."""
        config = workflow.ActivityConfig(
            start_to_close_timeout=self.start_to_close_timeout,
            retry_policy=self.retry_policy,
            summary=self.summary,
            heartbeat_timeout=self.heartbeat_timeout,
        )
        if self.schedule_to_close_timeout is not None:
            config["schedule_to_close_timeout"] = self.schedule_to_close_timeout
        return config

    def with_retry(self, retry_policy: RetryPolicy) -> ActivityOptions:
        return dataclasses.replace(self, retry_policy=retry_policy)


def api_call(summary: str | None = None) -> ActivityOptions:
    """Options for one ordinary API call."""
    return ActivityOptions(start_to_close_timeout=API_CALL_TIMEOUT, retry_policy=API_RETRY, summary=summary)


def poll(timing: Timing, kind: PollKind, summary: str | None = None) -> ActivityOptions:
    """Options for a polling activity: its retry policy is the poll schedule of `kind`.

    The activity checks once and raises a benign `NotReady` error while the job runs; Temporal retries it
    on this schedule, so history records one result per poll rather than one event per check.

    The give-up budget is the schedule's (scaled) plus one attempt's start-to-close timeout: an attempt
    lost with a crashed worker is only noticed when that timeout passes, and a crash must cost a poll a
    late answer, never its budget (at a small time scale the budget alone is shorter than the timeout).
    """
    schedule = timing.schedule(kind)
    return ActivityOptions(
        start_to_close_timeout=API_CALL_TIMEOUT,
        schedule_to_close_timeout=timing.scaled(schedule.give_up_after_seconds) + API_CALL_TIMEOUT,
        retry_policy=RetryPolicy(
            initial_interval=timing.scaled(schedule.first_check_seconds),
            backoff_coefficient=schedule.backoff,
            maximum_interval=max(
                timing.scaled(schedule.max_interval_seconds), timing.scaled(schedule.first_check_seconds)
            ),
            maximum_attempts=0,
            non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
        ),
        summary=summary,
    )
