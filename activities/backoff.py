"""The backoff after a 502, a network error or an unreadable answer: counted from those failures only.

Why not the retry policy's backoff: Temporal computes it from the attempt number, and every attempt
counts, including those that waited for a 429's reset or a 503's minute. A call that met two 429s and a
503 would then wait 8 s after its first 502, and a few faults of any kind would push one unlucky call into
minutes of backoff. Here the activity counts its backoff failures in a row in its heartbeat details (they
survive into the next attempt) and sets the delay itself; waits the server demanded stay exactly the
server's, and end the streak.
"""

from __future__ import annotations

from datetime import timedelta

from activities.liveness import progress

__all__ = ["BACKOFF_FACTOR", "BACKOFF_INITIAL", "BACKOFF_MAX", "backoff_delay", "next_backoff", "server_waited"]

BACKOFF_INITIAL = timedelta(seconds=0.5)
BACKOFF_FACTOR = 2.0
#: Six failures in a row wait 31.5 s in all; each later one at most this.
BACKOFF_MAX = timedelta(seconds=30)

_KEY = "backoff_failures"


def backoff_delay(failures: int) -> timedelta:
    """The wait after the `failures`-th backoff failure of one activity (1, 2, ...)."""
    seconds = BACKOFF_INITIAL.total_seconds() * BACKOFF_FACTOR ** max(failures - 1, 0)
    return min(timedelta(seconds=seconds), BACKOFF_MAX)


def next_backoff() -> timedelta:
    """Count one more backoff failure of the running activity and return the wait before its retry.

    The count is of backoff failures in a row: an attempt the server told to wait (a 429, a 503) ends the
    streak, since the upstream answered and what it said is not a 502 of its own."""
    current = progress()
    failures = int(current.get(_KEY, 0) or 0) + 1
    current.record(**{_KEY: failures})
    return backoff_delay(failures)


def server_waited() -> None:
    """The running activity's attempt ends with a wait the server demanded: a later 502 starts afresh."""
    current = progress()
    if current.get(_KEY):
        current.record(**{_KEY: 0})
