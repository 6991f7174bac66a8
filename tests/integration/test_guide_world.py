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
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from bench.soak import summarize_ledger
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import StackConfig
from simulator.admin import SimulatorAdmin, SimulatorAdminError
from workflows.config import OnboardingInput, PersonaConfig
from workflows.models import PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.persona_rules import adopted_workflow_id
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
        # a short rate-limit window: the module's personas share one key, and a 429 waits for the reset
        simulator_args=["--answers", "guide", "--webhook-delay", "60", "--rate-limit-window", "5"],
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


# --- the server's posts, adopted by generated id ----------------------------------------------------------
# The guide world lists generated posts by id alone and source posts without their source: a persona whose
# sources let the server generate adopts each of the server's posts by its id, once, and holds the source
# posts it cannot attribute. Creators start with two posts here, so each persona stays small and quick.

SMALL_BACKLOG = 2


@pytest.fixture
async def small_backlog(admin: SimulatorAdmin) -> AsyncIterator[None]:
    before = (await admin.config())["backlog_posts"]
    await admin.patch_config({"backlog_posts": SMALL_BACKLOG})
    yield
    await admin.patch_config({"backlog_posts": before})


async def _onboarded(client: Client, admin: SimulatorAdmin) -> None:
    """The module's account (onboarding is idempotent), funded for the server's own generates, with its
    one publishing account (in the guide world the only connected account stands for a named target)."""
    handle = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(handle.result(), timeout=180)
    await admin.topup(EMAIL, 5000)
    try:
        await admin.connect_account(EMAIL, *PUBLISHING)
    except SimulatorAdminError as exc:
        assert "already connected" in exc.message


def _persona(slug: str, modes: list[str], approval: str = "manual") -> PersonaConfig:
    return PersonaConfig.model_validate(
        {
            "name": slug.replace("-", " ").title(),
            "slug": slug,
            "sources": [
                {"platform": "instagram", "username": f"{slug}_{mode}", "automation_mode": mode} for mode in modes
            ],
            "publishing_accounts": [{"platform": PUBLISHING[0], "username": PUBLISHING[1]}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 10,
            "max_concurrent_posts": 10,
            "max_cycles": 1,
            "approval": {"mode": approval},
        }
    )


async def _run_persona(
    client: Client, config: PersonaConfig, *, reject_first: bool = True
) -> tuple[PersonaStatus, dict[str, bool]]:
    """Run the persona's one cycle to its end, deciding every post it asks about: the first one asked is
    rejected, the others approved. Returns the final status and the decisions by generated post id."""
    handle, started = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    assert started
    decided: dict[str, bool] = {}
    result = asyncio.ensure_future(handle.result())
    async with asyncio.timeout(100):
        while not result.done():
            status = await handle.query(PersonaLoopWorkflow.status)
            for pending in status.pending_approvals:
                if pending.generated_post_id not in decided:
                    approve = bool(decided) or not reject_first
                    decided[pending.generated_post_id] = approve
                    await ops.decide(client, pending.generated_post_id, approve=approve, reason="guide world")
            await asyncio.wait({result}, timeout=0.3)
    final = result.result()
    assert isinstance(final, PersonaStatus) and final.persona_id is not None
    return final, decided


async def _adopted_once_each(client: Client, slug: str, server_posts: list[str]) -> None:
    """Every post the server made has its one adoption workflow (its id refuses a second)."""
    for generated_post_id in server_posts:
        description = await client.get_workflow_handle(adopted_workflow_id(slug, generated_post_id)).describe()
        assert description.status == WorkflowExecutionStatus.COMPLETED, generated_post_id


async def test_a_persona_with_every_mode_adopts_the_servers_posts_holds_the_rest_and_approves_nothing(
    client: Client, admin: SimulatorAdmin, small_backlog: None
) -> None:
    await _onboarded(client, admin)
    slug = "guide-every-mode"
    final, decided = await _run_persona(client, _persona(slug, ["sync_only", "auto_clone", "auto_publish"]))

    ledger = await admin.ledger(persona_id=final.persona_id)
    generates = [e for e in ledger if e["kind"] == "generate"]
    server_posts = sorted(e["generated_post_id"] for e in generates if e["by"] == "server")
    assert len(server_posts) == 2 * SMALL_BACKLOG  # the auto_clone and auto_publish sources' posts
    assert [e for e in generates if e["by"] != "server"] == [], "the bot generates nothing for a held post"
    assert set(Counter(e["source_post_id"] for e in generates).values()) == {1}
    assert [e for e in ledger if e["kind"] == "approve" and e["by"] != "server"] == [], "never approved by the bot"
    assert decided == {}, "auto_clone and auto_publish cannot be told apart: nothing is asked, nothing approved"

    c = final.counters
    assert (c.generated, c.adopted, c.approved, c.server_published) == (0, 4, 0, 4), final
    await _adopted_once_each(client, slug, server_posts)
    held = [n for n in final.notes if "source posts name no source" in n]
    assert held and held[0].startswith(f"{3 * SMALL_BACKLOG} source posts") and "held: " in held[0], final.notes
    assert "a persona of their own" in held[0]
    assert any("cannot be told apart" in n for n in final.notes), final.notes
    assert any("published by the server with deliveries unknown" in n for n in final.notes), final.notes


async def test_a_mixed_persona_asks_the_operator_about_each_auto_clone_post_once(
    client: Client, admin: SimulatorAdmin, small_backlog: None
) -> None:
    await _onboarded(client, admin)
    slug = "guide-mixed-clone"
    final, decided = await _run_persona(client, _persona(slug, ["sync_only", "auto_clone"]))

    ledger = await admin.ledger(persona_id=final.persona_id)
    server_posts = sorted(e["generated_post_id"] for e in ledger if e["kind"] == "generate" and e["by"] == "server")
    assert len(server_posts) == SMALL_BACKLOG
    assert [e for e in ledger if e["kind"] == "generate" and e["by"] != "server"] == [], "held posts not generated"
    assert sorted(decided) == server_posts and sorted(decided.values()) == [False, True]
    approves = Counter(e["generated_post_id"] for e in ledger if e["kind"] == "approve")
    assert approves == Counter({pid: 1 for pid, ok in decided.items() if ok})
    assert [e["generated_post_id"] for e in ledger if e["kind"] == "reject"] == [
        pid for pid, ok in decided.items() if not ok
    ]
    c = final.counters
    assert (c.generated, c.adopted, c.approved, c.rejected, c.published_posts) == (0, 2, 1, 1, 1), final
    await _adopted_once_each(client, slug, server_posts)
    held = [n for n in final.notes if "source posts name no source" in n]
    assert held and held[0].startswith(f"{2 * SMALL_BACKLOG} source posts"), final.notes


async def test_a_single_mode_auto_clone_persona_adopts_and_publishes_end_to_end(
    client: Client, admin: SimulatorAdmin, small_backlog: None
) -> None:
    await _onboarded(client, admin)
    slug = "guide-auto-clone"
    final, decided = await _run_persona(client, _persona(slug, ["auto_clone"], approval="auto"))

    ledger = await admin.ledger(persona_id=final.persona_id)
    server_posts = sorted(e["generated_post_id"] for e in ledger if e["kind"] == "generate" and e["by"] == "server")
    assert len(server_posts) == SMALL_BACKLOG and decided == {}
    assert [e for e in ledger if e["kind"] == "generate" and e["by"] != "server"] == []
    approves = Counter(e["generated_post_id"] for e in ledger if e["kind"] == "approve")
    assert approves == Counter(dict.fromkeys(server_posts, 1)), "each server post approved once, by policy"
    c = final.counters
    assert (c.generated, c.adopted, c.approved, c.published_posts) == (0, 2, 2, 2), final
    assert c.published_deliveries == 2 and not any("name no source" in n for n in final.notes), final.notes
    await _adopted_once_each(client, slug, server_posts)
