"""A status value the bot does not know is never read as an outcome: approve and reject retry instead.

The simulator rewrites every `status` of a generated post to "exploded" (chaos `unknown_status`), the way
a vendor release with a new status value would look. After a 409 ("already approved/rejected") the
activities re-read the post to report what it became; when that read shows an unknown status they must
not turn the 409 into a final CONFLICT (which would end a published post as "failed"), but fail with a
retryable error and read again on the next attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activity_helpers import Account, PersonaSetup, Runner, persona_with_source, synced, until_ready

from activities.error_types import ErrorType
from activities.models import EnsureTargetInput, GeneratedPostInput, GenerateInput, PlanCycleInput, RejectInput
from activities.reelmirror import ReelMirrorActivities
from simulator.admin import SimulatorAdmin

POST_READS = r"/v1/generated-posts/[^/]+$"


async def _ready_post(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> tuple[PersonaSetup, GeneratedPostInput]:
    """A persona with a publishing target and one generated post whose media has completed."""
    account = await onboarded()
    setup = await persona_with_source(run, acts, account)
    await sim_admin.connect_account(account.email, "threads", "brand")
    target = setup.input(EnsureTargetInput, persona_id=setup.persona_id, platform="threads", username="brand")
    assert (await run(acts.ensure_publishing_target, target)).linked
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=1),
    )
    generated = await run(
        acts.generate_post,
        setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.items[0].source_post_id),
    )
    post = setup.input(GeneratedPostInput, generated_post_id=generated.generated_post_id)
    await until_ready(run, sim_admin, acts.poll_generated_post, post)
    return setup, post


async def test_approve_conflict_with_an_unknown_status_is_retried_not_final(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post = await _ready_post(run, acts, sim_admin, onboarded)
    first = await run(acts.approve_post, post)  # as if this attempt's answer had been lost
    assert first.outgoing_post_id

    await sim_admin.set_chaos(malformed_rates={"unknown_status": 1.0}, path_pattern=POST_READS, methods=["GET"])
    failure = await run.failure(acts.approve_post, post)
    assert failure.type == ErrorType.MALFORMED_RESPONSE and not failure.non_retryable
    assert "'exploded'" in failure.message

    await sim_admin.set_chaos()
    again = await run(acts.approve_post, post)
    assert again.already_approved and again.outgoing_post_id == first.outgoing_post_id
    assert len(await sim_admin.ledger(email=setup.account.email, kind="approve")) == 1


async def test_reject_conflict_with_an_unknown_status_is_retried_not_final(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    setup, post = await _ready_post(run, acts, sim_admin, onboarded)
    reject = setup.input(RejectInput, generated_post_id=post.generated_post_id, reason="off-brand")
    assert (await run(acts.reject_post, reject)).status == "rejected"

    await sim_admin.set_chaos(malformed_rates={"unknown_status": 1.0}, path_pattern=POST_READS, methods=["GET"])
    failure = await run.failure(acts.reject_post, reject)
    assert failure.type == ErrorType.MALFORMED_RESPONSE and not failure.non_retryable

    await sim_admin.set_chaos()
    assert (await run(acts.reject_post, reject)).status == "rejected"
    assert len(await sim_admin.ledger(email=setup.account.email, kind="reject")) == 1
