"""The fault tail of a soak: how long each API call took beyond the waits the server demanded.

A 429 asks for its reset, a 503 for its minute (shrunk in rehearsals): those waits are the server's.
Everything else a call spends (our backoff after 502s and network errors, redone work, latency) is ours,
and the product's promise is that no call spends more than 30 s of it. The demanded waits come from the
worker's own log lines (`activity attempt failed, will retry: TYPE: ... (next delay D) ({...info...})`),
the call durations from workflow history.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.histories import POLL_ACTIVITIES, ActivityRun

__all__ = ["DEMANDED", "CallTail", "demanded_waits", "tails"]

#: Error types whose retry delay the server set.
DEMANDED = frozenset({"RATE_LIMITED", "SERVICE_UNAVAILABLE"})
_RETRY = re.compile(r"will retry: (?P<type>[A-Z_]+): .*\(next delay (?P<delay>[^)]*)\) \((?P<info>\{.*\})\)\s*$")


@dataclass(frozen=True)
class CallTail:
    workflow_id: str
    activity: str
    attempts: int
    seconds: float
    demanded: float

    @property
    def beyond(self) -> float:
        return self.seconds - self.demanded


def _seconds(text: str) -> float:
    """`0:00:05.500000` (a timedelta's str) in seconds; anything else 0."""
    match = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not match:
        return 0.0
    days, hours, minutes, seconds = match.groups()
    return timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
    ).total_seconds()


def demanded_waits(logs: Path) -> dict[tuple[str, str], float]:
    """(workflow id, activity id) -> seconds its retries waited because the server said so."""
    waits: dict[tuple[str, str], float] = defaultdict(float)
    for log in sorted(logs.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = _RETRY.search(line)
            if not match or match.group("type") not in DEMANDED:
                continue
            try:
                info = ast.literal_eval(match.group("info"))
            except (ValueError, SyntaxError):
                continue
            waits[(info.get("workflow_id", ""), str(info.get("activity_id", "")))] += _seconds(match.group("delay"))
    return waits


def tails(runs: list[ActivityRun], logs: Path) -> list[CallTail]:
    """Every API call (polls left out: their waits are the plan's), slowest beyond its demanded waits first."""
    waits = demanded_waits(logs)
    found = [
        CallTail(
            run.workflow_id, run.activity, run.attempts, run.seconds, waits.get((run.workflow_id, run.activity_id), 0.0)
        )
        for run in runs
        if run.activity not in POLL_ACTIVITIES
    ]
    return sorted(found, key=lambda t: t.beyond, reverse=True)
