"""The simulated clock every documented duration runs on.

``time_scale`` is real seconds per simulated second: at 0.01 a 90-second image takes 0.9 real
seconds. Simulated time starts at the real wall-clock time of the start, runs ``1 / time_scale``
times faster, and can be jumped forward (``POST /_sim/clock/advance``) so tests never sleep through
a five-minute video or a fifteen-minute cooldown. It never goes backwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    """Monotonic simulated time in Unix seconds."""

    def __init__(self, time_scale: float, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._sim_start = time.time() if start is None else start
        self._real_start = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        """Current simulated time (Unix seconds)."""
        elapsed_real = time.monotonic() - self._real_start
        return self._sim_start + elapsed_real / self.time_scale + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` of simulated time; returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self.now()

    def to_real(self, sim_seconds: float) -> float:
        """How many real seconds a simulated duration takes at this scale."""
        return max(0.0, sim_seconds) * self.time_scale


def iso(timestamp: float | None) -> str | None:
    """ISO-8601 UTC with a ``Z`` suffix (the wire format of every timestamp), or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
