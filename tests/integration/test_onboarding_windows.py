"""Onboarding on real processes where the contract only assumes: guide-minimal answers and a late session.

* The SetupIntent window in the guide-minimal world: the balance never says whether a card is saved and the
  bonus comes only by a Stripe webhook relayed late; onboarding with a card must still see the bonus, with
  one SetupIntent confirmed.
* Sessions that last: the key step runs two simulated days after the e-mail was confirmed (held between the
  steps by a ReelMirror that answers 503 to key creation meanwhile); the JWT died long ago, and the stored
  refresh token gets the key anyway.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.models import AccountSummary
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMING = Timing(time_scale=0.01)
TWO_DAYS = 2 * 24 * 3600


async def wait_for(check, what: str, within: float = 60.0):
    for _ in range(int(within / 0.1)):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def guide(admin: SimulatorAdmin) -> AsyncIterator[None]:
    await admin.patch_config({"answers": "guide"})
    try:
        yield
    finally:
        await admin.patch_config({"answers": "full"})


async def test_guide_answers_onboarding_with_a_card_sees_the_late_bonus(
    client: Client, admin: SimulatorAdmin, guide: None
) -> None:
    email = "guide-card@reelmirror.test"
    handle = await ops.start_onboarding(
        client,
        OnboardingInput(email=email, account_ref="guide-card", attach_card=True, timing=TIMING),
        DEFAULT_TASK_QUEUE,
    )
    summary: AccountSummary = await asyncio.wait_for(handle.result(), timeout=120)

    kinds = Counter(entry["kind"] for entry in await admin.ledger(email=email))
    assert summary.bonus_granted and summary.balance_cents == 500, summary
    assert kinds["setup_intent"] == 1 and kinds["bonus"] == 1 and kinds["signup"] == 1 and kinds["api_key"] == 1
    bonus = await admin.ledger(kind="bonus", email=email)
    assert bonus[0]["details"]["via"] == "webhook"


async def test_the_key_step_two_simulated_days_after_the_confirmation_gets_its_key(
    client: Client, admin: SimulatorAdmin
) -> None:
    email = "two-days@reelmirror.test"
    inp = OnboardingInput(email=email, account_ref="two-days", confirmation="signal", timing=TIMING)
    handle = await ops.start_onboarding(client, inp, DEFAULT_TASK_QUEUE)
    link = await wait_for(lambda: admin.confirmation_link(email), "the confirmation mail")
    await admin.set_chaos(error_rates={"503": 1.0}, path_pattern="/v1/api-keys$")  # hold it before the key
    await ops.confirm_email(client, inp.account_ref, link)
    await wait_for(lambda: admin.ledger(kind="email_confirmed", email=email), "the confirmation")
    await wait_for(lambda: _refused_key_requests(admin), "a held key request")
    await admin.advance_clock(TWO_DAYS)
    await admin.set_chaos()

    summary: AccountSummary = await asyncio.wait_for(handle.result(), timeout=120)

    assert summary.key_fingerprint.startswith("sha256:")
    assert len(await admin.ledger(kind="api_key", email=email)) == 1
    # A 503 does not say whether the key was made, so the held attempt's name is reported as possibly orphaned.
    assert len(summary.orphaned_key_names) == 1


async def _refused_key_requests(admin: SimulatorAdmin) -> list[dict]:
    faults = await admin.ledger(kind="fault")
    return [f for f in faults if f["details"].get("path", "").endswith("/v1/api-keys")]
