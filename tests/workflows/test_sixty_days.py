"""Sixty simulated days of 15-minute cycles: bounded histories, no lost slot, never a second generate.

One persona runs 5,760 cycles on the time-skipping server against the fake. A creator posts once a day;
for a week the balance is empty, so generates park; one parked post is terminated by hand. Every run of the persona (it
continues as new) must stay under 10,000 events, the terminated post must free its slot and be counted,
and every source post must be generated exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from workflow_fakes import FakeReelMirror

from activities.models import GenerateInput, GenerateOutcome, PersonaInput, SyncStartedView
from workflows.config import PersonaConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import PersonaLoopInput, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAYS = 60
CYCLES_A_DAY = 24 * 4
EMPTY_FROM_DAY, EMPTY_UNTIL_DAY = 10, 17
MAX_EVENTS_A_RUN = 10_000


class SixtyDays(FakeReelMirror):
    """A creator who posts once a day, and a week without credit, both on the persona's own sync count."""

    def __init__(self) -> None:
        super().__init__(balance_cents=100_000)
        self.syncs = 0
        self.posts: list[str] = []  # post workflows that asked to generate, newest last

    @activity.defn
    async def start_sync(self, inp: PersonaInput) -> SyncStartedView:
        self.syncs += 1
        day, cycle = divmod(self.syncs, CYCLES_A_DAY)
        if cycle == 1:
            self.add_creator_posts("instagram", "chef", ["image"])
        if cycle == 1 and day == EMPTY_FROM_DAY:
            self.accounts["bot"].balance_cents = 0
        if cycle == 1 and day == EMPTY_UNTIL_DAY:
            self.top_up(100_000)
        return await super().start_sync(inp)

    @activity.defn
    async def generate_post(self, inp: GenerateInput) -> GenerateOutcome:
        workflow_id = activity.info().workflow_id
        if workflow_id and workflow_id not in self.posts:
            self.posts.append(workflow_id)
        return await super().generate_post(inp)


async def _terminate_one_post_after(client: Client, fake: SixtyDays, days: int) -> str:
    """Once the persona has run `days`, terminate a post still in flight (parked: the balance is empty then)."""
    while True:
        if fake.syncs >= days * CYCLES_A_DAY:
            for workflow_id in reversed(fake.posts):
                post = client.get_workflow_handle(workflow_id)
                if (await post.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await post.terminate(reason="terminated by hand in the sixty-day test")
                    return workflow_id
        await asyncio.sleep(0.05)


async def _events_per_run(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    counts: list[int] = []
    run_id: str | None = first_run_id
    while run_id:
        events = [e async for e in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events()]
        counts.append(len(events))
        last = events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return counts


async def test_sixty_days_of_cycles_stay_bounded_and_exact(client: Client, start_worker) -> None:
    fake = SixtyDays()
    config = PersonaConfig.model_validate(
        {
            "name": "Sixty Days",
            "slug": f"sixty-{uuid.uuid4().hex[:8]}",
            "sources": [{"platform": "instagram", "username": "chef"}],
            "publishing_accounts": [{"platform": "instagram", "username": "sixty_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 2,
            "max_concurrent_posts": 3,
            "backlog": "none",
            "approval": {"mode": "auto"},
            "max_cycles": DAYS * CYCLES_A_DAY,
        }
    )
    fake.connect_account("instagram", "sixty_official")
    async with start_worker(PersonaLoopWorkflow, ContentPostWorkflow, fake_backend=fake) as task_queue:
        handle = await client.start_workflow(
            PersonaLoopWorkflow.run,
            PersonaLoopInput(account_ref="bot", config=config, timing=Timing()),
            id=config.workflow_id,
            task_queue=task_queue,
        )
        # time skips while the test waits for the result; the hand that terminates a post acts meanwhile
        terminated = asyncio.create_task(_terminate_one_post_after(client, fake, days=EMPTY_FROM_DAY + 2))
        final: PersonaStatus = await handle.result()
        await terminated

    runs = await _events_per_run(client, config.workflow_id, handle.first_execution_run_id or "")
    assert len(runs) > 1, "sixty days must continue as new"
    assert max(runs) <= MAX_EVENTS_A_RUN, f"a run of {max(runs)} events"

    per_source_post = Counter(e.source_post_id for e in fake.ledger if e.kind == "generate")
    assert len(per_source_post) >= DAYS - 2 and set(per_source_post.values()) == {1}, "a source post generated twice"
    c = final.counters
    assert final.active_posts == 0, "a slot was never freed"
    assert c.failed_posts == 1, f"only the post terminated by hand fails: {c}"
    assert c.generated == len(per_source_post) and c.published_posts + c.failed_posts == c.generated
