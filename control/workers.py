"""Is a worker polling the task queue? Asked before anything that needs one (a query, an Update, an
account command), so the CLI says "no worker" in a second instead of waiting for a timeout.

Temporal lists a task queue's pollers with the time each last polled. A live worker polls again at least
every minute (a long poll lasts up to about 60 s), so a poller not seen for longer has stopped; one that
stopped a moment ago is still listed, which is why callers also bound every query with a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from control.errors import Unavailable

__all__ = ["POLLER_FRESH", "Pollers", "pollers", "require_worker"]

POLLER_FRESH = timedelta(seconds=75)


@dataclass(frozen=True)
class Pollers:
    task_queue: str
    workflow: int  # workers polling for workflow tasks (queries, updates, signals need one)
    activity: int  # workers polling for activity tasks (API calls need one)

    @property
    def any(self) -> bool:
        return self.workflow > 0 and self.activity > 0

    def describe(self) -> str:
        if self.any:
            return f"{self.workflow} worker(s) polling task queue '{self.task_queue}'"
        return f"no worker is polling task queue '{self.task_queue}': start worker.py"


async def _fresh(client: Client, task_queue: str, kind: TaskQueueType.ValueType, now: datetime) -> int:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
    )
    answer = await client.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=5))
    return sum(
        1
        for p in answer.pollers
        if now - p.last_access_time.ToDatetime().replace(tzinfo=UTC) <= POLLER_FRESH
    )


async def pollers(client: Client, task_queue: str) -> Pollers:
    now = datetime.now(UTC)
    workflow = await _fresh(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, now)
    activity = await _fresh(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, now)
    return Pollers(task_queue, workflow, activity)


async def require_worker(client: Client, task_queue: str) -> Pollers:
    """The pollers, or `Unavailable` naming the task queue when no worker polls it."""
    found = await pollers(client, task_queue)
    if not found.any:
        raise Unavailable(found.describe())
    return found
