"""The activities as a worker registers them: `all()` on a real Worker, called from a sandboxed workflow
with `execute_activity_method` and the pydantic data converter, errors arriving typed in the workflow."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        AccountRef,
        ApiKeyOutcome,
        BalanceView,
        CreateApiKeyInput,
        SignupInput,
        VerifyEmailInput,
    )
    from activities.reelmirror import ReelMirrorActivities
    from workflows import policies

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@workflow.defn(name="ActivitiesOnboardSmoke")
class OnboardSmoke:
    @workflow.run
    async def run(self, email: str) -> BalanceView:
        ref = "smoke"
        await workflow.execute_activity_method(
            ReelMirrorActivities.signup,
            SignupInput(account_ref=ref, email=email),
            **policies.api_call("signup").config(),
        )
        await workflow.execute_activity_method(
            ReelMirrorActivities.verify_email,
            VerifyEmailInput(account_ref=ref, email=email),
            **policies.api_call("confirm e-mail").config(),
        )
        key: ApiKeyOutcome = await workflow.execute_activity_method(
            ReelMirrorActivities.create_api_key,
            CreateApiKeyInput(account_ref=ref, name="smoke", scopes=["billing:read"]),
            **policies.api_call("create key").config(),
        )
        assert key.fingerprint.startswith("sha256:")
        return await workflow.execute_activity_method(
            ReelMirrorActivities.get_balance, AccountRef(account_ref=ref), **policies.api_call("balance").config()
        )


@workflow.defn(name="ActivitiesErrorSmoke")
class ErrorSmoke:
    @workflow.run
    async def run(self, account_ref: str) -> str:
        try:
            await workflow.execute_activity_method(
                ReelMirrorActivities.get_balance,
                AccountRef(account_ref=account_ref),
                **policies.api_call("balance").config(),
            )
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return f"{cause.type} non_retryable={cause.non_retryable}"
        return "no error"


@pytest.fixture(scope="module")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    async with env:
        yield env


def test_all_lists_every_activity_once_under_its_registered_name(acts: ReelMirrorActivities) -> None:
    from temporalio import activity

    names = [activity._Definition.must_from_callable(fn).name for fn in acts.all()]
    assert names == [fn.__name__ for fn in acts.all()]
    assert len(set(names)) == len(names) == 22
    assert {"signup", "generate_post", "approve_post", "poll_deliveries", "post_states"} <= set(names)


async def test_a_workflow_runs_the_activities_through_a_worker(
    workflow_env: WorkflowEnvironment, acts: ReelMirrorActivities
) -> None:
    queue = f"activities-{uuid.uuid4()}"
    async with Worker(
        workflow_env.client, task_queue=queue, workflows=[OnboardSmoke, ErrorSmoke], activities=acts.all()
    ):
        balance = await workflow_env.client.execute_workflow(
            OnboardSmoke.run, "smoke@example.com", id=f"smoke-{uuid.uuid4()}", task_queue=queue
        )
        assert isinstance(balance, BalanceView)
        assert (balance.balance_cents, balance.has_payment_method) == (0, False)

        outcome = await workflow_env.client.execute_workflow(
            ErrorSmoke.run, "never-onboarded", id=f"smoke-{uuid.uuid4()}", task_queue=queue
        )
        assert outcome == "MISSING_SECRET non_retryable=True"
