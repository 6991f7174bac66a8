"""Request and fault counters for ``GET /_sim/stats`` (benchmarks read them after a run)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulator.malformed import MALFORMED_KINDS

FAULT_KINDS: tuple[str, ...] = ("429", "502", "503", "lost", "latency", *MALFORMED_KINDS, "late_commit")


class Stats:
    """Counts answered requests by status and injected faults by kind."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})

    def request(self) -> None:
        self.requests += 1

    def status(self, status: int | str) -> None:
        self.by_status[str(status)] += 1

    def fault(self, kind: str) -> None:
        self.faults[kind] += 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(sorted(self.by_status.items())),
            "faults": {kind: self.faults[kind] for kind in FAULT_KINDS},
        }

    def clear(self) -> None:
        self.requests = 0
        self.by_status.clear()
        self.faults = Counter({kind: 0 for kind in FAULT_KINDS})
