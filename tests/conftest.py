"""Shared fixtures: a localstripe per session, a fresh simulator per test, and the real stack per module.

``simulator`` depends on ``simulator_config``; a test module that needs other knobs overrides that
fixture (``@pytest.fixture def simulator_config(localstripe): return SimulatorConfig(...)``) and gets
the same lifecycle: a free loopback port, started before the test, stopped after it.

``stack`` (Temporal dev server, simulator, localstripe and worker processes) is one per test module,
because starting it takes seconds and crash tests kill its processes; ``stack_config`` and
``worker_count`` are the knobs a directory or module overrides. At teardown every process group the
stack started must be gone: a test that leaks a worker or a server would corrupt the next module's
picture of what runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from control.connection import connect
from devstack.localstripe import LocalStripe
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer

SIM_TIME_SCALE = 0.01
SIM_SEED = 1234
STACK_TIME_SCALE = 0.01


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


# --- the real stack, one per module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    """Knobs of the module's stack: time scale 0.01, no Web UI, state in a fresh temp dir."""
    return StackConfig(time_scale=STACK_TIME_SCALE, ui_port=None, state_dir=tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="module")
def worker_count() -> int:
    """Worker processes the stack starts with (the two-worker crash module asks for two)."""
    return 1


@pytest.fixture(scope="module")
def stack(stack_config: StackConfig, worker_count: int) -> Iterator[LocalStack]:
    running = LocalStack(stack_config)
    groups: dict[str, int] = {}
    try:
        running.start(workers=worker_count)
        yield running
    finally:
        groups = _process_groups(running)
        running.stop()
    leftovers = {name: pgid for name, pgid in groups.items() if _alive(pgid)}
    assert not leftovers, f"processes left running after the stack stopped: {leftovers}"


@pytest.fixture(scope="module")
async def client(stack: LocalStack) -> Client:
    return await connect(env=stack.client_env(), tracing=False)


@pytest.fixture
async def admin(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    """The stack's simulator admin; faults a test set are cleared after it, passed or failed."""
    async with SimulatorAdmin(stack.sim_origin) as sim_admin:
        yield sim_admin
        await sim_admin.set_chaos()


def _process_groups(stack: LocalStack) -> dict[str, int]:
    """Every process group the stack started so far (dead workers included), by name."""
    groups = {worker.name: worker.pid for worker in stack.workers}
    if stack.temporal.process is not None:
        groups["temporal"] = stack.temporal.process.pid
    if stack.simulator is not None:
        groups["simulator"] = stack.simulator.pid
    if stack.codec_server is not None and stack.codec_server.process is not None:
        groups["codec-server"] = stack.codec_server.process.pid
    if stack.localstripe is not None and stack.localstripe.process is not None:
        groups["localstripe"] = stack.localstripe.process.pid
    return groups


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id was reused by someone else's group: not ours any more
        return False
    return True
