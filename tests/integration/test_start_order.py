"""Start order does not matter: a worker started before the Temporal server waits for it, then works.

As a compose file or a host reboot starts them: the worker first, logging one line per try while the
server is down, then the server; the worker connects by itself and runs an onboarding to the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from workflows.config import OnboardingInput
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def server_later(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose Temporal server is not started yet (everything else is)."""
    stack = LocalStack(StackConfig(ui_port=None, state_dir=tmp_path_factory.mktemp("start-order")))
    try:
        stack.start(workers=0, temporal=False)
        yield stack
    finally:
        stack.stop()


def wait_for_log(path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s")


def test_a_worker_started_before_temporal_connects_when_it_comes_up(server_later: LocalStack) -> None:
    stack = server_later
    worker = stack.start_worker(wait=False)
    log = wait_for_log(worker.log_path, "is not reachable (try 2", timeout=30)
    assert f"Temporal at {stack.temporal_address} is not reachable (try 1: Connection refused)" in log
    assert worker.alive() and "Traceback" not in log

    stack.temporal.start()
    stack.wait_worker_ready(worker, timeout=60)

    async def onboard() -> str:
        client = await connect(env=stack.client_env(), tracing=False)
        inp = OnboardingInput(email="late-server@reelmirror.test", account_ref="late", timing=Timing(time_scale=0.01))
        handle = await ops.start_onboarding(client, inp, DEFAULT_TASK_QUEUE)
        return (await asyncio.wait_for(handle.result(), timeout=120)).key_fingerprint

    assert asyncio.run(onboard()).startswith("sha256:")
