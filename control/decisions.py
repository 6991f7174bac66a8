"""Approving and rejecting posts through the post workflow's `approve` and `reject` Updates.

Why Updates: the workflow's validator answers before anything is recorded, in the same place the approval
deadline is enforced, so "accepted" means the post took the decision, and a refusal names its reason
(already decided, timed out, not ready yet, ended, not this post). There is no window between a check
and a signal for the deadline to slip into. Bulk decisions run concurrently (bounded) and report one
outcome per post.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from control.errors import OperatorError, Refused, explain
from control.workers import require_worker
from workflows.content_post import ContentPostWorkflow
from workflows.decisions import POST_ENDED
from workflows.models import DecisionReply, DecisionRequest, PostResult
from workflows.search_attributes import PERSONA, POST_ID, STAGE
from workflows.stages import PostStage

__all__ = ["DECISION_TIMEOUT", "Outcome", "check_post_id", "decide", "decide_many", "find_post", "waiting_posts"]

DECISION_TIMEOUT = timedelta(seconds=30)  # a dead worker's sticky queue takes ~10 s to give up
CONCURRENCY = 8


def check_post_id(post_id: str) -> str:
    """Post ids go into a visibility query: refuse anything that is not a plain id before it gets there."""
    if not post_id or any(c in post_id for c in "'\"\\ "):
        raise OperatorError(f"{post_id!r} is not a post id; copy it from `starter.py status`")
    return post_id


@dataclass(frozen=True)
class Outcome:
    """One post's answer in a (bulk) decision: the reply when taken, else the refusal."""

    post_id: str
    reply: DecisionReply | None = None
    error: OperatorError | None = None

    @property
    def accepted(self) -> bool:
        return self.reply is not None


async def find_post(client: Client, post_id: str) -> WorkflowHandle[ContentPostWorkflow, PostResult]:
    """The post workflow for a generated post id or a post workflow id, running or not (newest run)."""
    check_post_id(post_id)
    if post_id.startswith("post-"):
        query = f"WorkflowId = '{post_id}'"
    else:
        query = f"WorkflowType = '{ContentPostWorkflow.__name__}' AND {POST_ID.name} = '{post_id}'"
    async for execution in client.list_workflows(query, limit=1):
        return client.get_workflow_handle_for(ContentPostWorkflow.run, execution.id, run_id=execution.run_id)
    raise OperatorError(f"no post {post_id} is known; `starter.py status` lists the posts waiting for a decision")


async def decide(
    client: Client, post_id: str, *, approve: bool, reason: str | None = None, check_worker: bool = True
) -> DecisionReply:
    """Approve or reject one post; `Refused` (with the workflow's reason) when the decision is not taken."""
    handle = await find_post(client, post_id)
    description = await handle.describe()
    if description.status != WorkflowExecutionStatus.RUNNING:
        ending = await _ending(handle, description.status)
        raise Refused(f"the post has ended ({ending}); there is nothing to decide", POST_ENDED)
    if check_worker:
        await require_worker(client, description.task_queue)
    update = ContentPostWorkflow.approve_update if approve else ContentPostWorkflow.reject_update
    request = DecisionRequest(post_id=None if post_id.startswith("post-") else post_id, reason=reason)
    try:
        async with asyncio.timeout(DECISION_TIMEOUT.total_seconds()):
            return await handle.execute_update(update, request, rpc_timeout=DECISION_TIMEOUT)
    except Exception as exc:
        explained = explain(exc, f"the decision on {post_id}")
        if explained is None:
            raise
        raise explained from None


async def _ending(handle: WorkflowHandle[Any, PostResult], status: WorkflowExecutionStatus | None) -> str:
    """How a closed post ended: its outcome when it completed (read from history: no worker needed)."""
    if status == WorkflowExecutionStatus.COMPLETED:
        return (await handle.result()).outcome
    return status.name.lower() if status else "closed"


async def decide_many(
    client: Client, post_ids: Sequence[str], task_queue: str, *, approve: bool, reason: str | None = None
) -> list[Outcome]:
    """Each post decided on its own (a refusal for one does not stop the others), in the order given.

    `Unavailable` before any decision when no worker polls `task_queue`."""
    await require_worker(client, task_queue)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(post_id: str) -> Outcome:
        async with limit:
            try:
                reply = await decide(client, post_id, approve=approve, reason=reason, check_worker=False)
            except OperatorError as exc:
                return Outcome(post_id, error=exc)
            return Outcome(post_id, reply=reply)

    return list(await asyncio.gather(*(one(p) for p in dict.fromkeys(post_ids))))


async def waiting_posts(client: Client, persona_slug: str) -> list[str]:
    """The generated post ids (or workflow ids) of a persona's posts waiting for a decision, oldest first."""
    query = (
        f"WorkflowType = '{ContentPostWorkflow.__name__}' AND ExecutionStatus = 'Running'"
        f" AND {PERSONA.name} = '{persona_slug}' AND {STAGE.name} = '{PostStage.AWAITING_APPROVAL}'"
    )
    found = []
    async for execution in client.list_workflows(query):
        post_id = execution.typed_search_attributes.get(POST_ID)
        found.append((execution.start_time, post_id or execution.id))
    return [post_id for _, post_id in sorted(found)]

