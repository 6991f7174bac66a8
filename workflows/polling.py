"""Polls that learn, as the workflows run them: a plan per job, no check before one can pay off, and what
every finished poll teaches the persona.

A persona keeps a `DurationSummary` (carried across continue-as-new) and hands it to its posts; each poll
of a sync job, a post's media or its deliveries gets a `PollPlan` from it, waits on a durable timer until
the first planned check (a job younger than the shortest plausible duration cannot be done, so checking
it at once is a wasted call), and then lets the poll activity follow the plan. When the poll ends, the
job's duration is known to lie between the last check that found it running and the one that found it
done: that observation goes back to the persona's summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.poll_plan import PollPlan
    from workflows.durations import KINDS, DurationObservation, DurationSummary, observe, plan_checks
    from workflows.models import PostProgress
    from workflows.policies import Timing

__all__ = ["FIRST_CHECK_PATCH", "learn", "learn_from_progress", "observation", "plan_poll", "wait_for_first_check"]

#: Runs recorded before polls waited for their first planned check replay without that timer.
FIRST_CHECK_PATCH = "poll-first-check-timer"


def plan_poll(kind: str, summary: DurationSummary | None, timing: Timing, started_at: datetime) -> PollPlan | None:
    """The plan for a job of `kind` that started at `started_at`, or None for kinds that are not learned."""
    spec = KINDS.get(kind)
    if spec is None:
        return None
    age = max((workflow.now() - started_at).total_seconds(), 0.0) / timing.time_scale
    checks = plan_checks(summary or DurationSummary(), kind, age)
    return PollPlan(
        kind=kind,
        started_at=started_at,
        time_scale=timing.time_scale,
        check_ages=list(checks.ages),
        tail_step_seconds=spec.tail_step_seconds,
    )


async def wait_for_first_check(plan: PollPlan | None) -> None:
    """A durable timer until the plan's first check (nothing for runs recorded before it existed)."""
    if plan is None or not workflow.patched(FIRST_CHECK_PATCH):
        return
    delay = plan.first_delay(workflow.now())
    if delay.total_seconds() > 0:
        first = plan.check_ages[0]
        await workflow.sleep(delay, summary=f"first {plan.kind} check, {first:.0f} s after the job started")


def observation(plan: PollPlan | None) -> DurationObservation | None:
    """What a poll that ended now saw: done at the planned check that found it done, still running at the
    one before (0 when the first check found it done).

    Planned ages, not the clock: a check runs a little after its planned age and the workflow hears of
    it later still, and learning from those moments would shift every plan later by that delay, round
    after round."""
    if plan is None:
        return None
    ended = plan.age(workflow.now())
    checks = plan.checks_before(ended)
    done_at = checks[-1] if checks else ended
    not_done_at = checks[-2] if len(checks) >= 2 else 0.0
    return DurationObservation(kind=plan.kind, not_done_at=round(not_done_at, 3), done_at=round(done_at, 3))


def learn(summary: DurationSummary, observations: Iterable[DurationObservation | None]) -> DurationSummary:
    """The summary after these observations, in order."""
    for seen in observations:
        if seen is not None:
            summary = observe(summary, seen.kind, seen.not_done_at, seen.done_at)
    return summary


def learn_from_progress(
    summary: DurationSummary, previous: PostProgress | None, progress: PostProgress
) -> DurationSummary:
    """The persona's summary after a post's report: each kind a post observed is learned once (reports
    repeat what came before; a repeated end report of a post no longer in flight teaches nothing)."""
    if previous is None and progress.finished:
        return summary
    seen = {o.kind for o in previous.observations} if previous else set()
    return learn(summary, (o for o in progress.observations if o.kind not in seen))
