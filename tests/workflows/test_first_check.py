"""No immediate first check: a post waits on a durable timer until its media (then its deliveries) can
be done, polls with a plan, and reports what it learned to its persona. Time-skipping server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from workflow_fakes import FakeReelMirror

from activities.models import PlannedPost
from workflows.config import ApprovalPolicy, CostTable
from workflows.content_post import ContentPostWorkflow
from workflows.durations import KINDS
from workflows.models import ContentPostInput
from workflows.policies import Timing


def post_input(fake: FakeReelMirror) -> ContentPostInput:
    persona_id = fake.add_persona(targets=["instagram"])
    source_post_id = fake.add_source_post(persona_id, media_type="video", automation_mode="sync_only")
    return ContentPostInput(
        account_ref="bot",
        persona_id=persona_id,
        persona_slug=f"nova-{uuid.uuid4().hex[:8]}",
        post=PlannedPost(source_post_id=source_post_id, automation_mode="sync_only", media_type="video"),
        approval=ApprovalPolicy(mode="auto"),
        costs=CostTable(),
        timing=Timing(),
    )


async def test_each_poll_waits_for_its_first_planned_check_and_follows_its_plan(
    client: Client, fake: FakeReelMirror, start_worker
) -> None:
    fake.not_ready["poll_generated_post"] = 2
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await client.start_workflow(
            ContentPostWorkflow.run, inp, id=f"post-{inp.persona_slug}-x", task_queue=tq
        )
        result = await handle.result()
        final = await handle.query(ContentPostWorkflow.status)
    assert result.outcome == "published"

    events = [e async for e in handle.fetch_history_events()]
    timers = {
        e.event_id: e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    }
    polls = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name in ("poll_generated_post", "poll_deliveries")
    ]
    assert len(polls) == 2
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert all(
        e.activity_task_scheduled_event_attributes.heartbeat_timeout.ToTimedelta() == timedelta(seconds=10)
        for e in scheduled
    ), "every activity carries a heartbeat timeout"
    for poll, kind in zip(polls, ("video", "delivery"), strict=True):
        waits = [delay for event_id, delay in timers.items() if event_id < poll.event_id]
        assert waits, f"the {kind} poll was scheduled without waiting for its first check"
        assert waits[-1] >= timedelta(seconds=KINDS[kind].low), f"{kind}: first check before any job can be done"
        timers = {k: v for k, v in timers.items() if k > poll.event_id}

    # the poll followed its plan (2 not-ready answers, each retried after a planned delay) and the
    # post reported both durations it observed
    assert {o.kind for o in final.observations} == {"video", "delivery"}
    video = next(o for o in final.observations if o.kind == "video")
    assert KINDS["video"].low < video.not_done_at < video.done_at


async def test_an_adopted_post_is_checked_at_once(client: Client, fake: FakeReelMirror, start_worker) -> None:
    inp = post_input(fake)
    existing = fake.server_generate(inp.post.source_post_id, origin="api").id
    inp = inp.model_copy(update={"post": inp.post.model_copy(update={"existing_generated_post_id": existing})})
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await client.start_workflow(
            ContentPostWorkflow.run, inp, id=f"post-{inp.persona_slug}-y", task_queue=tq
        )
        await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    first_poll = next(
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "poll_generated_post"
    )
    # its start is unknown (the server or an earlier attempt made it): no plan, no wait
    assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.event_id < first_poll for e in events)
