"""Correct for months: bounded histories, no lost slot, never a second generate.

* Sixty simulated days of 15-minute cycles (5,760) on the time-skipping server: every run of the persona
  stays under 10,000 events.
* A persona parked on a bad key continues as new while it waits, and resumes.

(A post terminated by hand is proved on the dev server, `tests/integration/test_reconcile.py`: the
time-skipping test server stops skipping time around child workflows that end while their persona waits,
so this module keeps posts out of its long runs.)
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from workflow_fakes import FakeReelMirror, eventually

from activities.models import PersonaInput, SyncStartedView
from workflows.config import PersonaConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import PersonaLoopInput, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

CYCLES_A_DAY = 24 * 4
MAX_EVENTS_A_RUN = 10_000


class Calendar(FakeReelMirror):
    """The fake, counting the persona's syncs (its cycles)."""

    def __init__(self) -> None:
        super().__init__(balance_cents=100_000)
        self.syncs = 0

    @activity.defn
    async def start_sync(self, inp: PersonaInput) -> SyncStartedView:
        self.syncs += 1
        return await super().start_sync(inp)


def persona(**overrides: Any) -> PersonaConfig:
    values: dict[str, Any] = {
        "name": "Months",
        "slug": f"months-{uuid.uuid4().hex[:8]}",
        "sources": [{"platform": "instagram", "username": "chef"}],
        "publishing_accounts": [{"platform": "instagram", "username": "months_official"}],
        "sync_interval_minutes": 15,
        "posts_per_cycle": 2,
        "max_concurrent_posts": 3,
        "backlog": "none",
        "approval": {"mode": "auto"},
    }
    values.update(overrides)
    return PersonaConfig.model_validate(values)


async def run_persona(client: Client, start_worker, fake: Calendar, config: PersonaConfig, **inp: Any) -> PersonaStatus:
    fake.connect_account("instagram", "months_official")
    async with start_worker(PersonaLoopWorkflow, ContentPostWorkflow, fake_backend=fake) as task_queue:
        handle = await client.start_workflow(
            PersonaLoopWorkflow.run,
            PersonaLoopInput(account_ref="bot", config=config, timing=Timing(), **inp),
            id=config.workflow_id,
            task_queue=task_queue,
        )
        result: PersonaStatus = await handle.result()
    run_events = await events_per_run(client, config.workflow_id, handle.first_execution_run_id or "")
    fake.run_events = run_events  # type: ignore[attr-defined]
    return result


async def events_per_run(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
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


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_sixty_days_of_fifteen_minute_cycles_stay_under_the_event_bound(client: Client, start_worker) -> None:
    fake = Calendar()
    final = await run_persona(client, start_worker, fake, persona(max_cycles=60 * CYCLES_A_DAY))
    runs: list[int] = fake.run_events  # type: ignore[attr-defined]
    assert final.counters.cycles == 60 * CYCLES_A_DAY and fake.syncs == 60 * CYCLES_A_DAY
    assert len(runs) >= 30, f"sixty days in {len(runs)} runs"
    assert max(runs) <= MAX_EVENTS_A_RUN, f"a run of {max(runs)} events"
    assert max(runs) <= 5_000 + 100, "a run ends within one cycle of the bound"


async def test_a_persona_parked_for_a_week_continues_as_new_while_it_waits_and_resumes(
    client: Client, start_worker, workflow_env: WorkflowEnvironment
) -> None:
    fake = Calendar()
    fake.key_valid = False  # every call with the key is refused (401): the persona parks in its setup
    config = persona(max_cycles=1)
    fake.connect_account("instagram", "months_official")
    async with start_worker(PersonaLoopWorkflow, ContentPostWorkflow, fake_backend=fake) as task_queue:
        handle = await client.start_workflow(
            PersonaLoopWorkflow.run,
            PersonaLoopInput(account_ref="bot", config=config, timing=Timing(), continue_as_new_after_events=100),
            id=config.workflow_id,
            task_queue=task_queue,
        )
        await workflow_env.sleep(timedelta(days=7))
        parked = await events_per_run(client, config.workflow_id, handle.first_execution_run_id or "")
        fake.key_valid = True
        latest = client.get_workflow_handle_for(PersonaLoopWorkflow.run, config.workflow_id)
        await latest.signal(PersonaLoopWorkflow.credentials_updated)
        # the resumed cycle's sync poll waits for its first planned check: let that timer pass first (the
        # test server's result long-poll gives up when time jumps past it)
        await eventually(lambda: latest.query(PersonaLoopWorkflow.status), lambda s: s.stage == "done")
        for _ in range(5):  # the time-skipping server may end a result's long poll on a run's hand-over
            try:
                final = await latest.result()
                break
            except RuntimeError:
                continue
    assert len(parked) >= 3, f"a week parked in {len(parked)} runs"
    assert max(parked) <= 100 + 40, parked
    assert final.counters.cycles == 1 and final.parked_reason is None
    assert fake.calls["get_balance"] >= 10, "the park re-checked the key meanwhile"
