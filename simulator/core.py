"""The shared core every service works on: config, clock, randomness, state, ledger, event queue.

Services receive this one object instead of a handful of collaborators, and a reset replaces the
parts that hold run data (state, ledger, queue, random streams) in one place.
"""

from __future__ import annotations

import secrets

from simulator.clock import SimClock
from simulator.config import RuntimeConfig, SimulatorConfig
from simulator.events import EventQueue
from simulator.ledger import Ledger
from simulator.rng import SeededRandom
from simulator.state import SimState


class SimCore:
    """Mutable run data plus the fixed configuration of the run."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.seed = config.seed if config.seed is not None else secrets.randbelow(2**31)
        self.runtime: RuntimeConfig = config.runtime.model_copy(deep=True)
        self.clock = SimClock(config.time_scale)
        self.rng = SeededRandom(self.seed)
        self.state = SimState()
        self.ledger = Ledger()
        self.events = EventQueue()
        self.origin = f"http://{config.host}:{config.port}"

    def now(self) -> float:
        return self.clock.now()

    def new_id(self) -> str:
        return self.rng.new_id()

    def reset(self, *, config: bool) -> None:
        """Empty all run data; the random streams start again from the seed (repeatable reruns)."""
        self.state = SimState()
        self.ledger.clear()
        self.events.clear()
        self.rng = SeededRandom(self.seed)
        if config:
            self.runtime = self.config.runtime.model_copy(deep=True)
