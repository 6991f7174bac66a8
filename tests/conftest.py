"""Shared fixtures: a localstripe per session, a fresh simulator per test, its admin client.

``simulator`` depends on ``simulator_config``; a test module that needs other knobs overrides that
fixture (``@pytest.fixture def simulator_config(localstripe): return SimulatorConfig(...)``) and gets
the same lifecycle: a free loopback port, started before the test, stopped after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from devstack.localstripe import LocalStripe
from simulator.admin import SimulatorAdmin
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer

SIM_TIME_SCALE = 0.01
SIM_SEED = 1234


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """API base URL (``http://127.0.0.1:<port>``) of a localstripe process shared by the session."""
    with LocalStripe() as server:
        yield server.url


@pytest.fixture
def simulator_config(localstripe: str) -> SimulatorConfig:
    """Knobs of the per-test simulator: free port, time scale 0.01, fixed seed, this session's Stripe."""
    return SimulatorConfig(
        host="127.0.0.1",
        port=0,
        time_scale=SIM_TIME_SCALE,
        seed=SIM_SEED,
        stripe_api_base=localstripe,
        reconcile_interval_seconds=0.2,
    )


@pytest.fixture
async def simulator(simulator_config: SimulatorConfig) -> AsyncIterator[SimulatorServer]:
    """A running simulator (``.base_url`` for the client, ``.origin``, ``.admin_url``, ``.simulator``)."""
    async with SimulatorServer(simulator_config) as server:
        yield server


@pytest.fixture
async def sim_admin(simulator: SimulatorServer) -> AsyncIterator[SimulatorAdmin]:
    """Admin API client bound to the ``simulator`` fixture."""
    async with SimulatorAdmin(simulator.origin) as admin:
        yield admin
