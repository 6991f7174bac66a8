"""The product's own counters, recorded through Temporal's metric meter so they share the SDK's endpoint.

Workflow counters use `workflow.metric_meter()`, which records nothing while a workflow replays, so a
post counted once is never counted again when a worker rebuilds its state from history. Activity
counters use `activity.metric_meter()`, which adds namespace, task queue and activity type to each point.
Every function here swallows its own errors: a metric that cannot be recorded is logged once and never
fails the workflow task or the activity that recorded it.

Pure enough for the workflow sandbox: import it there under `workflow.unsafe.imports_passed_through()`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from temporalio import activity, workflow
from temporalio.common import MetricMeter

__all__ = [
    "ACTIVITY_ERRORS",
    "CREDITS_SPENT",
    "METRICS",
    "PARKED",
    "POLLS",
    "POLL_KINDS",
    "POSTS_APPROVED",
    "POSTS_FAILED",
    "POSTS_GENERATED",
    "POSTS_PUBLISHED",
    "POSTS_REJECTED",
    "RATE_LIMITED",
    "VENDOR_CALLS",
    "Counter",
    "activity_error",
    "credits_spent",
    "parked",
    "poll",
    "post_approved",
    "post_finished",
    "post_generated",
    "post_rejected",
    "vendor_call",
]

logger = logging.getLogger("observability.metrics")


@dataclass(frozen=True)
class Counter:
    """One product counter: its Prometheus name, what it means, and the labels it is recorded with.

    `labels` are ours; the meter adds `namespace`, `task_queue` and `workflow_type` or `activity_type`.
    """

    name: str
    description: str
    labels: tuple[str, ...] = ()
    unit: str | None = None


POSTS_GENERATED = Counter(
    "reelmirror_posts_generated_total",
    "Posts this bot generated (each charged once); server-generated posts it adopted are not counted",
    ("media_type",),
)
CREDITS_SPENT = Counter(
    "reelmirror_credits_spent_cents_total",
    "Credits spent on generation, in cents, estimated from the persona's cost table",
    ("media_type",),
)
POSTS_APPROVED = Counter(
    "reelmirror_posts_approved_total", "Posts approved (by an operator, a policy or a timeout)", ("by",)
)
POSTS_REJECTED = Counter("reelmirror_posts_rejected_total", "Posts rejected (by an operator or a timeout)", ("by",))
POSTS_PUBLISHED = Counter("reelmirror_posts_published_total", "Posts published to at least one target", ("outcome",))
POSTS_FAILED = Counter(
    "reelmirror_posts_failed_total",
    "Posts that ended without publication for a reason other than a rejection",
    ("outcome",),
)
PARKED = Counter(
    "reelmirror_parked_total",
    "Times a workflow parked a step until an operator acts or a re-check clears it",
    ("reason",),
)
VENDOR_CALLS = Counter(
    "reelmirror_vendor_calls_total",
    "HTTP calls to the vendor from activities, by method and status code (or transport error kind)",
    ("method", "status", "host"),
)
RATE_LIMITED = Counter("reelmirror_rate_limited_total", "Vendor answers 429 Too Many Requests", ("host",))
POLLS = Counter("reelmirror_polls_total", "Checks of a polled job (one per polling activity attempt)", ("kind",))
ACTIVITY_ERRORS = Counter(
    "reelmirror_activity_errors_total",
    "Activity attempts that failed with a vendor or worker error, by error type",
    ("error_type", "retryable"),
)

METRICS = (
    POSTS_GENERATED,
    CREDITS_SPENT,
    POSTS_APPROVED,
    POSTS_REJECTED,
    POSTS_PUBLISHED,
    POSTS_FAILED,
    PARKED,
    VENDOR_CALLS,
    RATE_LIMITED,
    POLLS,
    ACTIVITY_ERRORS,
)

#: Polling activities (their retry policy is the poll schedule) and the kind of job each one checks.
POLL_KINDS: Mapping[str, str] = {
    "poll_sync_job": "sync",
    "poll_generated_post": "media",
    "poll_deliveries": "delivery",
    "verify_email": "email",
    "await_balance": "bonus",
    "find_generated_post": "server_post",
    "await_outgoing_post": "server_post",
}

PUBLISHED_OUTCOMES = frozenset({"published", "partially_published"})
NOT_FAILED_OUTCOMES = PUBLISHED_OUTCOMES | {"rejected", "composed", "server_published"}

_warned = False


def _add(meter: MetricMeter, counter: Counter, value: int, labels: Mapping[str, str]) -> None:
    global _warned
    try:
        if value > 0:
            meter.create_counter(counter.name, counter.description, counter.unit).add(value, dict(labels))
    except Exception as exc:  # a metric must never fail the work it describes
        if not _warned:
            _warned = True
            logger.warning("cannot record metric %s: %s (further failures are not logged)", counter.name, exc)


def _in_workflow(counter: Counter, value: int = 1, **labels: str) -> None:
    try:
        meter = workflow.metric_meter()
    except Exception:
        return
    _add(meter, counter, value, labels)


def _in_activity(counter: Counter, value: int = 1, **labels: str) -> None:
    if not activity.in_activity():
        return
    try:
        meter = activity.metric_meter()
    except Exception:
        return
    _add(meter, counter, value, labels)


# --- workflow side (replay-safe) ----------------------------------------------------------------------


def post_generated(media_type: str, cost_cents: int) -> None:
    """A generate call of ours made this post: one post and its estimated cost."""
    _in_workflow(POSTS_GENERATED, media_type=media_type)
    credits_spent(media_type, cost_cents)


def credits_spent(media_type: str, cents: int) -> None:
    _in_workflow(CREDITS_SPENT, cents, media_type=media_type)


def post_approved(by: str) -> None:
    _in_workflow(POSTS_APPROVED, by=by)


def post_rejected(by: str) -> None:
    _in_workflow(POSTS_REJECTED, by=by)


def post_finished(outcome: str) -> None:
    """The post's final outcome: published (fully or partly), or failed unless a rejection or compose ended it."""
    if outcome in PUBLISHED_OUTCOMES:
        _in_workflow(POSTS_PUBLISHED, outcome=outcome)
    elif outcome not in NOT_FAILED_OUTCOMES:
        _in_workflow(POSTS_FAILED, outcome=outcome)


def parked(reason: str) -> None:
    """A step parked: `balance`, `credentials` or `operator`."""
    _in_workflow(PARKED, reason=reason)


# --- activity side ------------------------------------------------------------------------------------


def vendor_call(method: str, status: str, host: str) -> None:
    """One HTTP exchange with the vendor: `status` is the code ("200", "429") or a transport error kind."""
    _in_activity(VENDOR_CALLS, method=method, status=status, host=host)
    if status == "429":
        _in_activity(RATE_LIMITED, host=host)


def poll() -> None:
    """Count this attempt as one check of a polled job, if the running activity is a polling one."""
    if not activity.in_activity():
        return
    kind = POLL_KINDS.get(activity.info().activity_type)
    if kind is not None:
        _in_activity(POLLS, kind=kind)


def activity_error(error_type: str | None, retryable: bool) -> None:
    _in_activity(ACTIVITY_ERRORS, error_type=error_type or "unknown", retryable="true" if retryable else "false")
