"""An account's request budget, shared by every worker: the rules the governor workflow applies.

Why a shared budget: the service limits each API key (the simulator: 120 requests a minute), and every
persona of an account, on every worker, spends from that one limit. Learning it from 429s costs each
unlucky call a wait of up to a minute. So one governor per key (`workflows.rate_budget`) hands out send
times, and every request waits for its own.

The rule is a leaky bucket: send times are spaced `window / (limit * share)` apart, and a bucket that
was idle may send a small burst at once. Any window of `window_seconds` then holds at most
`limit * share` spaced requests plus the burst, which is kept within the remaining `1 - share` of the
limit, so the fleet stays under the limit wherever the server's window starts. Nobody queues long: a
request whose send time would be more than `max_wait_seconds` away (well inside one HTTP deadline) is
told to come back later instead of taking a place, and polls yield to paid calls: they are sent back as
soon as the line is `poll_backlog_seconds` long. Pure functions and models: the workflow imports them
inside the sandbox.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BudgetConfig", "BudgetInput", "BudgetState", "PermitGrant", "PermitRequest", "budget_id", "grant"]


class BudgetConfig(BaseModel):
    """The key's limit and how much of it the fleet plans to use."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(ge=1)  # requests per window
    window_seconds: float = Field(gt=0)
    share: float = Field(default=0.9, gt=0, le=1)
    poll_backlog_seconds: float = Field(default=2.0, ge=0)
    max_wait_seconds: float = Field(default=15.0, ge=0)

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.window_seconds / (self.limit * self.share))

    @property
    def burst(self) -> int:
        """Sends an idle bucket may make at once: what `share` leaves of the limit, less one for rounding."""
        return max(0, math.floor(self.limit * (1 - self.share)) - 1)


class BudgetState(BaseModel):
    """When the next send is free (None: never used)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    next_free: datetime | None = None
    granted: int = 0


class BudgetInput(BaseModel):
    config: BudgetConfig
    state: BudgetState = Field(default_factory=BudgetState)


class PermitRequest(BaseModel):
    """`count` requests of one worker asking together (one update, however many wait on that worker)."""

    count: int = Field(default=1, ge=1)
    polls: bool = False  # status polls: they yield to paid calls when those queue


class PermitGrant(BaseModel):
    """Send times for the first `len(slots)` requests, in order; the rest come back after
    `retry_after_seconds` (the line is too long for them)."""

    slots: list[datetime] = Field(default_factory=list)
    retry_after_seconds: float = 0.0


def grant(
    state: BudgetState, config: BudgetConfig, now: datetime, request: PermitRequest
) -> tuple[PermitGrant, BudgetState]:
    """The send times for the request's `count` sends, and the budget after them."""
    earliest = now - config.interval * config.burst
    limit = config.poll_backlog_seconds if request.polls else config.max_wait_seconds
    slots: list[datetime] = []
    next_free = state.next_free
    retry_after = 0.0
    for _ in range(request.count):
        slot = max(next_free or earliest, earliest)
        wait = (slot - now).total_seconds()
        if wait > limit:
            retry_after = wait
            break
        slots.append(max(slot, now))
        next_free = slot + config.interval
    return PermitGrant(slots=slots, retry_after_seconds=retry_after), BudgetState(
        next_free=next_free, granted=state.granted + len(slots)
    )


def budget_id(api_key: str) -> str:
    """The governor's workflow id for a key: a fingerprint, never the key."""
    return "rate-budget-" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
