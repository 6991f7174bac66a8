"""A due-time queue: the discrete-event core that makes simulated jobs finish.

Every job that completes later (a sync, a media item, a delivery) pushes an event with its due time.
``pop_due(now)`` yields events in due order, so work triggered by one event (auto_clone generating
after a sync, auto_publish approving after the media) is stamped with the simulated time it really
happened at and, if it is also due, completes in the same pass. That is what lets a clock jump make
"everything due" complete in one call.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(order=True, frozen=True)
class Event:
    due: float
    seq: int
    kind: str = field(compare=False)
    ref: str = field(compare=False)


class EventQueue:
    """Min-heap of :class:`Event` by due time (ties in insertion order)."""

    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._counter = itertools.count()

    def push(self, due: float, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, Event(due, next(self._counter), kind, ref))

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> Iterator[Event]:
        """Pop events due at or before ``now``; events pushed meanwhile are seen too."""
        while self._heap and self._heap[0].due <= now:
            yield heapq.heappop(self._heap)

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
