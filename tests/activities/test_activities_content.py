"""Sync, plan_cycle and generate: polling says NotReady until done, and nothing is ever generated twice."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from activity_helpers import Account, Runner, persona_with_source, synced, until_ready
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.models import (
    AccountRef,
    FindGeneratedInput,
    GenerateInput,
    JobInput,
    PersonaInput,
    PlanCycleInput,
)
from activities.planning import handed_on
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from simulator.admin import SimulatorAdmin

BACKLOG = 6  # posts a new creator starts with (simulator default)


async def _generate_entries(sim_admin: SimulatorAdmin, account: Account, source_post_id: str) -> list[dict]:
    entries = await sim_admin.ledger(email=account.email, kind="generate")
    return [dict(e) for e in entries if e["source_post_id"] == source_post_id]


async def test_sync_is_not_ready_until_the_job_finishes(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    setup = await persona_with_source(run, acts, account)
    started = await run(acts.start_sync, setup.input(PersonaInput, persona_id=setup.persona_id))
    assert len(started.job_ids) == 1
    job = setup.input(JobInput, job_id=started.job_ids[0])

    early = await run.failure(acts.poll_sync_job, job)
    assert early.type == "NotReady"
    assert early.category is ApplicationErrorCategory.BENIGN and not early.non_retryable

    await sim_admin.advance_clock(301)
    done = await run(acts.poll_sync_job, job)
    assert done.status == "completed" and done.source_id == setup.source_id and done.new_posts == BACKLOG

    # Inside the 15-minute cooldown the server answers with a job that is skipped at once.
    again = await run(acts.start_sync, setup.input(PersonaInput, persona_id=setup.persona_id))
    skipped = await run(acts.poll_sync_job, setup.input(JobInput, job_id=again.job_ids[0]))
    assert skipped.status == "skipped"


async def test_a_sync_whose_start_answer_was_lost_is_waited_for_not_skipped(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    setup = await persona_with_source(run, acts, account)
    persona = setup.input(PersonaInput, persona_id=setup.persona_id)
    await sim_admin.set_chaos(lost_response_rate=1.0, path_pattern=r"/sync$", methods=["POST"], max_faults=1)
    lost = await run.failure(acts.start_sync, persona)  # the server started the sync; its answer was lost
    assert lost.type == "UPSTREAM_ERROR" and not lost.non_retryable

    # The retry's job is skipped (the unseen sync runs): handing it on would plan before the posts exist.
    running = await run.failure(acts.start_sync, persona)
    assert running.type == "NotReady" and not running.non_retryable

    await sim_admin.advance_clock(301)  # the unseen sync completes; the cooldown still runs
    after = await run(acts.start_sync, persona)
    skipped = await run(acts.poll_sync_job, setup.input(JobInput, job_id=after.job_ids[0]))
    assert skipped.status == "skipped"
    client = await acts._account_client(account.ref)
    assert len(await client.list_source_posts(setup.persona_id)) == BACKLOG
    syncs = await sim_admin.ledger(kind="sync", persona_id=setup.persona_id)
    assert [s["details"]["status"] for s in syncs] == ["pending", "skipped", "skipped"]


async def test_plan_cycle_limits_newest_first_skips_handed_on_and_adopts_existing(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    setup = await persona_with_source(run, acts, account)
    await synced(run, acts, sim_admin, setup)
    modes = {setup.source_id: "sync_only"}

    plan = await run(
        acts.plan_cycle, setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes=modes, limit=2)
    )
    assert len(plan.items) == 2 and plan.deferred == BACKLOG - 2
    first, second = plan.items
    listed = await (await acts._account_client(account.ref)).list_source_posts(setup.persona_id)
    newest = sorted(listed, key=lambda p: (p.posted_at, p.id), reverse=True)
    assert [first.source_post_id, second.source_post_id] == [p.id for p in newest[:2]]
    assert all(item.source_id == setup.source_id and item.automation_mode == "sync_only" for item in plan.items)
    assert all(item.existing_generated_post_id is None for item in plan.items)
    assert first.media_type in ("image", "video", "carousel")

    generated = await run(
        acts.generate_post,
        setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=second.source_post_id),
    )
    assert plan.book is not None and len(plan.book.pending) == BACKLOG  # planned, not yet handed on
    replan = await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput,
            persona_id=setup.persona_id,
            source_modes=modes,
            limit=10,
            book=handed_on(plan.book, [first.source_post_id]),
        ),
    )
    ids = [item.source_post_id for item in replan.items]
    assert first.source_post_id not in ids and len(ids) == BACKLOG - 1 and replan.deferred == 0
    adopted = next(item for item in replan.items if item.source_post_id == second.source_post_id)
    assert adopted.existing_generated_post_id == generated.generated_post_id


async def test_plan_cycle_adopts_auto_clone_posts_and_never_generates_them(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.topup(account.email, 5000)
    setup = await persona_with_source(run, acts, account, mode="auto_clone")
    await synced(run, acts, sim_admin, setup)  # the server generates every new post itself

    plan = await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "auto_clone"}, limit=10
        ),
    )
    assert len(plan.items) == BACKLOG and plan.deferred == 0
    assert all(item.existing_generated_post_id and item.automation_mode == "auto_clone" for item in plan.items)

    for item in plan.items:
        outcome = await run(
            acts.generate_post,
            setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=item.source_post_id),
        )
        assert outcome.adopted and outcome.origin == "auto_clone"
        assert outcome.generated_post_id == item.existing_generated_post_id
    entries = await sim_admin.ledger(email=account.email, kind="generate")
    assert len(entries) == BACKLOG and {e["by"] for e in entries} == {"server"}


async def test_plan_cycle_defers_auto_clone_posts_the_server_has_not_generated(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)  # no credits: the server's automation cannot generate
    setup = await persona_with_source(run, acts, account, mode="auto_clone")
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "auto_clone"}, limit=10
        ),
    )
    assert plan.items == [] and plan.deferred == BACKLOG
    assert await sim_admin.ledger(email=account.email, kind="generate") == []


async def test_find_generated_post_waits_for_the_servers_automation(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.topup(account.email, 5000)
    setup = await persona_with_source(run, acts, account, mode="auto_publish")
    started = await run(acts.start_sync, setup.input(PersonaInput, persona_id=setup.persona_id))
    posts = await sim_admin.add_creator_posts(setup.platform, setup.username, count=1, media_type="image")
    wanted = setup.input(FindGeneratedInput, persona_id=setup.persona_id, source_post_id=posts[0]["id"])
    early = await run.failure(acts.find_generated_post, wanted)
    assert early.type == "NotReady" and early.category is ApplicationErrorCategory.BENIGN

    await until_ready(run, sim_admin, acts.poll_sync_job, setup.input(JobInput, job_id=started.job_ids[0]))
    await sim_admin.advance_clock(901)  # past the cooldown: the next sync picks up the new post
    await synced(run, acts, sim_admin, setup)
    found = await run(acts.find_generated_post, wanted)
    assert found.adopted and found.origin == "auto_publish"


async def test_generate_twice_makes_one_generated_post(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    setup = await persona_with_source(run, acts, account)
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=1),
    )
    wanted = setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.items[0].source_post_id)

    first = await run(acts.generate_post, wanted)
    second = await run(acts.generate_post, wanted)
    assert not first.adopted and first.origin == "api"
    assert second.adopted and second.generated_post_id == first.generated_post_id
    assert len(await _generate_entries(sim_admin, account, wanted.source_post_id)) == 1
    assert "generating" in run.heartbeats


async def test_generate_after_a_lost_response_adopts_instead_of_paying_twice(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    setup = await persona_with_source(run, acts, account)
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=2),
    )
    for item, mode, error_type in zip(plan.items, ("502", "drop"), ("UPSTREAM_ERROR", "TRANSPORT_ERROR"), strict=True):
        # time scale 0.001: the 120 s settle time after an unanswered generate is 0.12 s
        wanted = setup.input(
            GenerateInput, persona_id=setup.persona_id, source_post_id=item.source_post_id, time_scale=0.001
        )
        # The server commits the generate, then the answer is lost (a 502, or the connection dropped).
        await sim_admin.set_chaos(
            lost_response_rate=1.0, lost_response_mode=mode, path_pattern=r"/v1/generate$", methods=["POST"]
        )
        lost = await run.failure(acts.generate_post, wanted)
        assert lost.type == error_type and not lost.non_retryable
        await sim_admin.set_chaos()

        settling = await run.failure(acts.generate_post, wanted)  # Temporal's retry of the same activity
        assert settling.type == "NotReady" and settling.next_retry_delay is not None
        await asyncio.sleep(settling.next_retry_delay.total_seconds())  # what the retry policy waits
        retried = await run(acts.generate_post, wanted)
        entries = await _generate_entries(sim_admin, account, item.source_post_id)
        assert len(entries) == 1
        assert retried.adopted and retried.origin == "api"
        assert retried.generated_post_id == entries[0]["generated_post_id"]
    faults = await sim_admin.ledger(kind="fault")
    assert sum(1 for f in faults if f["details"].get("lost")) == 2


async def test_generate_without_credits_is_insufficient_balance(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    setup = await persona_with_source(run, acts, account)
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=1),
    )
    error = await run.failure(
        acts.generate_post,
        setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.items[0].source_post_id),
    )
    assert error.type == "INSUFFICIENT_BALANCE" and error.non_retryable
    assert await sim_admin.ledger(email=account.email, kind="generate") == []


async def test_a_bad_key_is_unauthorized_and_no_key_is_missing_secret(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    bad_key = "rm_" + "Z" * 40
    await store.put(account.ref, "api_key", bad_key)
    error = await run.failure(acts.get_balance, AccountRef(account_ref=account.ref))
    assert error.type == "UNAUTHORIZED" and error.non_retryable
    assert bad_key not in error.message

    missing = await run.failure(acts.get_balance, AccountRef(account_ref="never-onboarded"))
    assert missing.type == "MISSING_SECRET" and missing.non_retryable
    assert "api_key" in missing.message


async def test_rate_limit_and_unavailable_carry_the_next_retry_delay(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    ref = AccountRef(account_ref=account.ref)
    await sim_admin.set_chaos(error_rates={"503": 1.0}, path_pattern=r"/v1/billing/balance$", max_faults=1)
    unavailable = await run.failure(acts.get_balance, ref)
    assert unavailable.type == "SERVICE_UNAVAILABLE" and not unavailable.non_retryable
    assert unavailable.next_retry_delay is not None and unavailable.next_retry_delay.total_seconds() == 0.5

    await sim_admin.set_chaos()
    await sim_admin.patch_config({"rate_limit": {"limit": 1, "window_seconds": 30, "reset_format": "seconds"}})
    limited = None
    for _ in range(3):  # the budget of 1 may already be spent by the calls above
        try:
            await run(acts.get_balance, ref)
        except ApplicationError as exc:
            limited = exc
            break
    assert limited is not None
    assert limited.type == "RATE_LIMITED" and not limited.non_retryable
    assert limited.next_retry_delay is not None and 1 <= limited.next_retry_delay.total_seconds() <= 30


async def test_a_sync_retried_after_a_failed_read_goes_on_with_the_sync_it_started(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    setup = await persona_with_source(run, acts, account)
    persona = setup.input(PersonaInput, persona_id=setup.persona_id)
    await sim_admin.patch_config({"answers": "guide"})  # the sync's answer names no job states: each is read
    await sim_admin.set_chaos(error_rates={"502": 1.0}, path_pattern=r"/sync-jobs/", methods=["GET"], max_faults=1)
    failed = await run.failure(acts.start_sync, persona)  # the sync started; reading its job failed
    assert failed.type == "UPSTREAM_ERROR"

    # the next attempt, as Temporal hands it the last heartbeat details: no second sync, no skipped job
    run.env.info = dataclasses.replace(run.env.info, attempt=2, heartbeat_details=[run.details[-1]])
    started = await run(acts.start_sync, persona)
    assert set(started.statuses.values()) <= {"pending", "running"}
    syncs = await sim_admin.ledger(kind="sync", persona_id=setup.persona_id)
    assert [s["details"]["status"] for s in syncs] == ["pending"]


async def test_a_sync_answer_that_carries_its_jobs_spares_reading_them(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    setup = await persona_with_source(run, acts, account)
    persona = setup.input(PersonaInput, persona_id=setup.persona_id)
    await sim_admin.set_chaos(error_rates={"502": 1.0}, path_pattern=r"/sync-jobs/", methods=["GET"])
    started = await run(acts.start_sync, persona)  # every read of a job would fail: none is made
    assert len(started.job_ids) == 1 and set(started.statuses.values()) <= {"pending", "running"}
    assert sum((await sim_admin.stats())["faults"].values()) == 0

    # the guard still works from the answer alone: inside the cooldown the job is skipped, and the source's
    # last completed sync (none yet) says the first one still runs
    again = await run.failure(acts.start_sync, persona)
    assert again.type == "NotReady"
    assert sum((await sim_admin.stats())["faults"].values()) == 0
