"""A persona's life from the CLI: stop it, change its configuration, list every persona there was.

`stop` and `update` are Updates on the running loop: the loop's validator checks the request where the
state is (a finished persona, a file for another persona, a change the service cannot make), and the reply
says what will happen. `list` reads the server's visibility alone, so it needs no worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus

from control.errors import explain
from control.ops import persona_handle
from control.workers import require_worker
from workflows.config import PersonaConfig
from workflows.models import ConfigChangeReply, StopReply, StopRequest
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.search_attributes import PERSONA, STAGE
from workflows.stages import PersonaStage

__all__ = ["PersonaEntry", "list_personas", "stop_persona", "update_persona"]

T = TypeVar("T")
UPDATE_TIMEOUT = timedelta(seconds=30)


async def _update(call: Callable[[], Awaitable[T]], what: str) -> T:
    """An Update, bounded in time, its refusal or failure as an `OperatorError`."""
    try:
        async with asyncio.timeout(UPDATE_TIMEOUT.total_seconds()):
            return await call()
    except Exception as exc:
        explained = explain(exc, what)
        if explained is None:
            raise
        raise explained from None


async def stop_persona(client: Client, slug: str, task_queue: str, *, now: bool = False) -> StopReply:
    """Ask the loop to stop; with `now`, its posts in flight are cancelled too. A persona parked on its own
    step cannot reach its stop until the park ends: `now` cancels its workflow instead."""
    handle = await persona_handle(client, slug)
    await require_worker(client, task_queue)
    reply = await _update(
        lambda: handle.execute_update(PersonaLoopWorkflow.stop, StopRequest(now=now), rpc_timeout=UPDATE_TIMEOUT),
        f"stopping {handle.id}",
    )
    if now and reply.parked_reason:
        await handle.cancel()
    return reply


async def update_persona(client: Client, config: PersonaConfig, task_queue: str) -> ConfigChangeReply:
    """Hand the running loop a new configuration; the reply lists what changes at its next cycle."""
    handle = await persona_handle(client, config.persona_slug)
    await require_worker(client, task_queue)
    return await _update(
        lambda: handle.execute_update(PersonaLoopWorkflow.reconfigure, config, rpc_timeout=UPDATE_TIMEOUT),
        f"updating {handle.id}",
    )


class PersonaEntry(BaseModel):
    workflow_id: str
    slug: str
    state: str  # running | paused | parked | finished | failed | cancelled | terminated | timed out
    stage: str | None = None
    started_at: datetime
    closed_at: datetime | None = None


_CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "finished",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
}


async def list_personas(client: Client, *, everything: bool = False) -> list[PersonaEntry]:
    """Running personas (by state: running, paused, parked), and with `everything` the ended ones too;
    one line per persona: its newest run (a continued-as-new run is the same persona)."""
    query = f"WorkflowType = '{PersonaLoopWorkflow.__name__}'"
    if not everything:
        query += " AND ExecutionStatus = 'Running'"
    newest: dict[str, PersonaEntry] = {}
    async for execution in client.list_workflows(query):
        if execution.status == WorkflowExecutionStatus.CONTINUED_AS_NEW or execution.id in newest:
            continue
        stage = execution.typed_search_attributes.get(STAGE)
        if execution.status == WorkflowExecutionStatus.RUNNING:
            state = stage if stage in (PersonaStage.PAUSED, PersonaStage.PARKED) else "running"
        else:
            state = _CLOSED.get(execution.status, "closed") if execution.status else "closed"
        newest[execution.id] = PersonaEntry(
            workflow_id=execution.id,
            slug=execution.typed_search_attributes.get(PERSONA) or execution.id.removeprefix("persona-"),
            state=state,
            stage=stage,
            started_at=execution.start_time,
            closed_at=execution.close_time,
        )
    return sorted(newest.values(), key=lambda e: e.workflow_id)
