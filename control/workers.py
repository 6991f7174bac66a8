"""Is a worker serving the task queue? Asked before anything that needs one (a query, an Update, an account
command), so the CLI says "no worker" in a second instead of waiting for a timeout.

Two sources, the better first. Workers heartbeat to servers that support it (`ListWorkers`): a worker that
shut down says so at once, one that was killed stops heartbeating (every 60 s). Otherwise the task queue's
pollers list the time each last polled: a live worker polls again at least every minute, but one that
stopped a moment ago is still listed, which is why callers also bound every query with a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError

from control.errors import Unavailable

__all__ = ["HEARTBEAT_FRESH", "POLLER_FRESH", "Pollers", "pollers", "require_worker"]

POLLER_FRESH = timedelta(seconds=75)
HEARTBEAT_FRESH = timedelta(seconds=150)  # two and a half heartbeats
_RPC_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class Pollers:
    task_queue: str
    workflow: int  # workers serving workflow tasks (queries, updates, signals need one)
    activity: int  # workers serving activity tasks (API calls need one)

    @property
    def any(self) -> bool:
        return self.workflow > 0 and self.activity > 0

    def describe(self) -> str:
        if self.any:
            return f"{self.workflow} worker(s) polling task queue '{self.task_queue}'"
        return f"no worker is polling task queue '{self.task_queue}': start worker.py"


def _age(now: datetime, moment: datetime) -> timedelta:
    return now - moment.replace(tzinfo=UTC)


async def _heartbeating(client: Client, task_queue: str, now: datetime) -> int | None:
    """Running workers of the queue by their heartbeats; None when the server keeps no heartbeats of it."""
    try:
        answer = await client.workflow_service.list_workers(
            ListWorkersRequest(namespace=client.namespace, page_size=1000), timeout=_RPC_TIMEOUT
        )
    except RPCError:
        return None  # an older server, or one with worker heartbeats turned off
    mine = [w.worker_heartbeat for w in answer.workers_info if w.worker_heartbeat.task_queue == task_queue]
    if not mine:
        return None
    running = [w for w in mine if w.status == WorkerStatus.WORKER_STATUS_RUNNING]
    return sum(1 for w in running if _age(now, w.heartbeat_time.ToDatetime()) <= HEARTBEAT_FRESH)


async def _polling(client: Client, task_queue: str, kind: TaskQueueType.ValueType, now: datetime) -> int:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
    )
    answer = await client.workflow_service.describe_task_queue(request, timeout=_RPC_TIMEOUT)
    return sum(1 for p in answer.pollers if _age(now, p.last_access_time.ToDatetime()) <= POLLER_FRESH)


async def pollers(client: Client, task_queue: str) -> Pollers:
    now = datetime.now(UTC)
    running = await _heartbeating(client, task_queue, now)
    if running is not None:
        return Pollers(task_queue, running, running)
    workflow = await _polling(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, now)
    activity = await _polling(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, now)
    return Pollers(task_queue, workflow, activity)


async def require_worker(client: Client, task_queue: str) -> Pollers:
    """The pollers, or `Unavailable` naming the task queue when no worker polls it."""
    found = await pollers(client, task_queue)
    if not found.any:
        raise Unavailable(found.describe())
    return found
