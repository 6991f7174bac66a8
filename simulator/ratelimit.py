"""Per-key request budgets with the ``X-RateLimit-*`` headers every ``/v1`` response carries.

A fixed window on the real clock (the client waits in real time, whatever the simulated time
scale). The reset is announced as a Unix time or as seconds to wait, by configuration, because the
guide does not say which and the client must accept both; ``Retry-After`` accompanies a 429 unless
disabled, so clients that ignore the ``X-`` headers are tested too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from simulator.config import RateLimitConfig


def format_reset(reset_at: float, reset_format: str, now: float) -> str:
    """``X-RateLimit-Reset`` value: Unix seconds of the reset, or whole seconds until it."""
    if reset_format == "unix":
        return str(math.ceil(reset_at))
    return str(max(0, math.ceil(reset_at - now)))


def retry_after(reset_at: float, now: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(reset_at - now)))


@dataclass(frozen=True)
class RateLimitInfo:
    limit: int
    remaining: int
    reset_at: float
    allowed: bool

    def headers(self, config: RateLimitConfig, now: float) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": format_reset(self.reset_at, config.reset_format, now),
        }
        if not self.allowed and config.retry_after:
            headers["Retry-After"] = retry_after(self.reset_at, now)
        return headers

    def exhausted(self) -> RateLimitInfo:
        """The same window presented as spent (an injected 429 looks like a real one)."""
        return RateLimitInfo(self.limit, 0, self.reset_at, allowed=False)


class RateLimiter:
    """Fixed windows keyed by bucket (an API key id, or ``ip:<addr>`` when unauthenticated)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, bucket: str, config: RateLimitConfig, now: float | None = None) -> RateLimitInfo:
        """Count one request in ``bucket``'s window; ``allowed`` is False once the budget is spent."""
        now = time.time() if now is None else now
        start, count = self._windows.get(bucket, (now, 0))
        if now >= start + config.window_seconds:
            start, count = now, 0
        count += 1
        self._windows[bucket] = (start, count)
        allowed = count <= config.limit
        return RateLimitInfo(config.limit, max(0, config.limit - count), start + config.window_seconds, allowed)

    def clear(self) -> None:
        self._windows.clear()
