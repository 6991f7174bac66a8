"""A real stack per crash-test module, and proof that nothing of it outlives the module.

Each module gets its own stack because its tests kill processes in it (workers, or the Temporal server).
`stack_config` and `worker_count` are the knobs a module overrides (the Temporal-restart module asks for a
persistent server, the two-worker module for two workers).
At teardown every process group the stack started must be gone: a crash test that leaks a worker or a
server would corrupt the next module's picture of what runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from crash_helpers import RecoveryClock
from temporalio.client import Client

from control.connection import connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin

TIME_SCALE = 0.01


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig(time_scale=TIME_SCALE, ui_port=None, state_dir=tmp_path_factory.mktemp("crash-stack"))


@pytest.fixture(scope="module")
def worker_count() -> int:
    """Worker processes the stack starts with (the two-worker module asks for two)."""
    return 1


def _process_groups(stack: LocalStack) -> dict[str, int]:
    """Every process group the stack started so far (dead workers included), by name."""
    groups = {worker.name: worker.pid for worker in stack.workers}
    if stack.temporal.process is not None:
        groups["temporal"] = stack.temporal.process.pid
    if stack.simulator is not None:
        groups["simulator"] = stack.simulator.pid
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
    async with SimulatorAdmin(stack.sim_origin) as sim_admin:
        yield sim_admin


@pytest.fixture(scope="module")
def recovery(request: pytest.FixtureRequest) -> Iterator[RecoveryClock]:
    """Kill-to-done seconds of the module's cases, printed as one table when the module ends."""
    clock = RecoveryClock()
    yield clock
    if clock.times:
        print("\n" + clock.table(f"recovery times ({request.module.__name__})"), flush=True)
