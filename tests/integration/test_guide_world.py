"""The product against a service that answers only what the vendor's guide promises.

The simulator runs with `--answers guide`: no `{"data": ...}` envelope where the guide shows none, none of
the assumed fields (no `has_payment_method`, no `source_post_id` on generated posts, no platform on
accounts, no media ids), a repeated signup answered 200, the bonus only by a late webhook, the guide's
wording for approve without targets. Onboarding with a card, a persona cycle with an approval and a
rejection, and the deliveries must all go through, paid and approved exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client

from bench.soak import summarize_ledger
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig
from workflows.models import PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "guide-bot@reelmirror.test"
ACCOUNT = "guide"
TIMING = Timing(time_scale=0.01)
PUBLISHING = ("instagram", "guide_official")


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig(
        time_scale=0.01,
        ui_port=None,
        state_dir=tmp_path_factory.mktemp("guide-stack"),
        simulator_args=["--answers", "guide", "--webhook-delay", "60"],
    )


async def test_onboarding_a_persona_cycle_and_deliveries_in_the_guide_world(
    client: Client, admin: SimulatorAdmin, tmp_path: Path
) -> None:
    onboarding = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    summary = await asyncio.wait_for(onboarding.result(), timeout=180)
    assert summary.bonus_granted, summary.notes  # it came by the late webhook alone
    await admin.connect_account(EMAIL, *PUBLISHING)

    config = PersonaConfig.model_validate(
        {
            "name": "Guide World",
            "slug": "guide-world",
            "sources": [
                {"platform": "instagram", "username": "guide_chef", "automation_mode": "sync_only"},
                {"platform": "tiktok", "username": "guide_runner", "automation_mode": "sync_only"},
            ],
            "publishing_accounts": [{"platform": PUBLISHING[0], "username": PUBLISHING[1]}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 3,
            "max_concurrent_posts": 3,
            "max_cycles": 1,
        }
    )
    handle, started = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    assert started
    decided: set[str] = set()
    async with asyncio.timeout(240):
        while len(decided) < 3:
            status = await handle.query(PersonaLoopWorkflow.status)
            for pending in status.pending_approvals:
                if pending.generated_post_id not in decided:
                    approve = bool(decided)  # the first post is rejected, the others approved
                    await ops.decide(client, pending.generated_post_id, approve=approve, reason="guide world")
                    decided.add(pending.generated_post_id)
            await asyncio.sleep(0.2)
        final = await handle.result()
    assert isinstance(final, PersonaStatus)

    c = final.counters
    assert (c.generated, c.rejected, c.approved, c.failed_posts) == (3, 1, 2, 0), final
    assert c.published_posts == 2 and c.published_deliveries == 2, final
    assert any("the only connected account" in note for note in final.notes), final.notes

    assert final.persona_id is not None
    ledger = await admin.ledger(persona_id=final.persona_id)
    summary_of_ledger = summarize_ledger(ledger)
    assert summary_of_ledger.problems == []
    assert (summary_of_ledger.generates, summary_of_ledger.approves) == (3, 2)
    per_source_post = Counter(e["source_post_id"] for e in ledger if e["kind"] == "generate")
    assert set(per_source_post.values()) == {1}
