"""Media polling, approve/reject exactly once, send-to-compose without targets, delivery polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activity_helpers import Account, PersonaSetup, Runner, persona_with_source, synced, until_ready
from temporalio.exceptions import ApplicationErrorCategory

from activities.models import (
    EnsureTargetInput,
    GeneratedPostInput,
    GenerateInput,
    OutgoingPostInput,
    PlanCycleInput,
    RejectInput,
)
from activities.reelmirror import ReelMirrorActivities
from simulator.admin import SimulatorAdmin


async def _generated(
    run: Runner,
    acts: ReelMirrorActivities,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
    *,
    target: bool,
) -> tuple[PersonaSetup, str]:
    """An account with a synced persona (with a publishing target if asked) and one generated post."""
    account = await onboarded()
    setup = await persona_with_source(run, acts, account)
    if target:
        await sim_admin.connect_account(account.email, "threads", "brand")
        linked = await run(
            acts.ensure_publishing_target,
            setup.input(EnsureTargetInput, persona_id=setup.persona_id, platform="threads", username="brand"),
        )
        assert linked.linked
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=1),
    )
    outcome = await run(
        acts.generate_post,
        setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.items[0].source_post_id),
    )
    return setup, outcome.generated_post_id


async def test_poll_generated_post_until_ready_then_approve_once_and_follow_deliveries(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=True)
    post = setup.input(GeneratedPostInput, generated_post_id=post_id)

    early = await run.failure(acts.poll_generated_post, post)
    assert early.type == "NotReady" and early.category is ApplicationErrorCategory.BENIGN
    assert (await run(acts.get_generated_post, post)).status == "generating"

    ready = await until_ready(run, sim_admin, acts.poll_generated_post, post)
    assert ready.status == "ready" and not ready.failed
    assert ready.media and all(m.status == "completed" and m.url for m in ready.media)

    approved = await run(acts.approve_post, post)
    assert approved.outgoing_post_id and not approved.already_approved and not approved.sent_to_compose
    again = await run(acts.approve_post, post)
    assert again.already_approved and again.outgoing_post_id == approved.outgoing_post_id
    assert len(await sim_admin.ledger(email=setup.account.email, kind="approve")) == 1

    outgoing = setup.input(OutgoingPostInput, outgoing_post_id=approved.outgoing_post_id)
    pending = await run.failure(acts.poll_deliveries, outgoing)
    assert pending.type == "NotReady" and pending.category is ApplicationErrorCategory.BENIGN
    deliveries = await until_ready(run, sim_admin, acts.poll_deliveries, outgoing)
    assert deliveries.outgoing_post_id == approved.outgoing_post_id
    assert [d.status for d in deliveries.deliveries] == ["published"] and deliveries.published == 1
    assert deliveries.deliveries[0].platform == "threads"


async def test_approve_after_a_lost_response_does_not_publish_twice(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=True)
    post = setup.input(GeneratedPostInput, generated_post_id=post_id)
    await until_ready(run, sim_admin, acts.poll_generated_post, post)

    await sim_admin.set_chaos(lost_response_rate=1.0, path_pattern=r"/approve$", methods=["POST"])
    lost = await run.failure(acts.approve_post, post)
    assert lost.type == "UPSTREAM_ERROR" and not lost.non_retryable
    await sim_admin.set_chaos()

    retried = await run(acts.approve_post, post)
    approvals = await sim_admin.ledger(email=setup.account.email, kind="approve")
    assert len(approvals) == 1
    assert retried.already_approved and retried.outgoing_post_id == approvals[0]["outgoing_post_id"]


async def test_approve_without_targets_sends_to_compose_once(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=False)
    post = setup.input(GeneratedPostInput, generated_post_id=post_id)
    await until_ready(run, sim_admin, acts.poll_generated_post, post)

    outcome = await run(acts.approve_post, post)
    assert outcome.sent_to_compose and outcome.outgoing_post_id is None
    assert outcome.reason and "publishing target" in outcome.reason
    again = await run(acts.approve_post, post)
    assert again.sent_to_compose and not again.already_approved
    assert (await run(acts.get_generated_post, post)).status == "composing"
    assert len(await sim_admin.ledger(email=setup.account.email, kind="compose")) == 1
    assert await sim_admin.ledger(email=setup.account.email, kind="approve") == []


async def test_approve_before_media_is_ready_is_a_validation_error(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=False)
    error = await run.failure(acts.approve_post, setup.input(GeneratedPostInput, generated_post_id=post_id))
    assert error.type == "VALIDATION_ERROR" and error.non_retryable
    assert await sim_admin.ledger(email=setup.account.email, kind="compose") == []


async def test_reject_once_and_approve_after_reject_is_refused(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=True)
    await until_ready(
        run, sim_admin, acts.poll_generated_post, setup.input(GeneratedPostInput, generated_post_id=post_id)
    )
    reject = setup.input(RejectInput, generated_post_id=post_id, reason="off-brand")

    rejected = await run(acts.reject_post, reject)
    assert rejected.status == "rejected"
    assert (await run(acts.reject_post, reject)).status == "rejected"
    assert len(await sim_admin.ledger(email=setup.account.email, kind="reject")) == 1

    error = await run.failure(acts.approve_post, setup.input(GeneratedPostInput, generated_post_id=post_id))
    assert error.type == "VALIDATION_ERROR" and error.non_retryable
    assert await sim_admin.ledger(email=setup.account.email, kind="approve") == []


async def test_failed_media_is_returned_not_raised(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    await sim_admin.patch_config({"media_failure_rate": 1.0})
    setup, post_id = await _generated(run, acts, sim_admin, onboarded, target=False)
    view = await until_ready(
        run, sim_admin, acts.poll_generated_post, setup.input(GeneratedPostInput, generated_post_id=post_id)
    )
    assert view.failed and any(m.status == "failed" for m in view.media)


async def test_await_outgoing_post_follows_the_servers_auto_publish(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.topup(account.email, 5000)
    # Renders outlast the clock jumps that finish the sync, so the post is still generating afterwards.
    await sim_admin.patch_config({"durations_seconds": {"image": [2000, 2000], "video": [2000, 2000]}})
    setup = await persona_with_source(run, acts, account, mode="auto_publish")
    await sim_admin.connect_account(account.email, "youtube", "brand")
    await run(
        acts.ensure_publishing_target,
        setup.input(EnsureTargetInput, persona_id=setup.persona_id, platform="youtube", username="brand"),
    )
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "auto_publish"}, limit=1
        ),
    )
    item = plan.items[0]
    assert item.existing_generated_post_id and item.automation_mode == "auto_publish"
    post = setup.input(GeneratedPostInput, generated_post_id=item.existing_generated_post_id)

    early = await run.failure(acts.await_outgoing_post, post)
    assert early.type == "NotReady" and early.category is ApplicationErrorCategory.BENIGN
    view = await until_ready(run, sim_admin, acts.await_outgoing_post, post)
    assert view.outgoing_post_id and view.status in ("publishing", "published")
    assert await sim_admin.ledger(email=account.email, kind="approve") != []
    assert all(e["by"] == "server" for e in await sim_admin.ledger(email=account.email, kind="approve"))
