"""When a polling activity checks its job again: the plan its workflow computed, read against the clock.

Why the workflow plans and the activity only reads the plan: the plan comes from what the persona learned
about its jobs' durations (deterministic workflow state), and computing it once per job keeps every poll
attempt cheap. The activity knows the one thing the workflow cannot: how old the job is at the moment
this attempt found it unfinished, so it turns the plan into the `next_retry_delay` of its `NotReady`.

Ages are in the service's seconds; `time_scale` shrinks them to real seconds in rehearsals against the
simulator (whose clock runs at the same scale). Pure pydantic: workflows import it inside the sandbox.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PollPlan", "SoonerThanTheServer", "next_check"]

#: A check that runs a little early by this much (clock skew between machines) still counts as made.
SKEW_SECONDS = 0.5
#: Past the plan a job is checked every tenth of its age, within these bounds (service seconds).
TAIL_MIN_SECONDS = 1.0
#: The shortest real delay an attempt asks for, so a plan can never make a hot loop.
MIN_REAL_DELAY = timedelta(milliseconds=10)
#: Temporal retries an activity no sooner than about a second after it failed, whatever delay it asked for.
SERVER_MIN_RETRY = timedelta(seconds=1)
#: The longest one attempt waits in itself for checks due sooner than the server would retry it.
MAX_WAIT_IN_ATTEMPT = timedelta(seconds=10)


class PollPlan(BaseModel):
    """Planned checks of one job: ages (service seconds since `started_at`), then a bounded tail."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    started_at: datetime
    time_scale: float = Field(default=1.0, gt=0, le=1.0)
    check_ages: list[float] = Field(default_factory=list)
    tail_step_seconds: float = Field(default=15.0, gt=0)

    def age(self, now: datetime) -> float:
        """The job's age at `now`, in service seconds."""
        return max((now - self.started_at).total_seconds(), 0.0) / self.time_scale

    def next_check_age(self, age: float) -> float:
        """The first check after `age`: the next planned one, or past the plan a tenth of the age later.

        A check that ran late (the server retried the attempt after a second, a busy worker) stands for
        the planned check it was closest to: a planned check already more than halfway behind it is
        skipped, rather than read again a moment later."""
        previous: float | None = None
        for planned in self.check_ages:
            halfway = previous is None or planned - age >= 0.5 * (planned - previous)
            if planned > age + SKEW_SECONDS and halfway:
                return planned
            previous = planned
        return age + min(max(0.1 * age, TAIL_MIN_SECONDS), self.tail_step_seconds)

    def delay(self, now: datetime) -> timedelta:
        """Real time from `now` until the next check: the `next_retry_delay` of a not-ready attempt."""
        age = self.age(now)
        seconds = (self.next_check_age(age) - age) * self.time_scale
        return max(timedelta(seconds=seconds), MIN_REAL_DELAY)

    def first_delay(self, now: datetime) -> timedelta:
        """Real time from `now` until the first planned check (zero if it is due or there is none)."""
        if not self.check_ages:
            return timedelta(0)
        seconds = (self.check_ages[0] - self.age(now)) * self.time_scale
        return max(timedelta(seconds=seconds), timedelta(0))

    def checks_before(self, age: float) -> list[float]:
        """The planned and tail checks made up to `age` (what a poll that ended then has tried)."""
        made: list[float] = []
        current = 0.0
        while True:
            nxt = self.next_check_age(current)
            if nxt > age + SKEW_SECONDS or len(made) > 10_000:
                return made
            made.append(nxt)
            current = nxt


def next_check(plan: PollPlan | None) -> timedelta | None:
    """The delay before a not-ready job's next check: from its plan, or None (the retry policy's)."""
    return plan.delay(datetime.now(UTC)) if plan is not None else None


class SoonerThanTheServer:
    """Checks due sooner than Temporal would retry the attempt are waited for inside the attempt.

    The server spaces retries by at least `SERVER_MIN_RETRY`; a plan's checks are seconds apart in
    production, but on a rehearsal clock (time scale 0.05: a second is twenty simulated seconds) waiting
    for the server would make every check late. At most `MAX_WAIT_IN_ATTEMPT` per attempt, so an attempt
    stays short and a job that outlives its plan goes back to the server's retries.
    """

    def __init__(self, plan: PollPlan | None) -> None:
        self._plan = plan
        self._deadline = time.monotonic() + MAX_WAIT_IN_ATTEMPT.total_seconds()

    async def wait(self) -> bool:
        """Wait for the next check and return True when it is due soon enough; else False (raise NotReady)."""
        if self._plan is None:
            return False
        delay = self._plan.delay(datetime.now(UTC)).total_seconds()
        if delay >= SERVER_MIN_RETRY.total_seconds() or time.monotonic() + delay > self._deadline:
            return False
        await asyncio.sleep(delay)
        return True
