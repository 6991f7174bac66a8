"""The real stack for integration tests: Temporal dev server, simulator, localstripe and a worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from control.connection import connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin

TIME_SCALE = 0.01


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack per test module (start-up takes a few seconds); modules that kill processes get their own."""
    config = StackConfig(time_scale=TIME_SCALE, ui_port=None, state_dir=tmp_path_factory.mktemp("stack"))
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
async def client(stack: LocalStack) -> Client:
    return await connect(env=stack.client_env(), tracing=False)


@pytest.fixture
async def admin(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    admin = SimulatorAdmin(stack.sim_origin)
    try:
        yield admin
    finally:
        await admin.aclose()
