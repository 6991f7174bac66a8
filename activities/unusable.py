"""Since when an activity's answers have stayed unusable, remembered across its attempts.

A malformed answer, an HTTP 500 or an unknown status is retried on the normal backoff, but only for a
bounded time (`ActivitySettings.unusable_answer_budget_seconds`): after that the attempt raises a
non-retryable `UNUSABLE_ANSWER` and the workflow parks with the reason until an operator says `retry`.
The first sighting travels in the attempt's heartbeat details (`activities.liveness`, so another worker
continues the count) and in this worker's memory (for servers that drop heartbeat details on failure);
any other outcome of an attempt, success included, starts the count afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from temporalio import activity

from activities.liveness import progress

__all__ = ["UnusableAnswers"]

_MARK = "unusable-since:"
_KEY = "unusable_since"


class UnusableAnswers:
    """One per worker: the first time each running activity met an unusable answer in a row."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._since: OrderedDict[tuple[str, str, str], datetime] = OrderedDict()
        self._capacity = capacity

    def seen(self, now: datetime) -> datetime:
        """Record an unusable answer of the current activity; returns since when they have been unusable."""
        key = _key()
        since = self._since.get(key) or _carried() or now
        self._since[key] = since
        self._since.move_to_end(key)
        while len(self._since) > self._capacity:
            self._since.popitem(last=False)
        progress().record(**{_KEY: since.isoformat()})
        return since

    def clear(self) -> None:
        """The current activity met a usable answer (or another failure): the streak is over."""
        if activity.in_activity():
            self._since.pop(_key(), None)
            current = progress()
            if current.get(_KEY):
                current.record(**{_KEY: None})


def _key() -> tuple[str, str, str]:
    info = activity.info()
    return (info.workflow_id or "", info.workflow_run_id or "", info.activity_id)


def _carried() -> datetime | None:
    """The first sighting an earlier attempt wrote into its heartbeat details, if the server kept them
    (a field of the details object, or the plain-text mark of attempts made before it had one)."""
    recorded = progress().get(_KEY)
    if isinstance(recorded, str):
        try:
            return datetime.fromisoformat(recorded)
        except ValueError:
            return None
    for detail in activity.info().heartbeat_details:
        if isinstance(detail, str) and detail.startswith(_MARK):
            try:
                return datetime.fromisoformat(detail.removeprefix(_MARK))
            except ValueError:
                return None
    return None
