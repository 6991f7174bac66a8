"""Fixtures of the workflow tests: one time-skipping Temporal test server per test, a fresh fake
ReelMirror per test, and a worker factory that runs workflows against the fake's mocked activities.

Why time skipping: the workflows wait minutes for media, hours for a top-up and days for an approval;
the test server jumps over every timer while a test awaits a result, so those waits cost nothing.
Custom search attributes are registered on the test server at start (it accepts them through the
operator service), so workflows upsert them exactly as they do on a real cluster.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from workflow_fakes import FakeReelMirror, StubPersonaWorkflow, eventually, time_skipping

from workflows.policies import Timing
from workflows.search_attributes import ALL_KEYS

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"

WorkerFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own (the pip-installed binary: no download), with the
    search attributes registered.

    One per test, not per session: a workflow a test leaves running (a persona, an abandoned child) would
    otherwise hold timers and activity tasks on a shared server and stall time skipping in later tests;
    the server starts in a fraction of a second.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL_KEYS},
            )
        )
        with time_skipping(env):
            yield env


@pytest.fixture
def client(workflow_env: WorkflowEnvironment) -> Client:
    return workflow_env.client


@pytest.fixture
def fake() -> FakeReelMirror:
    """A fresh fake ReelMirror: account "bot" onboarded, with a card and 10 000 cents of credit."""
    return FakeReelMirror()


@pytest.fixture
def timing() -> Timing:
    """Production timing: with time skipping, real durations cost nothing and keep the schedules honest."""
    return Timing()


@pytest.fixture
def start_worker(workflow_env: WorkflowEnvironment, fake: FakeReelMirror) -> WorkerFactory:
    """`async with start_worker(WorkflowA, WorkflowB) as task_queue:` runs those workflows (plus the stub
    persona) and the fake's activities on a fresh task queue; pass `fake=` to use another fake."""

    @asynccontextmanager
    async def run(*workflows: type, fake_backend: FakeReelMirror | None = None) -> AsyncIterator[str]:
        task_queue = f"tq-{uuid.uuid4().hex[:12]}"
        backend = fake_backend or fake
        backend.temporal = workflow_env.client
        async with Worker(
            workflow_env.client,
            task_queue=task_queue,
            workflows=[*workflows, StubPersonaWorkflow],
            activities=backend.activities(),
        ):
            yield task_queue

    return run


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[Any]]:
    """The `eventually` helper as a fixture, for test modules that prefer fixtures to imports."""
    return eventually
