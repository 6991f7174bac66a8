"""`show POST_ID`: one post in full, from its history (always) and its `details` query (when a worker answers).

The history gives what never changes and needs no worker: the input (persona, source post, account), every
stage with the time it was entered (the stage search attribute's upserts), and the result of a finished
post. The query adds what only the running code knows: caption, media, the decision and its author, the
deliveries, a park's reason.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import decode_typed_search_attributes

from control.decisions import find_post
from control.errors import explain
from workflows.content_post import ContentPostWorkflow
from workflows.models import ContentPostInput, PostDetails, PostResult
from workflows.search_attributes import STAGE

__all__ = ["PostView", "StageEntry", "post_view"]

QUERY_TIMEOUT = timedelta(seconds=3)


class StageEntry(BaseModel):
    stage: str
    at: datetime


class PostView(BaseModel):
    workflow_id: str
    status: str  # running | completed | failed | ...
    started_at: datetime | None = None
    closed_at: datetime | None = None
    input: ContentPostInput | None = None
    stages: list[StageEntry] = Field(default_factory=list)
    details: PostDetails | None = None
    result: PostResult | None = None
    note: str | None = None


async def post_view(client: Client, post_id: str, *, ask_worker: bool = True) -> PostView:
    handle = await find_post(client, post_id)
    description = await handle.describe()
    view = PostView(
        workflow_id=handle.id,
        status=description.status.name.lower() if description.status else "unknown",
        started_at=description.start_time,
        closed_at=description.close_time,
    )
    async for event in handle.fetch_history_events():
        when = event.event_time.ToDatetime().replace(tzinfo=description.start_time.tzinfo)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [view.input] = await client.data_converter.decode(payloads, [ContentPostInput])
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            stage = decode_typed_search_attributes(upserted).get(STAGE)
            if stage and (not view.stages or view.stages[-1].stage != stage):
                view.stages.append(StageEntry(stage=stage, at=when))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            [view.result] = await client.data_converter.decode(payloads, [PostResult])
    unknown = "caption, media, decision and deliveries are not shown"
    if not ask_worker:
        view.note = f"no worker is polling: {unknown}"
        return view
    try:
        async with asyncio.timeout(QUERY_TIMEOUT.total_seconds()):
            view.details = await handle.query(ContentPostWorkflow.details, rpc_timeout=QUERY_TIMEOUT)
    except Exception as exc:
        if explain(exc) is None:
            raise
        view.note = f"no worker answered: {unknown}"
    return view
