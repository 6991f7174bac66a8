"""kill -9 the only worker at each stage of the product, start a fresh one, and check nothing was lost or repeated.

Each case waits (by polling the simulator's ledger and the workflow histories, never by sleeping) until the
work sits exactly at the stage under test, SIGKILLs the worker process group, starts a new worker process
and lets the run finish. The simulator's ledger must then show one signup, one API key, one generate per
source post, one approve per approved post and exactly the charges of those generates. The seconds from
the kill to the end of the run are printed (never asserted): they show what a crash costs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from crash_helpers import (
    RecoveryClock,
    activity_completed,
    assert_cycle_done,
    assert_exactly_once,
    ledger_has,
    onboard,
    onboarding_input,
    persona_config,
    persona_id_of,
    post_workflow_id,
    start_persona,
    wait_for,
)
from temporalio.client import Client

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from workflows.models import AccountSummary, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "crash-bot@reelmirror.test"
ACCOUNT = "crash"
RESULT_TIMEOUT = 240  # seconds; a kill mid-call costs the activity's 60 s start-to-close timeout


def kill_worker(stack: LocalStack) -> float:
    """SIGKILL the one live worker; returns the monotonic time of the kill."""
    live = [worker for worker in stack.workers if worker.alive()]
    assert len(live) == 1, f"expected one live worker, found {len(live)}"
    live[0].kill_hard()
    return time.monotonic()


@pytest.fixture(scope="module")
async def account(client: Client, stack: LocalStack) -> AccountSummary:
    """The account the persona cases share (onboarded once, before any kill)."""
    async with SimulatorAdmin(stack.sim_origin) as admin:
        return await onboard(client, admin, EMAIL, ACCOUNT)


@pytest.fixture
async def sim_knobs(admin: SimulatorAdmin) -> AsyncIterator[SimulatorAdmin]:
    """Restore the simulator's durations and chaos after a case changed them."""
    durations = (await admin.config())["durations_seconds"]
    try:
        yield admin
    finally:
        await admin.set_chaos()
        await admin.patch_config({"durations_seconds": durations})


async def test_a_worker_killed_between_signup_and_email_confirmation(
    stack: LocalStack, client: Client, admin: SimulatorAdmin, recovery: RecoveryClock
) -> None:
    email, account = "crash-signup@reelmirror.test", "crash-signup"
    handle = await ops.start_onboarding(
        client, onboarding_input(email, account, confirmation="signal", card=True), DEFAULT_TASK_QUEUE
    )
    await wait_for(lambda: ledger_has(admin, "signup", email=email), "the signup in the ledger")
    await wait_for(lambda: activity_completed(client, handle.id, "signup"), "the signup activity's result")
    killed = kill_worker(stack)
    stack.start_worker()

    link = await wait_for(lambda: admin.confirmation_link(email), "the confirmation e-mail")
    await ops.confirm_email(client, account, link)
    summary: AccountSummary = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("a: signup -> confirm", killed)

    assert summary.bonus_granted and summary.key_fingerprint.startswith("sha256:")
    kinds = Counter(entry["kind"] for entry in await admin.ledger(email=email))
    for kind in ("signup", "email_confirmed", "api_key", "bonus"):
        assert kinds[kind] == 1, f"{kind}: {kinds[kind]} times ({dict(kinds)})"
    assert kinds["signup_refused"] == 0


async def test_b_worker_killed_while_a_sync_job_is_polled(
    stack: LocalStack, client: Client, sim_knobs: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    admin = sim_knobs
    await admin.patch_config({"durations_seconds": {"sync": [400, 400]}})  # 4 real seconds
    config = persona_config("Crash Sync", "crash_sync_chef", posts=2)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    await wait_for(lambda: ledger_has(admin, "sync", persona_id=persona_id), "the sync in the ledger")
    await wait_for(lambda: activity_completed(client, handle.id, "start_sync"), "start_sync's result")
    assert not await ledger_has(admin, "sync_completed", persona_id=persona_id), "the sync ended before the kill"
    killed = kill_worker(stack)
    stack.start_worker()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("b: sync polling", killed)

    await assert_cycle_done(client, config, status, posts=2)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=2, expected_approved=2)
    assert len(await ledger_has(admin, "sync", persona_id=persona_id)) == 1, "the sync was started again"


async def test_b2_worker_killed_after_the_sync_started_before_its_answer_arrived(
    stack: LocalStack, client: Client, sim_knobs: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    """The server starts the sync and the answer is lost; the kill lands before the retry, whose job comes
    back skipped (the first sync still runs): the cycle must wait for that sync, not plan without its posts."""
    admin = sim_knobs
    # 15 real seconds: longer than the fresh worker needs to pick the persona up again (its sticky queue on
    # the dead worker times out after 10 s), so the skipped job is seen while the first sync still runs.
    await admin.patch_config({"durations_seconds": {"sync": [1500, 1500]}})
    await admin.set_chaos(
        lost_response_rate=1.0, lost_response_mode="502", path_pattern="/sync$", methods=["POST"], max_faults=1
    )
    config = persona_config("Crash Sync Start", "crash_sync_start_chef", posts=2)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    await wait_for(lambda: ledger_has(admin, "sync", persona_id=persona_id), "the sync in the ledger", every=0.02)
    killed = kill_worker(stack)
    assert not await activity_completed(client, handle.id, "start_sync"), "the kill came after start_sync ended"
    stack.start_worker()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("b2: sync started, answer lost", killed)

    await assert_cycle_done(client, config, status, posts=2)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=2, expected_approved=2)


async def test_c_worker_killed_after_generate_committed_before_the_activity_completed(
    stack: LocalStack, client: Client, sim_knobs: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    """The server commits each generate and the answer is lost (502); the kill lands before the retry."""
    admin = sim_knobs
    await admin.set_chaos(
        lost_response_rate=1.0, lost_response_mode="502", path_pattern="/v1/generate$", methods=["POST"]
    )
    config = persona_config("Crash Generate", "crash_generate_chef", posts=2)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    committed = await wait_for(lambda: ledger_has(admin, "generate", persona_id=persona_id), "a generate", every=0.02)
    killed = kill_worker(stack)
    await admin.set_chaos()
    for entry in committed:
        child = post_workflow_id(config, entry["source_post_id"])
        assert not await activity_completed(client, child, "generate_post"), "the kill came after the activity ended"
    stack.start_worker()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("c: generate committed, answer lost", killed)

    await assert_cycle_done(client, config, status, posts=2)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=2, expected_approved=2)
    lost = [e for e in await admin.ledger(kind="fault", email=EMAIL) if e["details"].get("lost")]
    assert lost, "the generate answers were meant to be lost"


async def test_c2_worker_killed_with_the_generate_request_in_flight(
    stack: LocalStack, client: Client, sim_knobs: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    """The worker dies while the server holds its generate request (injected latency).

    The request dies with the connection before the server reads it, so nothing is committed; nobody will
    ever report that attempt either, so Temporal retries it when its start-to-close timeout (60 s) runs
    out, on the fresh worker, which must generate exactly once.
    """
    admin = sim_knobs
    await admin.set_chaos(latency_ms=[2000, 2000], path_pattern="/v1/generate$", methods=["POST"])
    config = persona_config("Crash In Flight", "crash_inflight_chef", posts=1)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    await wait_for(lambda: _held_generates(admin), "a generate request held by the server", every=0.02)
    killed = kill_worker(stack)
    await admin.set_chaos()
    stack.start_worker()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("c2: generate request in flight", killed)

    await assert_cycle_done(client, config, status, posts=1)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=1, expected_approved=1)


async def _held_generates(admin: SimulatorAdmin) -> list[dict]:
    """Latency faults on POST /v1/generate: the request reached the server and waits there."""
    faults = await admin.ledger(kind="fault", email=EMAIL)
    return [
        e for e in faults if e["details"].get("code") == "LATENCY" and e["details"]["path"].endswith("/v1/generate")
    ]


async def test_d_worker_killed_while_a_post_waits_for_approval(
    stack: LocalStack, client: Client, admin: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    config = persona_config("Crash Approval", "crash_approval_chef", posts=1, approval="manual")
    handle = await start_persona(client, ACCOUNT, config)

    async def pending() -> str | None:
        status = await handle.query(PersonaLoopWorkflow.status)
        return status.pending_approvals[0].generated_post_id if status.pending_approvals else None

    post_id = await wait_for(pending, "a post waiting for approval", within=120, every=0.2)
    killed = kill_worker(stack)
    stack.start_worker()

    await ops.decide(client, post_id, approve=True)
    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("d: awaiting approval", killed)

    await assert_cycle_done(client, config, status, posts=1)
    verdict = await assert_exactly_once(admin, EMAIL, status.persona_id or "", expected_posts=1, expected_approved=1)
    assert verdict.approved == {post_id} == verdict.delivered


async def test_e_worker_killed_while_deliveries_are_polled(
    stack: LocalStack, client: Client, sim_knobs: SimulatorAdmin, account: AccountSummary, recovery: RecoveryClock
) -> None:
    admin = sim_knobs
    await admin.patch_config({"durations_seconds": {"delivery": [400, 400]}})  # 4 real seconds
    config = persona_config("Crash Delivery", "crash_delivery_chef", posts=2)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    approved = await wait_for(lambda: ledger_has(admin, "approve", persona_id=persona_id), "an approve", within=120)
    child = post_workflow_id(config, approved[0]["source_post_id"])
    await wait_for(lambda: activity_completed(client, child, "approve_post"), "approve_post's result")
    assert not await ledger_has(admin, "delivery", persona_id=persona_id), "a delivery ended before the kill"
    killed = kill_worker(stack)
    stack.start_worker()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("e: delivery polling", killed)

    await assert_cycle_done(client, config, status, posts=2)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=2, expected_approved=2)
