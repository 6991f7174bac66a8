"""The guide's own polling strategies as plain asyncio loops over the `reelmirror` client.

Two loops, exactly as the vendor's guide writes them: the fixed loop of its curl examples (check, then
`sleep 15` for syncs, `sleep 10` for media and deliveries) and the backoff loop of its "Polling Best
Practices" (check, then sleep 5 s, growing by half each time, at most 60 s). Both check at once when they
start. They measure on the simulated clock: `scale` turns its seconds into real ones, `now()` reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reelmirror.client import ReelMirrorClient

__all__ = ["FIXED_INTERVALS", "GUIDE_STRATEGIES", "Detection", "JobRef", "guide_backoff", "guide_fixed", "is_done"]

#: The sleeps of the guide's fixed loops, per job kind (simulated seconds).
FIXED_INTERVALS = {"sync": 15.0, "image": 10.0, "video": 10.0, "delivery": 10.0}
BACKOFF_START, BACKOFF_FACTOR, BACKOFF_CAP = 5.0, 1.5, 60.0
#: A loop gives up after this many checks (the guide's own `max_attempts=60`).
MAX_CHECKS = 60


@dataclass(frozen=True)
class JobRef:
    """A job as the bench knows it: its kind (sync, image, video, delivery) and the id the API polls."""

    kind: str
    id: str


@dataclass(frozen=True)
class Detection:
    """How a loop ended: checks made, and when (simulated clock) it saw the job done (None: gave up)."""

    polls: int
    seen_done_at: float | None


async def is_done(client: ReelMirrorClient, job: JobRef) -> bool:
    """One check, with the guide's terminal condition for the kind."""
    if job.kind == "sync":
        return (await client.get_sync_job(job.id)).status in ("completed", "failed", "skipped")
    if job.kind == "delivery":
        post = await client.get_publishing_post(job.id)
        return bool(post.deliveries) and all(d.status in ("published", "failed") for d in post.deliveries)
    media = (await client.get_generated_post(job.id)).media_items
    return bool(media) and all(m.status in ("completed", "failed") for m in media)


Sleep = Callable[[float], Awaitable[None]]


async def _loop(
    client: ReelMirrorClient, job: JobRef, delays: Callable[[int], float], now: Callable[[], float], sleep: Sleep
) -> Detection:
    for check in range(1, MAX_CHECKS + 1):
        if await is_done(client, job):
            return Detection(check, now())
        await sleep(delays(check))
    return Detection(MAX_CHECKS, None)


async def guide_fixed(client: ReelMirrorClient, job: JobRef, now: Callable[[], float], scale: float) -> Detection:
    """`while true; check; sleep N; done` with the guide's N for the kind."""
    interval = FIXED_INTERVALS[job.kind]
    return await _loop(client, job, lambda _: interval, now, lambda s: asyncio.sleep(s * scale))


async def guide_backoff(client: ReelMirrorClient, job: JobRef, now: Callable[[], float], scale: float) -> Detection:
    """The guide's `poll_until_terminal`: sleep min(delay, 60) with delay 5, 7.5, 11.25 ..."""

    def delay(check: int) -> float:
        return min(BACKOFF_START * BACKOFF_FACTOR ** (check - 1), BACKOFF_CAP)

    return await _loop(client, job, delay, now, lambda s: asyncio.sleep(s * scale))


GUIDE_STRATEGIES = {"guide_fixed": guide_fixed, "guide_backoff": guide_backoff}
