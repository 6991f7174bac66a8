"""Every activity heartbeats while it runs, and its progress reaches its next attempt.

On a real (local dev) Temporal server: heartbeat timeouts are the server's business, and the test
server's clock is virtual."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.liveness import LivenessInterceptor, progress
from workflows import policies
from workflows.policies import PollKind, Timing

DEV_SERVER = Path(sys.executable).parent / "temporal"


@activity.defn
async def slow_call(seconds: float) -> str:
    """One long call that never heartbeats itself (a slow HTTP answer, a wait for the rate budget)."""
    await asyncio.sleep(seconds)
    return "done"


@activity.defn
async def remembers() -> list[int]:
    """Each attempt adds its number to what earlier attempts recorded, and fails until the third."""
    seen = [*progress().get("attempts", []), activity.info().attempt]
    progress().record(attempts=seen)
    if len(seen) < 3:
        raise ApplicationError("not yet", next_retry_delay=timedelta(milliseconds=50))
    return seen


@workflow.defn
class LivenessWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> list[str]:
        slow = await workflow.execute_activity(
            slow_call,
            seconds,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        attempts = await workflow.execute_activity(
            remembers, start_to_close_timeout=timedelta(seconds=30), heartbeat_timeout=timedelta(seconds=1)
        )
        return [slow, *map(str, attempts)]


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER), data_converter=pydantic_data_converter
    ) as env:
        yield env


async def test_a_long_call_outlives_its_heartbeat_timeout_and_retries_see_earlier_progress(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"liveness-{uuid.uuid4()}"
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[LivenessWorkflow],
        activities=[slow_call, remembers],
        interceptors=[LivenessInterceptor()],
    ):
        result = await dev_env.client.execute_workflow(
            LivenessWorkflow.run, 2.5, id=f"liveness-{uuid.uuid4()}", task_queue=queue
        )
    # 2.5 s in one call with a 1 s heartbeat timeout and a single attempt: only the worker's own
    # heartbeats kept it alive; the third attempt saw what the first two recorded
    assert result == ["done", "1", "2", "3"]


@pytest.mark.parametrize("kind", list(PollKind))
def test_every_activity_option_has_a_heartbeat_timeout_and_outlasts_the_http_deadline(kind: PollKind) -> None:
    http_deadline = timedelta(seconds=30)  # ActivitySettings.http_timeout_seconds default
    for options in (
        policies.api_call("x"),
        policies.api_call("x").with_retry(policies.SIGNUP_RETRY),
        policies.poll(Timing(), kind),
        policies.poll(Timing(time_scale=0.01), kind),
    ):
        config = options.config()
        assert config["heartbeat_timeout"] == policies.HEARTBEAT_TIMEOUT <= timedelta(seconds=10)
        assert config["start_to_close_timeout"] > 2 * http_deadline
