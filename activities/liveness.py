"""Every activity heartbeats while it runs, and keeps what its attempts learned in the heartbeat details.

Why heartbeat everything: a worker killed mid-activity is otherwise noticed only when the attempt's
start-to-close timeout passes (a minute or more); with a heartbeat timeout on every activity and a
worker that heartbeats for each running activity, the attempt is retried on another worker within that
timeout. The heartbeats come from a task beside the activity (`LivenessInterceptor`), so an activity
blocked in one slow HTTP call still counts as alive, and a dead worker stops them all at once.

Why the details: Temporal hands the last heartbeat's details to the next attempt. `Progress` keeps one
JSON object there (the step, counters, reads already made) so a retry can go on from where the previous
attempt stopped instead of starting over (see `activities.backoff`, `activities.carried`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

__all__ = ["LivenessInterceptor", "Progress", "progress"]

#: Heartbeats per heartbeat timeout: a beat or two may be late or throttled without a false timeout.
BEATS_PER_TIMEOUT = 3

_CURRENT: ContextVar[Progress | None] = ContextVar("reelmirror_activity_progress", default=None)


class Progress:
    """One activity attempt's heartbeat details: what earlier attempts recorded, updated by this one."""

    def __init__(self, previous: Mapping[str, Any] | None = None) -> None:
        self._details: dict[str, Any] = dict(previous or {})

    @classmethod
    def from_attempt(cls) -> Progress:
        """The details the previous attempt left (an old plain-text step counts as none)."""
        details = activity.info().heartbeat_details if activity.in_activity() else ()
        last = details[-1] if details else None
        return cls(last if isinstance(last, Mapping) else None)

    def get(self, key: str, default: Any = None) -> Any:
        return self._details.get(key, default)

    def record(self, **fields: Any) -> None:
        """Update the details and send them at once (the SDK throttles; the latest value always wins)."""
        self._details.update(fields)
        self.beat()

    def beat(self) -> None:
        if activity.in_activity():
            activity.heartbeat(dict(self._details))

    def snapshot(self) -> dict[str, Any]:
        return dict(self._details)


def progress() -> Progress:
    """The running activity's progress (created on first use where no interceptor set one up; outside
    an activity a fresh, empty one that remembers nothing)."""
    current = _CURRENT.get()
    if current is None:
        current = Progress.from_attempt()
        if activity.in_activity():
            _CURRENT.set(current)
    return current


class LivenessInterceptor(Interceptor):
    """Worker interceptor: every activity with a heartbeat timeout heartbeats while it runs."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HeartbeatingActivity(next)


class _HeartbeatingActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        current = Progress.from_attempt()
        token = _CURRENT.set(current)
        timeout = activity.info().heartbeat_timeout
        beater = asyncio.create_task(_beat(current, timeout.total_seconds())) if timeout else None
        try:
            return await super().execute_activity(input)
        finally:
            if beater is not None:
                beater.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beater
            _CURRENT.reset(token)


async def _beat(current: Progress, timeout_seconds: float) -> None:
    """Heartbeat the current details every third of the timeout; short activities never send one."""
    interval = max(timeout_seconds / BEATS_PER_TIMEOUT, 0.05)
    while True:
        await asyncio.sleep(interval)
        current.beat()
