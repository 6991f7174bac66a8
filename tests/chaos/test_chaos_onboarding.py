"""Onboarding under chaos: lost signup and key answers, then random faults on every call, in both worlds.

The soak's faults start after onboarding; here they hit onboarding itself. A lost signup answer must not
become a second signup (in the guide-minimal world a repeat is answered 200, not 409, and spends one of
the five daily signups); a lost key answer must leave exactly one key this bot holds and name the other,
which nobody holds, in the summary and the status.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from activities.secrets import FileSecretStore
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.models import AccountSummary
from workflows.onboarding import OnboardingWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMING = Timing(time_scale=0.01)


@pytest.fixture(params=["full", "guide"])
async def world(request: pytest.FixtureRequest, admin: SimulatorAdmin) -> AsyncIterator[str]:
    await admin.patch_config({"answers": request.param})
    try:
        yield request.param
    finally:
        await admin.patch_config({"answers": "full"})


async def onboard(client: Client, email: str, account: str) -> tuple[AccountSummary, list[str]]:
    handle = await ops.start_onboarding(
        client, OnboardingInput(email=email, account_ref=account, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    summary: AccountSummary = await asyncio.wait_for(handle.result(), timeout=240)
    status = await handle.query(OnboardingWorkflow.status)
    return summary, status.orphaned_key_names


async def held_key_works(stack: LocalStack, account: str) -> bool:
    key = await FileSecretStore(stack.secrets_dir).get(account, "api_key")
    assert key is not None
    async with ReelMirrorClient(stack.sim_api, token=key) as api:
        return (await api.get_balance()).balance_cents is not None


async def test_lost_signup_and_key_answers_leave_one_account_and_name_the_orphan(
    client: Client, admin: SimulatorAdmin, stack: LocalStack, world: str
) -> None:
    email, account = f"lost-answers-{world}@reelmirror.test", f"lost-{world}"
    lost_before = (await admin.stats())["faults"]["lost"]
    await admin.set_chaos(
        lost_response_rate=1.0,
        lost_response_mode="drop" if world == "guide" else "502",
        path_pattern="/v1/(auth/signup|api-keys)$",
        methods=["POST"],
        max_faults=2,  # the first signup answer, then the first key answer
    )

    summary, orphans_in_status = await onboard(client, email, account)
    await admin.set_chaos()

    ledger = await admin.ledger(email=email)
    kinds = Counter(entry["kind"] for entry in ledger)
    keys = [entry["details"]["name"] for entry in ledger if entry["kind"] == "api_key"]
    assert (kinds["signup"], kinds["signup_repeated"], kinds["signup_refused"]) == (1, 0, 0), kinds
    assert len(keys) == 2 and summary.orphaned_key_names == [keys[0]] == orphans_in_status
    assert any(keys[0] in note and "dashboard" in note for note in summary.notes)
    assert await held_key_works(stack, account)
    assert summary.bonus_granted and kinds["setup_intent"] == 1
    assert (await admin.stats())["faults"]["lost"] - lost_before == 2


async def test_random_faults_on_every_onboarding_call_still_make_one_account(
    client: Client, admin: SimulatorAdmin, stack: LocalStack, world: str
) -> None:
    email, account = f"chaos-onboarding-{world}@reelmirror.test", f"chaos-{world}"
    faults_before = sum((await admin.stats())["faults"].values())
    await admin.set_chaos(
        error_rates={"429": 0.05, "502": 0.1, "503": 0.1}, lost_response_rate=0.2, lost_response_mode="mixed"
    )

    summary, _ = await onboard(client, email, account)
    await admin.set_chaos()
    faults = sum((await admin.stats())["faults"].values()) - faults_before
    print(f"\n[chaos onboarding, {world}] {faults} faults injected, orphans {summary.orphaned_key_names}", flush=True)

    kinds = Counter(entry["kind"] for entry in await admin.ledger(email=email))
    assert (kinds["signup"], kinds["signup_repeated"]) == (1, 0), kinds
    assert kinds["api_key"] == 1 + len(summary.orphaned_key_names), (kinds, summary.orphaned_key_names)
    assert await held_key_works(stack, account)
    assert kinds["setup_intent"] >= 1 and kinds["bonus"] == 1 and summary.bonus_granted
    assert faults > 0
