"""The product counters a post records are exact, even when every workflow task replays from history.

The worker here caches no workflow (`max_cached_workflows=0`), so each task rebuilds the post by replaying
everything before it: a counter that were not replay-safe would count a generation or an approval once
per later task. The runtime buffers metrics in memory so the test reads exactly what was recorded.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from test_content_post import AUTO, post_input, start, wait_for_stage
from workflow_fakes import FakeReelMirror, StubPersonaWorkflow, time_skipping

from observability import metrics
from workflows.content_post import ContentPostWorkflow
from workflows.models import RejectSignal
from workflows.search_attributes import ALL_KEYS
from workflows.stages import PostStage

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@pytest.fixture
async def metered() -> AsyncIterator[tuple[WorkflowEnvironment, MetricBuffer]]:
    buffer = MetricBuffer(100_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter, runtime=runtime
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL_KEYS},
            )
        )
        with time_skipping(env):  # stage waits let the polls' first-check timers fire
            yield env, buffer


def totals(buffer: MetricBuffer) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """Counter totals by name and our labels (the meter's own namespace/task queue/type labels dropped)."""
    ours = {counter.name: counter.labels for counter in metrics.METRICS}
    result: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for update in buffer.retrieve_updates():
        name = update.metric.name
        if name in ours:
            labels = tuple(sorted((k, str(v)) for k, v in update.attributes.items() if k in ours[name]))
            result[(name, labels)] += int(update.value)
    return result


async def test_counters_count_once_per_post_under_full_replay(
    metered: tuple[WorkflowEnvironment, MetricBuffer],
) -> None:
    env, buffer = metered
    fake = FakeReelMirror(balance_cents=0)
    approved, rejected = post_input(fake, approval=AUTO), post_input(fake)
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ContentPostWorkflow, StubPersonaWorkflow],
        activities=fake.activities(),
        max_cached_workflows=0,
    ):
        first = await start(env.client, task_queue, approved)
        await wait_for_stage(first, PostStage.PARKED)  # 402: parks until topped up
        fake.top_up(10_000)
        await first.signal(ContentPostWorkflow.topped_up)
        assert (await first.result()).outcome == "published"

        second = await start(env.client, task_queue, rejected)
        waiting = await wait_for_stage(second, PostStage.AWAITING_APPROVAL)
        assert waiting.generated_post_id is not None
        await second.signal(ContentPostWorkflow.reject, RejectSignal(post_id=waiting.generated_post_id, reason="no"))
        assert (await second.result()).outcome == "rejected"

    counted = totals(buffer)
    image = (("media_type", "image"),)
    assert counted[("reelmirror_posts_generated_total", image)] == 2
    assert counted[("reelmirror_credits_spent_cents_total", image)] == 2 * 25
    assert counted[("reelmirror_posts_approved_total", (("by", "policy"),))] == 1
    assert counted[("reelmirror_posts_rejected_total", (("by", "operator"),))] == 1
    assert counted[("reelmirror_posts_published_total", (("outcome", "published"),))] == 1
    assert counted[("reelmirror_parked_total", (("reason", "balance"),))] == 1
    assert not any(name == "reelmirror_posts_failed_total" for name, _ in counted)
