"""The fleet's per-key request budget: the governor's rule, the header holds, and a burst from two workers
kept under a real limit (dev server, simulator)."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from activity_helpers import Account
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.budget_rules import BudgetConfig, BudgetState, PermitRequest, budget_id, grant
from activities.fleet_budget import BudgetBusyError, BudgetedTransport, FleetBudget
from activities.reelmirror import ReelMirrorActivities
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin
from simulator.config import RateLimitConfig, RuntimeConfig, SimulatorConfig
from workflows.rate_budget import RateBudgetWorkflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = BudgetConfig(limit=120, window_seconds=60)  # share 0.9: one send every 0.556 s, a burst of 11


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("state", "now", "count", "polls", "sends", "retry_after"),
    [
        (BudgetState(), 0, 1, False, [0], 0),  # never used: at once
        (BudgetState(next_free=at(10)), 9, 1, False, [10], 0),  # in line: at its slot
        (BudgetState(next_free=at(10)), 9, 1, True, [10], 0),  # a poll, a short line: also in line
        (BudgetState(next_free=at(14)), 9, 1, True, [], 5),  # a poll, paid calls queue 5 s: come back
        (BudgetState(next_free=at(30)), 9, 1, False, [], 21),  # a line longer than max_wait: come back
        (BudgetState(next_free=at(0)), 100, 1, False, [100], 0),  # idle long: at once (the burst refills)
        # one worker asking for three together: spaced like three asks
        (BudgetState(next_free=at(10)), 9, 3, False, [10, 10 + 5 / 9, 10 + 10 / 9], 0),
        # four polls behind 1 s of paid calls: two fit in the 2 s a poll may wait, two come back
        (BudgetState(next_free=at(10)), 9, 4, True, [10, 10 + 5 / 9], 9 + 10 / 9 - 8),
    ],
)
def test_the_governor_spaces_sends_and_sends_back_what_would_wait_long(
    state: BudgetState, now: float, count: int, polls: bool, sends: list[float], retry_after: float
) -> None:
    permit, after = grant(state, CONFIG, at(now), PermitRequest(count=count, polls=polls))
    assert [(s - T0).total_seconds() for s in permit.slots] == pytest.approx(sends)
    assert permit.retry_after_seconds == pytest.approx(retry_after)
    assert after.granted == state.granted + len(sends)
    if not sends:
        assert after.next_free == state.next_free, "requests sent back take no place"


@pytest.mark.parametrize("seed", range(5))
def test_no_window_anywhere_holds_more_than_the_limit(seed: int) -> None:
    """Bursty demand for ten minutes: wherever a 60 s window starts, it holds at most 120 sends."""
    rng = random.Random(seed)
    state, sends = BudgetState(), []
    now = 0.0
    while now < 600:
        now += rng.expovariate(5.0)  # 5 requests a second: more than the limit allows
        count = rng.choice([1, 1, 1, 2, 5])  # a worker asking for several waiting requests at once
        permit, state = grant(state, CONFIG, at(now), PermitRequest(count=count, polls=rng.random() < 0.5))
        sends += [(slot - T0).total_seconds() for slot in permit.slots]
    sends.sort()
    assert len(sends) > 900, "the budget is used, not starved"
    for i, start in enumerate(sends):
        inside = sum(1 for s in sends[i:] if s < start + CONFIG.window_seconds)
        assert inside <= CONFIG.limit


def test_budget_ids_never_show_the_key() -> None:
    key = "rm_" + "S" * 32
    assert key not in budget_id(key) and budget_id(key) == budget_id(key) != budget_id(key + "x")


# --- the headers -----------------------------------------------------------------------------------------


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={f"x-ratelimit-{k}": v for k, v in headers.items()})


async def test_little_left_in_the_window_holds_the_key_until_the_reset() -> None:
    budget = FleetBudget(client=None, task_queue="q", config=BudgetConfig(limit=100, window_seconds=60))  # type: ignore[arg-type]
    key = "rm_" + "K" * 32
    budget.observe(key, answer(200, limit="100", remaining="50", reset="30"))
    assert budget.held_for(key) == 0
    budget.observe(key, answer(200, limit="100", remaining="3", reset="40"))
    assert 39 <= budget.held_for(key) <= 40
    with pytest.raises(BudgetBusyError) as held:  # longer than a request may wait: the attempt ends
        await budget.permit(key, polls=False)
    assert 39 <= held.value.retry_after_seconds <= 40


async def test_an_absurd_reset_is_clamped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    budget = FleetBudget(client=None, task_queue="q", config=BudgetConfig(limit=100, window_seconds=60))  # type: ignore[arg-type]
    key = "rm_" + "A" * 32
    milliseconds = str(int(time.time() * 1000) + 30_000)  # a Unix time in milliseconds: the year 57000
    with caplog.at_level(logging.WARNING, logger="reelmirror.fleet_budget"):
        budget.observe(key, answer(429, limit="100", remaining="0", reset=milliseconds))
    assert "absurdly far" in caplog.text
    with pytest.raises(BudgetBusyError) as held:
        await budget.permit(key, polls=False)
    assert held.value.retry_after_seconds <= 120.0  # two windows at most


# --- a burst from two workers against a real limit ----------------------------------------------------------

LIMIT, WINDOW = 20, 2.0


@pytest.fixture
def simulator_config(localstripe: str) -> SimulatorConfig:
    return SimulatorConfig(
        host="127.0.0.1",
        port=0,
        time_scale=1.0,
        seed=11,
        stripe_api_base=localstripe,
        runtime=RuntimeConfig(rate_limit=RateLimitConfig(limit=LIMIT, window_seconds=WINDOW)),
    )


@pytest.fixture
async def governed() -> AsyncIterator[Client]:
    """A dev server (updates need one) with a worker running the governor."""
    dev = Path(sys.executable).parent / "temporal"
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(dev), data_converter=pydantic_data_converter
    ) as env:
        async with Worker(env.client, task_queue="budget", workflows=[RateBudgetWorkflow]):
            yield env.client


async def test_a_burst_from_two_workers_stays_under_the_limit(
    governed: Client,
    acts: ReelMirrorActivities,
    onboarded: Callable[..., Awaitable[Account]],
    sim_admin: SimulatorAdmin,
) -> None:
    account = await onboarded(card=False)
    key = (await acts.store.require(account.ref, "api_key")).get_secret_value()
    config = BudgetConfig(limit=LIMIT, window_seconds=WINDOW)
    workers = [FleetBudget(governed, "budget", config) for _ in range(2)]
    clients = [
        ReelMirrorClient(
            acts.settings.base_url,
            token=key,
            http=httpx.AsyncClient(transport=BudgetedTransport(httpx.AsyncHTTPTransport(), budget)),
        )
        for budget in workers
    ]
    before = (await sim_admin.stats())["by_status"].get("429", 0)
    started = time.monotonic()
    answers = await asyncio.gather(*(clients[i % 2].get_balance() for i in range(50)), return_exceptions=True)
    seconds = time.monotonic() - started
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, failures[:3]
    assert (await sim_admin.stats())["by_status"].get("429", 0) == before, "no 429 from the real limit"
    # 50 requests at 90% of 20 per 2 s: about 5.5 s, not the 0.1 s of an unbudgeted burst
    assert seconds >= 50 * config.interval.total_seconds() * 0.8
