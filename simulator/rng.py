"""Seeded randomness, split into independent streams.

One ``--seed`` makes a run repeatable. Separate streams (ids, durations, failures, chaos, backlog)
keep one concern's draws from shifting another's: turning chaos on does not change how long a video
takes. Creator backlogs use a stream derived from the creator itself, so the same creator has the
same backlog whatever order sources are added in. Secrets (API keys, tokens) never come from here:
they use :mod:`secrets`.
"""

from __future__ import annotations

import random
import uuid

from simulator.config import DurationRange


class SeededRandom:
    """Named, independently seeded ``random.Random`` streams derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.ids = self.stream("ids")
        self.durations = self.stream("durations")
        self.failures = self.stream("failures")
        self.chaos = self.stream("chaos")

    def stream(self, name: str) -> random.Random:
        """A generator seeded from the run seed and ``name`` (stable across runs)."""
        return random.Random(f"{self.seed}:{name}")

    def new_id(self) -> str:
        """A UUID4-shaped id (the real service's ids are UUIDs), repeatable under the seed."""
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def duration(self, span: DurationRange) -> float:
        """A duration drawn uniformly from ``span`` (simulated seconds)."""
        return self.durations.uniform(span.min, span.max)

    def fails(self, rate: float) -> bool:
        """Whether an outcome with failure probability ``rate`` fails."""
        return rate > 0 and self.failures.random() < rate
