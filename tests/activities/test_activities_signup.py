"""Signup exactly once without relying on 409: after a lost answer the retry asks whether the account
exists (a password login Supabase answers "e-mail not confirmed", or the confirmation mail) before it
posts again, posts again at most once, and parks rather than risk a second account."""

from __future__ import annotations

import pytest
from activity_helpers import Runner

from activities.error_types import PARK_FOR_OPERATOR, ErrorType
from activities.mailbox import SimulatorMailbox
from activities.models import CreateApiKeyInput, SignupInput, VerifyEmailInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from reelmirror.client import ReelMirrorClient
from reelmirror.models import ALL_SCOPES
from simulator.admin import SimulatorAdmin

SIGNUP_PATH = "/v1/auth/signup$"


async def lose_next_signup_answers(sim_admin: SimulatorAdmin, mode: str = "502", times: int = 1) -> None:
    """The server commits the signup, then the client gets a 502 (or the connection drops)."""
    await sim_admin.set_chaos(
        lost_response_rate=1.0, lost_response_mode=mode, path_pattern=SIGNUP_PATH, methods=["POST"], max_faults=times
    )


async def signup_requests(sim_admin: SimulatorAdmin, email: str) -> list[str]:
    """What the service saw of this address's signups (a repeat in guide answers is `signup_repeated`)."""
    return [e["kind"] for e in await sim_admin.ledger(email=email) if e["kind"].startswith("signup")]


async def finish(run: Runner, acts: ReelMirrorActivities, ref: str, email: str) -> None:
    await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=email))
    await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="bot", scopes=list(ALL_SCOPES)))


@pytest.mark.parametrize(("answers", "mode"), [("full", "502"), ("full", "drop"), ("guide", "502"), ("guide", "drop")])
async def test_a_lost_signup_answer_is_recognised_without_a_second_signup(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, answers: str, mode: str
) -> None:
    await sim_admin.patch_config({"answers": answers})
    ref, email = f"lost-{answers}-{mode}", f"lost-{answers}-{mode}@example.com"
    await lose_next_signup_answers(sim_admin, mode)

    first = await run.failure(acts.signup, SignupInput(account_ref=ref, email=email))
    retried = await run(acts.signup, SignupInput(account_ref=ref, email=email))

    assert first.type in (ErrorType.UPSTREAM_ERROR, ErrorType.TRANSPORT_ERROR) and not first.non_retryable
    assert retried.recovered and not retried.already_exists
    # the retry's own result lost too (its worker died before reporting it): still no request
    again = await run(acts.signup, SignupInput(account_ref=ref, email=email))
    assert again.already_exists
    assert await signup_requests(sim_admin, email) == ["signup"]  # no second request: no 409, no repeat
    assert (await sim_admin.stats())["by_status"].get("409", 0) == 0
    await finish(run, acts, ref, email)
    assert len(await sim_admin.ledger(kind="api_key", email=email)) == 1


async def test_without_an_auth_origin_the_confirmation_mail_proves_the_account(
    run: Runner, settings: ActivitySettings, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    acts = ReelMirrorActivities(
        settings.model_copy(update={"auth_origin": None}), store, SimulatorMailbox(settings.mailbox_url or "")
    )
    try:
        await sim_admin.patch_config({"answers": "guide"})
        await lose_next_signup_answers(sim_admin, "drop")
        await run.failure(acts.signup, SignupInput(account_ref="mailonly", email="mailonly@example.com"))
        retried = await run(acts.signup, SignupInput(account_ref="mailonly", email="mailonly@example.com"))
    finally:
        await acts.aclose()
    assert retried.recovered
    assert await signup_requests(sim_admin, "mailonly@example.com") == ["signup"]


async def test_a_request_that_never_landed_is_sent_once_more(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin
) -> None:
    """A 503 before the handler looks like a lost answer; nothing shows an account, so the last resort runs."""
    await sim_admin.set_chaos(error_rates={"503": 1.0}, path_pattern=SIGNUP_PATH, max_faults=1)
    await run.failure(acts.signup, SignupInput(account_ref="never", email="never@example.com"))
    assert await signup_requests(sim_admin, "never@example.com") == []

    retried = await run(acts.signup, SignupInput(account_ref="never", email="never@example.com"))

    assert retried.user_id and retried.recovered
    assert await signup_requests(sim_admin, "never@example.com") == ["signup"]


async def test_after_two_unanswered_requests_no_third_is_sent(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    await sim_admin.set_chaos(error_rates={"503": 1.0}, path_pattern=SIGNUP_PATH, max_faults=2)
    for _ in range(2):
        await run.failure(acts.signup, SignupInput(account_ref="twice", email="twice@example.com"))

    parked = await run.failure(acts.signup, SignupInput(account_ref="twice", email="twice@example.com"))

    assert parked.type == ErrorType.SIGNUP_UNCERTAIN and parked.type in PARK_FOR_OPERATOR and parked.non_retryable
    assert "send retry" in parked.message and "signup_posts" in parked.message
    assert (await sim_admin.stats())["faults"]["503"] == 2
    assert await signup_requests(sim_admin, "twice@example.com") == []  # the faults are spent: a third would land
    assert await store.get("twice", "password") is not None


async def test_a_worker_killed_mid_request_counts_as_a_lost_answer(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin, settings: ActivitySettings
) -> None:
    """The dead attempt left its password and its mark in the store, and its request committed."""
    email = "killed@example.com"
    await store.update("killed", {"password": "the-dead-workers-password", "email": email, "signup_pending_at": "1"})
    async with ReelMirrorClient(settings.base_url) as client:
        await client.signup(email, "the-dead-workers-password")

    retried = await run(acts.signup, SignupInput(account_ref="killed", email=email))

    assert retried.recovered and await signup_requests(sim_admin, email) == ["signup"]
    assert (await sim_admin.stats())["by_status"].get("409", 0) == 0
