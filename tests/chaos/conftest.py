"""The real stack for chaos tests: one per module, with short fault waits so that retries, not sleeps, dominate.

Two knobs differ from the integration stack, both for the length of a run and neither for its behaviour:
the simulator's rate-limit window is 5 s instead of 60 s (an injected 429 waits for the window's reset,
like a real one), and a 503 is retried after 0.5 s instead of the guide's 60 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from bench.soak import SoakConfig
from control.connection import connect
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = SoakConfig().stack_config(tmp_path_factory.mktemp("chaos-stack"))
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
async def client(stack: LocalStack) -> Client:
    return await connect(env=stack.client_env(), tracing=False)


@pytest.fixture
async def admin(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    async with SimulatorAdmin(stack.sim_origin) as admin:
        yield admin
        await admin.set_chaos()  # a failing test must not leave faults on for the next one
