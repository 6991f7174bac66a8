"""Polls that learn: the plan an activity follows, the checks a persona's summary plans, and what one
finished poll teaches. Pure functions: no server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from activities.poll_plan import MIN_REAL_DELAY, PollPlan
from workflows.durations import BINS, DECAY, KINDS, DurationSummary, observe, plan_checks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = PollPlan(kind="image", started_at=T0, check_ages=[30.0, 40.0, 48.0], tail_step_seconds=15)


@pytest.mark.parametrize(
    ("age", "next_age"),
    [
        (0.0, 30.0),  # the first planned check
        (20.0, 30.0),  # well before it: still that one
        (29.4, 30.0),
        (29.8, 40.0),  # within the clock skew of 30: this attempt was the check at 30
        (30.0, 40.0),  # the check at 30 was this attempt: the next planned one
        (30.2, 40.0),  # a little late
        (43.0, 48.0),
        (45.0, 49.5),  # closer to 48 than to 40: it stands for 48, and the tail follows
        (38.0, 48.0),  # the check planned at 30 ran at 38: 40 is less than half its gap away, 48 is next
        (34.0, 40.0),  # ran at 34: 40 is still more than half its gap away
        (48.0, 52.8),  # past the plan: a tenth of the age later
        (100.0, 110.0),
        (400.0, 415.0),  # ... but at most the tail step
    ],
)
def test_the_next_check_follows_the_plan_then_a_bounded_tail(age: float, next_age: float) -> None:
    assert PLAN.next_check_age(age) == pytest.approx(next_age)


@pytest.mark.parametrize(
    ("time_scale", "elapsed_real", "delay_real"),
    [
        (1.0, 12.0, 18.0),  # age 12 s: the check at 30 s is 18 s away
        (0.01, 0.12, 0.18),  # the same plan on a rehearsal clock
        (1.0, 30.0, 10.0),
    ],
)
def test_the_delay_is_the_plan_read_against_the_clock(time_scale: float, elapsed_real: float, delay_real: float):
    plan = PLAN.model_copy(update={"time_scale": time_scale})
    delay = plan.delay(T0 + timedelta(seconds=elapsed_real))
    assert delay.total_seconds() == pytest.approx(delay_real, rel=1e-6)


def test_a_delay_is_never_shorter_than_the_minimum() -> None:
    plan = PLAN.model_copy(update={"time_scale": 0.0001, "check_ages": [48.0]})
    assert plan.delay(T0 + timedelta(seconds=0.0047)) == MIN_REAL_DELAY


def test_the_first_delay_waits_for_the_first_check_and_never_goes_negative() -> None:
    assert PLAN.first_delay(T0) == timedelta(seconds=30)
    assert PLAN.first_delay(T0 + timedelta(seconds=31)) == timedelta(0)
    assert PLAN.model_copy(update={"check_ages": []}).first_delay(T0) == timedelta(0)


def test_checks_before_lists_what_a_poll_has_tried() -> None:
    assert PLAN.checks_before(45.0) == [30.0, 40.0]
    assert PLAN.checks_before(48.0) == [30.0, 40.0, 48.0]
    assert PLAN.checks_before(10.0) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_persona_that_knows_nothing_never_checks_before_the_documented_minimum(kind: str) -> None:
    spec = KINDS[kind]
    plan = plan_checks(DurationSummary(), kind)
    assert plan.ages[0] > spec.low, "no job can be done before the documented minimum"
    assert list(plan.ages) == sorted(plan.ages)
    assert plan.ages[-1] >= spec.high * 0.99, "the plan covers the documented range"
    assert plan.expected_lag_seconds <= spec.lag_budget_seconds * 1.01


@pytest.mark.parametrize(
    ("kind", "low", "high", "max_polls"),
    [("sync", 120, 140, 2.5), ("image", 40, 48, 2.5), ("video", 120, 140, 2.5), ("delivery", 20, 24, 2.5)],
)
def test_a_narrow_band_is_learned_from_a_few_jobs(kind: str, low: float, high: float, max_polls: float) -> None:
    rng = random.Random(7)
    summary = DurationSummary()
    for _ in range(8):
        duration = rng.uniform(low, high)
        checks = [a for a in plan_checks(summary, kind).ages]
        done = next((i for i, a in enumerate(checks) if a >= duration), len(checks) - 1)
        summary = observe(summary, kind, checks[done - 1] if done else 0.0, checks[done])
    plan = plan_checks(summary, kind)
    assert plan.expected_polls <= max_polls
    assert plan.ages[0] >= low * 0.8, "learned: no check long before the band"
    assert plan.expected_lag_seconds <= 0.1 * (low + high) / 2


def test_observe_keeps_the_summary_small_and_bounded() -> None:
    summary = DurationSummary()
    for i in range(200):
        summary = observe(summary, "video", 100 + i % 7, 110 + i % 7)
    weights = summary.weights["video"]
    assert len(weights) == BINS
    assert sum(weights) <= 1 / (1 - DECAY) + 0.01
    assert summary.observed["video"] == 200
    assert observe(summary, "unknown-kind", 1, 2) is summary


def test_a_plan_for_a_job_seen_running_starts_after_that_age() -> None:
    plan = plan_checks(DurationSummary(), "video", age=200.0)
    assert plan.ages and plan.ages[0] > 200.0
