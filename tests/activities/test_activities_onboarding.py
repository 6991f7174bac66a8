"""Onboarding activities end to end against the simulator and localstripe, and their idempotency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activity_helpers import Account, Runner
from temporalio.exceptions import ApplicationErrorCategory

from activities.error_types import ErrorType
from activities.models import (
    AccountRef,
    AutoReloadInput,
    AwaitBalanceInput,
    CreateApiKeyInput,
    SignupInput,
    VerifyEmailInput,
)
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore, fingerprint
from activities.settings import ActivitySettings
from reelmirror.models import ALL_SCOPES
from simulator.admin import SimulatorAdmin

EMAIL = "onboarding-bot@example.com"


async def test_onboarding_end_to_end(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    ref = "bot-1"
    signup = await run(acts.signup, SignupInput(account_ref=ref, email=EMAIL))
    assert signup.user_id and not signup.already_exists
    assert await store.has(ref, "password")

    verified = await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=EMAIL))
    assert (verified.user_id, verified.email) == (signup.user_id, EMAIL)
    jwt = await store.get(ref, "jwt")
    assert jwt is not None and verified.jwt_fingerprint == fingerprint(jwt)

    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="bot", scopes=list(ALL_SCOPES)))
    stored_key = await store.get(ref, "api_key")
    assert stored_key is not None and key.fingerprint == fingerprint(stored_key)
    assert set(key.scopes) == set(ALL_SCOPES) and not key.reused
    assert stored_key.get_secret_value() not in key.model_dump_json()

    before = await run(acts.get_balance, AccountRef(account_ref=ref))
    assert (before.balance_cents, before.has_payment_method) == (0, False)

    card = await run(acts.attach_card, AccountRef(account_ref=ref))
    assert card.status == "succeeded" and not card.already_attached
    assert card.setup_intent_id and card.setup_intent_id.startswith("seti_")

    balance = await run(acts.await_balance, AwaitBalanceInput(account_ref=ref, at_least_cents=500))
    assert balance.balance_cents == 500 and balance.has_payment_method

    reload = await run(
        acts.configure_auto_reload, AutoReloadInput(account_ref=ref, threshold_cents=300, amount_cents=2000)
    )
    assert (reload.auto_reload, reload.reload_threshold_cents, reload.reload_amount_cents) == (True, 300, 2000)

    kinds = [entry["kind"] for entry in await sim_admin.ledger(email=EMAIL)]
    for kind in ("signup", "email_confirmed", "api_key", "setup_intent", "bonus"):
        assert kinds.count(kind) == 1, (kind, kinds)


async def test_every_onboarding_step_run_twice_acts_once(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    """A retried step (its first answer lost, the worker killed) finds its own earlier effect."""
    ref = "bot-2"
    first = await run(acts.signup, SignupInput(account_ref=ref, email=EMAIL))
    again = await run(acts.signup, SignupInput(account_ref=ref, email=EMAIL))
    assert again.already_exists and again.user_id == first.user_id

    verified = await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=EMAIL))
    # The link is spent; the retry returns the stored session instead of failing on it.
    reverified = await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=EMAIL))
    assert reverified == verified

    scopes = ["personas:read", "billing:read", "billing:write"]
    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="bot", scopes=scopes))
    reused = await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="bot", scopes=scopes[:1]))
    assert reused.reused and (reused.key_id, reused.fingerprint) == (key.key_id, key.fingerprint)

    card = await run(acts.attach_card, AccountRef(account_ref=ref))
    card_again = await run(acts.attach_card, AccountRef(account_ref=ref))
    # The same run's retry: its own card, whose bonus is still to be seen (not "attached by someone earlier").
    assert (card_again.setup_intent_id, card_again.status) == (card.setup_intent_id, "succeeded")
    assert not card_again.already_attached

    kinds = [entry["kind"] for entry in await sim_admin.ledger(email=EMAIL)]
    for kind in ("signup", "email_confirmed", "api_key", "setup_intent", "bonus"):
        assert kinds.count(kind) == 1, (kind, kinds)
    assert "signup_refused" not in kinds


async def test_signup_of_a_registered_email_reports_already_exists(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin
) -> None:
    """Another store (a lost first answer, or a second worker) meets 409 and reports the account exists."""
    await run(acts.signup, SignupInput(account_ref="first", email=EMAIL))
    outcome = await run(acts.signup, SignupInput(account_ref="second", email=EMAIL))
    assert outcome.already_exists and outcome.user_id is None
    assert len(await sim_admin.ledger(email=EMAIL, kind="signup")) == 1


async def test_create_api_key_replaces_a_refused_key(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore
) -> None:
    ref = "bot-3"
    await run(acts.signup, SignupInput(account_ref=ref, email=EMAIL))
    await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=EMAIL))
    await store.put(ref, "api_key", "rm_" + "x" * 40)  # revoked by an operator, say
    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="bot", scopes=["billing:read"]))
    assert not key.reused
    assert await store.get(ref, "api_key") is not None
    assert key.fingerprint == fingerprint(await store.get(ref, "api_key"))  # type: ignore[arg-type]


async def test_verify_email_before_the_mail_arrives_is_not_ready(run: Runner, acts: ReelMirrorActivities) -> None:
    error = await run.failure(acts.verify_email, VerifyEmailInput(account_ref="nobody", email="nobody@example.com"))
    assert error.type == ErrorType.NOT_READY
    assert error.category is ApplicationErrorCategory.BENIGN
    assert not error.non_retryable


async def test_verify_email_without_a_mailbox_waits_for_the_signal(
    run: Runner, settings: ActivitySettings, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    acts = ReelMirrorActivities(settings, store, None)
    try:
        await run(acts.signup, SignupInput(account_ref="sig", email=EMAIL))
        error = await run.failure(acts.verify_email, VerifyEmailInput(account_ref="sig", email=EMAIL))
        assert error.type == ErrorType.NOT_READY and "confirm_email" in error.message
        link = await sim_admin.confirmation_link(EMAIL)
        assert link is not None
        verified = await run(acts.verify_email, VerifyEmailInput(account_ref="sig", email=EMAIL, link=link))
        assert verified.email == EMAIL
        # The signal's link delivered again (a retried activity): the stored session, not an error.
        assert await run(acts.verify_email, VerifyEmailInput(account_ref="sig", email=EMAIL, link=link)) == verified
    finally:
        await acts.aclose()


async def test_a_spent_link_from_elsewhere_is_a_confirmation_link_error(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin
) -> None:
    await run(acts.signup, SignupInput(account_ref="one", email=EMAIL))
    link = await sim_admin.confirmation_link(EMAIL)
    assert link is not None
    await run(acts.verify_email, VerifyEmailInput(account_ref="one", email=EMAIL, link=link))
    error = await run.failure(acts.verify_email, VerifyEmailInput(account_ref="two", email=EMAIL, link=link))
    assert error.type == ErrorType.CONFIRMATION_LINK and error.non_retryable
    assert "token=" not in error.message


async def test_await_balance_is_not_ready_without_a_card(
    run: Runner, acts: ReelMirrorActivities, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    error = await run.failure(acts.await_balance, AwaitBalanceInput(account_ref=account.ref, at_least_cents=500))
    assert error.type == ErrorType.NOT_READY and error.category is ApplicationErrorCategory.BENIGN
    assert "not saved" in error.message


async def test_declined_card_is_card_declined(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    await store.put(account.ref, "payment_method", "pm_card_visa_chargeDeclined")  # the store wins over the setting
    error = await run.failure(acts.attach_card, AccountRef(account_ref=account.ref))
    assert error.type == ErrorType.CARD_DECLINED and error.non_retryable
    assert "declined" in error.message and "pm_card" not in error.message


async def test_attach_card_without_a_payment_method_is_missing_secret(
    run: Runner,
    settings: ActivitySettings,
    store: SecretStore,
    acts: ReelMirrorActivities,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded(card=False)
    bare = ReelMirrorActivities(settings.model_copy(update={"payment_method": None}), store, None)
    try:
        error = await run.failure(bare.attach_card, AccountRef(account_ref=account.ref))
    finally:
        await bare.aclose()
    assert error.type == ErrorType.MISSING_SECRET and error.non_retryable
    assert "REELMIRROR_PAYMENT_METHOD" in error.message


async def test_auto_reload_without_a_card_is_a_validation_error(
    run: Runner, acts: ReelMirrorActivities, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    error = await run.failure(acts.configure_auto_reload, AutoReloadInput(account_ref=account.ref))
    assert error.type == ErrorType.VALIDATION_ERROR and error.non_retryable
