"""OnboardingWorkflow against the fake ReelMirror, on the time-skipping server.

Covers both ways the confirmation link arrives (the worker's mailbox, the operator's signal), the card
with its welcome bonus and auto-reload, a repeated signup (409) and the steps that end an onboarding.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowHandle
from workflow_fakes import FakeReelMirror, eventually

from activities.error_types import ErrorType
from workflows.config import AutoReloadConfig, OnboardingInput, onboarding_workflow_id
from workflows.models import ConfirmEmailSignal, OnboardingStatus
from workflows.onboarding import DEFAULT_SCOPES, OnboardingWorkflow
from workflows.policies import PollSchedule, Timing
from workflows.stages import OnboardingStage as Stage


@pytest.fixture
def fake() -> FakeReelMirror:
    """No account yet: onboarding creates it."""
    return FakeReelMirror(account_ref="")


def onboarding(**overrides) -> OnboardingInput:
    tag = uuid.uuid4().hex[:8]
    values = {"email": f"nova-{tag}@example.test", "account_ref": f"nova-{tag}", **overrides}
    return OnboardingInput(**values)


async def start(client: Client, task_queue: str, inp: OnboardingInput) -> WorkflowHandle:
    return await client.start_workflow(
        OnboardingWorkflow.run, inp, id=onboarding_workflow_id(inp.account_ref), task_queue=task_queue
    )


async def status(handle: WorkflowHandle) -> OnboardingStatus:
    return await handle.query(OnboardingWorkflow.status)


async def test_mailbox_mode_with_card_bonus_and_auto_reload(client, fake, start_worker):
    fake.not_ready.update(verify_email=3, await_balance=2)
    inp = onboarding(attach_card=True, auto_reload=AutoReloadConfig(threshold_cents=300, amount_cents=2000))
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        summary = await handle.result()
        final = await status(handle)

    account = fake.account(inp.account_ref)
    assert summary.email == inp.email and summary.user_id == account.user_id
    assert summary.key_id == account.key_id and summary.scopes == list(DEFAULT_SCOPES) and len(summary.scopes) == 12
    assert summary.bonus_granted and summary.balance_cents == 500 and summary.auto_reload
    assert (account.reload_threshold_cents, account.reload_amount_cents) == (300, 2000)
    assert fake.calls["verify_email"] == 4 and fake.calls["await_balance"] == 3
    for kind in ("signup", "email_confirmed", "api_key", "setup_intent", "bonus"):
        assert fake.count(kind) == 1, kind
    assert final == OnboardingStatus(stage=Stage.DONE, email=inp.email, last_error=None)
    assert "rm_" not in summary.model_dump_json()


async def test_signal_mode_waits_for_a_working_link(client, fake, start_worker):
    inp = onboarding(confirmation="signal", scopes=["personas:read", "content:read"])
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        waiting = await eventually(lambda: status(handle), lambda s: s.stage == Stage.AWAITING_EMAIL)
        await handle.signal(OnboardingWorkflow.confirm_email, ConfirmEmailSignal(link="https://sim.test/expired"))
        refused = await eventually(lambda: status(handle), lambda s: s.last_error is not None)
        await handle.signal(
            OnboardingWorkflow.confirm_email, ConfirmEmailSignal(link=fake.confirmation_link(inp.email))
        )
        summary = await handle.result()

    assert waiting.last_error is None
    assert refused.stage == Stage.AWAITING_EMAIL and "refused" in (refused.last_error or "")
    assert summary.scopes == ["personas:read", "content:read"]
    assert not summary.bonus_granted and summary.balance_cents == 0 and not summary.auto_reload
    assert fake.calls["verify_email"] == 2 and fake.count("email_confirmed") == 1


async def test_mailbox_that_gives_up_falls_back_to_the_signal(client, fake, start_worker, workflow_env):
    fake.not_ready["verify_email"] = 10**6  # the e-mail never shows up in the mailbox
    email_poll = PollSchedule(first_check_seconds=60, max_interval_seconds=3600, give_up_after_seconds=6 * 3600)
    inp = onboarding(timing=Timing(poll={"email": email_poll}))
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        await workflow_env.sleep(timedelta(hours=7))  # the server skips the six hours of mailbox polls
        gave_up = await eventually(lambda: status(handle), lambda s: s.last_error is not None)
        await handle.signal(
            OnboardingWorkflow.confirm_email, ConfirmEmailSignal(link=fake.confirmation_link(inp.email))
        )
        summary = await handle.result()

    assert gave_up.stage == Stage.AWAITING_EMAIL and "mailbox" in (gave_up.last_error or "")
    assert summary.key_id and fake.count("email_confirmed") == 1


async def test_signup_that_already_exists_continues(client, fake, start_worker):
    inp = onboarding()
    fake.users[inp.email] = "user_earlier"  # an earlier signup whose answer was lost
    async with start_worker(OnboardingWorkflow) as tq:
        summary = await (await start(client, tq, inp)).result()

    assert fake.count("signup") == 0 and fake.count("signup_refused") == 1
    assert summary.user_id == "user_earlier" and summary.key_id


async def test_auto_reload_refused_without_a_card_is_reported(client, fake, start_worker):
    inp = onboarding(auto_reload=AutoReloadConfig())
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        summary = await handle.result()
        final = await status(handle)

    assert not summary.auto_reload and final.stage == Stage.DONE
    assert "auto-reload was refused" in (final.last_error or "")


@pytest.mark.parametrize("problem", [ErrorType.CARD_DECLINED, ErrorType.MISSING_SECRET])
async def test_card_problem_finishes_with_a_working_account_and_a_note(client, fake, start_worker, problem):
    fake.fail_next("attach_card", problem)
    inp = onboarding(attach_card=True, auto_reload=AutoReloadConfig())
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        summary = await handle.result()
        final = await status(handle)

    assert summary.key_id and not summary.bonus_granted and summary.balance_cents == 0
    assert any(problem in note and "onboard again with --card" in note for note in summary.notes)
    assert final.stage == Stage.DONE
    assert fake.count("api_key") == 1 and fake.count("bonus") == 0
    assert not summary.auto_reload, "auto-reload needs the card that was not attached"


async def test_a_lost_key_answer_names_the_possibly_orphaned_key(client, fake, start_worker):
    fake.lose_key_answers = 1
    inp = onboarding()
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        summary = await handle.result()
        final = await status(handle)

    orphan = fake.orphaned_keys[0]
    assert summary.orphaned_key_names == [orphan] == final.orphaned_key_names
    assert any(orphan in note and "dashboard" in note for note in summary.notes)
    assert fake.count("api_key") == 2 and summary.key_id == fake.account(inp.account_ref).key_id


async def test_an_untrusted_link_is_refused_and_a_fresh_one_asked_for(client, fake, start_worker):
    fake.fail_next("verify_email", ErrorType.UNTRUSTED_LINK)
    inp = onboarding(confirmation="signal")
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        await eventually(lambda: status(handle), lambda s: s.stage == Stage.AWAITING_EMAIL)
        link = ConfirmEmailSignal(link=fake.confirmation_link(inp.email))
        await handle.signal(OnboardingWorkflow.confirm_email, link)
        refused = await eventually(lambda: status(handle), lambda s: s.last_error is not None)
        await handle.signal(OnboardingWorkflow.confirm_email, link)
        summary = await handle.result()

    assert refused.stage == Stage.AWAITING_EMAIL and "send a fresh one" in (refused.last_error or "")
    assert summary.key_id and fake.count("email_confirmed") == 1


async def test_a_card_that_needs_3d_secure_leaves_a_note_not_a_failure(client, fake, start_worker):
    fake.fail_next("attach_card", ErrorType.CARD_NEEDS_ACTION)
    inp = onboarding(attach_card=True)
    async with start_worker(OnboardingWorkflow) as tq:
        summary = await (await start(client, tq, inp)).result()

    assert summary.key_id and not summary.bonus_granted
    assert any(ErrorType.CARD_NEEDS_ACTION in note for note in summary.notes)


async def test_an_uncertain_signup_parks_until_the_operator_says_retry(client, fake, start_worker):
    fake.fail_next("signup", ErrorType.SIGNUP_UNCERTAIN)
    inp = onboarding()
    async with start_worker(OnboardingWorkflow) as tq:
        handle = await start(client, tq, inp)
        parked = await eventually(lambda: status(handle), lambda s: s.parked_reason is not None)
        await handle.signal(OnboardingWorkflow.retry)
        summary = await handle.result()

    assert parked.stage == Stage.PARKED and "send retry" in (parked.parked_reason or "")
    assert summary.key_id and fake.count("signup") == 1
