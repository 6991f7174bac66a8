"""A post terminated by hand frees its persona's slot and is counted: the persona checks its posts in
flight against their workflows every cycle (it never hears from a terminated post)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from temporalio.client import Client, WorkflowHandle

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig
from workflows.models import PersonaLoopInput, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "reconcile-bot@reelmirror.test"
ACCOUNT = "reconcile"
TIMING = Timing(time_scale=0.01)


async def wait_for(
    handle: WorkflowHandle[PersonaLoopWorkflow, PersonaStatus], until: Callable[[PersonaStatus], bool]
) -> PersonaStatus:
    async with asyncio.timeout(120):
        while True:
            status = await handle.query(PersonaLoopWorkflow.status)
            if until(status):
                return status
            await asyncio.sleep(0.2)


async def test_a_post_terminated_by_hand_frees_its_slot_and_is_reported(client: Client, admin: SimulatorAdmin) -> None:
    onboarding = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(onboarding.result(), timeout=120)
    await admin.connect_account(EMAIL, "instagram", "reconcile_official")
    config = PersonaConfig.model_validate(
        {
            "name": "Reconcile",
            "slug": "reconcile",
            "sources": [{"platform": "instagram", "username": "reconcile_chef"}],
            "publishing_accounts": [{"platform": "instagram", "username": "reconcile_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 1,
            "max_concurrent_posts": 1,
            "max_cycles": 3,
        }
    )
    # every cycle continues as new: the run that started the post holds no handle on it any more
    handle = await client.start_workflow(
        PersonaLoopWorkflow.run,
        PersonaLoopInput(account_ref=ACCOUNT, config=config, timing=TIMING, continue_as_new_after_cycles=1),
        id=config.workflow_id,
        task_queue=DEFAULT_TASK_QUEUE,
    )
    status = await wait_for(handle, lambda s: bool(s.pending_approvals) and s.counters.cycles >= 1)
    await wait_for(handle, lambda s: s.counters.cycles >= 2)  # a later run now believes the post active
    waiting = status.pending_approvals[0]
    await client.get_workflow_handle(waiting.workflow_id).terminate(reason="an operator's hand")

    # the next cycle notices, frees the one slot, and plans the next post into it
    status = await wait_for(
        handle,
        lambda s: (
            s.counters.failed_posts == 1 and any(p.workflow_id != waiting.workflow_id for p in s.pending_approvals)
        ),
    )
    assert "is terminated without reporting its end" in (status.last_error or ""), status.last_error
    for pending in status.pending_approvals:
        await ops.decide(client, pending.generated_post_id, approve=True)
    latest = client.get_workflow_handle_for(PersonaLoopWorkflow.run, config.workflow_id)
    final: PersonaStatus = await asyncio.wait_for(latest.result(), timeout=120)
    assert final.active_posts == 0 and final.counters.failed_posts == 1 and final.counters.published_posts >= 1
    ledger = await admin.ledger(kind="generate", persona_id=final.persona_id)
    assert len({e["source_post_id"] for e in ledger}) == len(ledger), "a source post generated twice"
