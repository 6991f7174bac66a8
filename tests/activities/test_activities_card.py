"""The SetupIntent window: the intent is stored before it is confirmed, and a retry reads it back from
Stripe (publishable key plus client secret, as Stripe.js does) and goes on from its status instead of
asking for a new one. Whether a card is saved does not depend on the assumed `has_payment_method`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import stripe
from activity_helpers import PUBLISHABLE_KEY, Account, Runner, until_ready

from activities.error_types import ErrorType
from activities.models import AccountRef, AwaitBalanceInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from activities.setup_intents import SETUP_INTENT_ID, SETUP_INTENT_RUN, SETUP_INTENT_SECRET
from reelmirror.client import ReelMirrorClient
from reelmirror.stripe_setup import confirm_setup_intent
from simulator.admin import SimulatorAdmin

#: The run id `ActivityEnvironment` gives every activity it runs: "the same workflow run".
TEST_RUN = "test-run"
#: A test card that asks for 3-D Secure (localstripe knows it as Stripe does).
THREE_D_SECURE_CARD = "4000002500003155"


async def intent_left_by_a_dead_attempt(
    settings: ActivitySettings, store: SecretStore, account: Account, *, confirm: bool
) -> str:
    """What an attempt killed after storing (and maybe confirming) its SetupIntent leaves behind."""
    key = await store.get(account.ref, "api_key")
    async with ReelMirrorClient(settings.base_url, token=key) as client:
        intent = await client.create_setup_intent()
    await store.update(
        account.ref,
        {SETUP_INTENT_ID: intent.intent_id, SETUP_INTENT_SECRET: intent.client_secret, SETUP_INTENT_RUN: TEST_RUN},
    )
    if confirm:
        await confirm_setup_intent(
            intent.client_secret, "pm_card_visa", PUBLISHABLE_KEY, api_base=settings.stripe_api_base
        )
    return intent.intent_id


async def setup_intents(sim_admin: SimulatorAdmin, account: Account) -> int:
    return len(await sim_admin.ledger(kind="setup_intent", email=account.email))


@pytest.mark.parametrize("answers", ["full", "guide"])
async def test_a_confirm_whose_answer_was_lost_is_read_back_not_repeated(
    run: Runner,
    acts: ReelMirrorActivities,
    settings: ActivitySettings,
    store: SecretStore,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
    answers: str,
) -> None:
    account = await onboarded(card=False)
    await sim_admin.patch_config({"answers": answers})
    intent_id = await intent_left_by_a_dead_attempt(settings, store, account, confirm=True)

    card = await run(acts.attach_card, AccountRef(account_ref=account.ref))

    assert (card.setup_intent_id, card.status) == (intent_id, "succeeded")
    assert not card.already_attached  # this run's own card: its bonus is still to come
    assert await setup_intents(sim_admin, account) == 1


async def test_an_intent_never_confirmed_is_confirmed_not_replaced(
    run: Runner,
    acts: ReelMirrorActivities,
    settings: ActivitySettings,
    store: SecretStore,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded(card=False)
    await sim_admin.patch_config({"answers": "guide"})
    intent_id = await intent_left_by_a_dead_attempt(settings, store, account, confirm=False)

    card = await run(acts.attach_card, AccountRef(account_ref=account.ref))

    assert (card.setup_intent_id, card.status) == (intent_id, "succeeded")
    assert await setup_intents(sim_admin, account) == 1


async def test_a_cancelled_intent_is_replaced(
    run: Runner,
    acts: ReelMirrorActivities,
    store: SecretStore,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded(card=False)
    await store.put(account.ref, "payment_method", "pm_card_visa_chargeDeclined")
    declined = await run.failure(acts.attach_card, AccountRef(account_ref=account.ref))
    assert declined.type == ErrorType.CARD_DECLINED
    cancelled = await store.get(account.ref, SETUP_INTENT_ID)  # localstripe cancels an intent whose card was declined
    await store.put(account.ref, "payment_method", "pm_card_visa")  # the operator fixed the card

    card = await run(acts.attach_card, AccountRef(account_ref=account.ref))

    assert cancelled is not None and card.status == "succeeded"
    assert card.setup_intent_id != cancelled.get_secret_value()
    assert await setup_intents(sim_admin, account) == 2


async def test_a_card_that_asks_for_3d_secure_needs_a_human(
    run: Runner,
    acts: ReelMirrorActivities,
    settings: ActivitySettings,
    store: SecretStore,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded(card=False)
    admin_stripe = stripe.StripeClient("sk_test_tests", base_addresses={"api": settings.stripe_api_base})
    card = {"number": THREE_D_SECURE_CARD, "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    method = await admin_stripe.v1.payment_methods.create_async(params={"type": "card", "card": card})
    await store.put(account.ref, "payment_method", method.id)

    first = await run.failure(acts.attach_card, AccountRef(account_ref=account.ref))
    again = await run.failure(acts.attach_card, AccountRef(account_ref=account.ref))  # read back: still waiting

    for error in (first, again):
        assert error.type == ErrorType.CARD_NEEDS_ACTION and error.non_retryable
        assert "3-D Secure" in error.message and method.id not in error.message


async def test_guide_answers_card_and_bonus_come_from_stripe_and_the_late_webhook(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    """No `has_payment_method` in guide answers: the stored intent at Stripe says the card is saved."""
    account = await onboarded(card=False)
    await sim_admin.patch_config({"answers": "guide"})
    before = await run(acts.get_balance, AccountRef(account_ref=account.ref))
    assert before.has_payment_method is None

    card = await run(acts.attach_card, AccountRef(account_ref=account.ref))
    await asyncio.sleep(0.5)  # the webhook relay notices the succeeded intent (every 0.2 real seconds)
    balance = await until_ready(
        run, sim_admin, acts.await_balance, AwaitBalanceInput(account_ref=account.ref, at_least_cents=500), step=60
    )

    assert card.status == "succeeded" and balance.has_payment_method is True and balance.balance_cents == 500
    assert [e["details"]["via"] for e in await sim_admin.ledger(kind="bonus", email=account.email)] == ["webhook"]
    assert await setup_intents(sim_admin, account) == 1
