"""Poll options: a worker crash must cost a poll a late answer, never its give-up budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows import policies
from workflows.policies import PollKind, Timing


@pytest.mark.parametrize("kind", list(PollKind))
@pytest.mark.parametrize("time_scale", [1.0, 0.01])
def test_a_lost_attempt_is_retried_within_the_give_up_budget(kind: PollKind, time_scale: float) -> None:
    timing = Timing(time_scale=time_scale)
    options = policies.poll(timing, kind)
    budget = options.schedule_to_close_timeout
    assert budget is not None
    attempt = options.start_to_close_timeout
    give_up = timing.scaled(timing.schedule(kind).give_up_after_seconds)

    # An attempt that died with its worker is noticed after `attempt`: the budget outlasts that timeout
    # (at time scale 0.01 the schedule's hour is 36 s, shorter than the 60 s attempt timeout) and still
    # leaves the schedule's whole polling time.
    assert budget > attempt
    assert budget - attempt == give_up


def test_the_production_budget_is_the_documented_hour_plus_one_attempt() -> None:
    options = policies.poll(Timing(), PollKind.DELIVERY)
    assert options.schedule_to_close_timeout == timedelta(hours=1) + policies.API_CALL_TIMEOUT
    assert options.config()["schedule_to_close_timeout"] == options.schedule_to_close_timeout


def test_every_poll_kind_has_a_default_schedule_and_overrides_win() -> None:
    assert set(policies.DEFAULT_SCHEDULES) == set(PollKind)
    fast = policies.PollSchedule(first_check_seconds=1, max_interval_seconds=2, give_up_after_seconds=3)
    timing = Timing.model_validate({"poll": {"image": fast.model_dump()}})
    assert timing.schedule(PollKind.IMAGE) == fast
    assert timing.schedule(PollKind.VIDEO) == policies.DEFAULT_SCHEDULES[PollKind.VIDEO]
