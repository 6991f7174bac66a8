"""Fixtures of the activity tests: real activities against the real simulator and localstripe.

The simulator runs at time scale 1.0 here (simulated time = real time): no sync, render or delivery
finishes by itself within a test, so "called before the job is done" is certain, and the tests finish
jobs explicitly with `advance_clock`. Each test gets its own simulator (tests/conftest.py), its own
secret store, and its own `ReelMirrorActivities` whose pool is closed afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from activity_helpers import PUBLISHABLE_KEY, RETRY_503_SECONDS, Account, Runner, onboard

from activities.mailbox import SimulatorMailbox
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import FileSecretStore, SecretStore
from activities.settings import ActivitySettings
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer


@pytest.fixture
def simulator_config(localstripe: str) -> SimulatorConfig:
    """Time scale 1.0 (jobs finish only when a test advances the clock); everything else as shared."""
    return SimulatorConfig(
        host="127.0.0.1",
        port=0,
        time_scale=1.0,
        seed=4321,
        stripe_api_base=localstripe,
        reconcile_interval_seconds=0.2,
    )


@pytest.fixture
def settings(simulator: SimulatorServer, localstripe: str, tmp_path: Path) -> ActivitySettings:
    return ActivitySettings(
        base_url=simulator.base_url,
        secrets_dir=tmp_path / "secrets",
        mailbox_url=simulator.origin,
        auth_origin=simulator.origin,
        stripe_api_base=localstripe,
        stripe_publishable_key=PUBLISHABLE_KEY,
        http_timeout_seconds=10,
        service_unavailable_retry_seconds=RETRY_503_SECONDS,
        payment_method="pm_card_visa",
    )


@pytest.fixture
def store(settings: ActivitySettings) -> SecretStore:
    return FileSecretStore(settings.secrets_dir)


@pytest.fixture
async def acts(settings: ActivitySettings, store: SecretStore) -> AsyncIterator[ReelMirrorActivities]:
    activities = ReelMirrorActivities(settings, store, SimulatorMailbox(settings.mailbox_url or ""))
    yield activities
    await activities.aclose()


@pytest.fixture
def run() -> Runner:
    return Runner()


@pytest.fixture
def onboarded(run: Runner, acts: ReelMirrorActivities) -> Callable[..., Awaitable[Account]]:
    """`await onboarded(card=True)`: a fresh account with a key (and the card and bonus)."""

    async def make(**kwargs: Any) -> Account:
        return await onboard(run, acts, **kwargs)

    return make
