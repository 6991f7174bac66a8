"""The product end to end on real processes: onboarding, a persona cycle, operator decisions, the ledger.

Everything runs as it does for an operator: a worker process, the Temporal dev server, the simulator over
HTTP and localstripe; decisions go through the same Updates `starter.py approve/reject` send. Assertions
read the simulator's ledger (what the "service" saw), not only workflow status.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.secrets import FileSecretStore
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from workflows.config import AutoReloadConfig, OnboardingInput, PersonaConfig, onboarding_workflow_id
from workflows.models import AccountSummary, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "e2e-bot@reelmirror.test"
ACCOUNT = "e2e"
TIMING = Timing(time_scale=0.01)
REPO = Path(__file__).parents[2]


async def onboard(client: Client) -> AccountSummary:
    handle = await ops.start_onboarding(
        client,
        OnboardingInput(
            email=EMAIL, account_ref=ACCOUNT, attach_card=True,
            auto_reload=AutoReloadConfig(threshold_cents=300, amount_cents=2500), timing=TIMING,
        ),
        DEFAULT_TASK_QUEUE,
    )  # fmt: skip
    return await asyncio.wait_for(handle.result(), timeout=120)


async def test_onboarding_creates_one_account_and_keeps_secrets_out_of_history(
    client: Client, admin: SimulatorAdmin, stack: LocalStack
) -> None:
    summary = await onboard(client)
    assert summary.bonus_granted
    assert summary.balance_cents >= 500
    assert summary.auto_reload
    assert summary.key_fingerprint.startswith("sha256:")

    # Starting the same onboarding again attaches to the finished one: no second signup.
    again = await onboard(client)
    assert again.key_id == summary.key_id

    ledger = await admin.ledger(email=EMAIL)
    kinds = Counter(entry["kind"] for entry in ledger)
    assert kinds["signup"] == 1
    assert kinds["api_key"] == 1
    assert kinds["bonus"] == 1

    stored = FileSecretStore(stack.secrets_dir)
    secrets = [(await stored.require(ACCOUNT, name)).get_secret_value() for name in ("api_key", "password", "jwt")]
    assert secrets, "the worker's secret store should hold the account's credentials"
    history = await client.get_workflow_handle(onboarding_workflow_id(ACCOUNT)).fetch_history()
    history_text = json.dumps(history.to_json_dict())
    for secret in secrets:
        assert secret not in history_text


async def test_persona_cycle_generates_each_post_once_and_publishes_approved_ones(
    client: Client, admin: SimulatorAdmin
) -> None:
    await onboard(client)  # idempotent: reuses the account of the previous test when run together
    await admin.connect_account(EMAIL, "instagram", "e2e_official")
    config = PersonaConfig.model_validate(
        {
            "name": "E2E Persona",
            "writing_style": "Plain",
            "sources": [
                {"platform": "instagram", "username": "e2e_chef", "automation_mode": "sync_only"},
                {"platform": "tiktok", "username": "e2e_runner", "automation_mode": "auto_clone"},
            ],
            "publishing_accounts": [{"platform": "instagram", "username": "e2e_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 4,
            "max_concurrent_posts": 4,
            "max_cycles": 1,
            "approval": {"mode": "manual"},
        }
    )
    handle, started = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    assert started
    _, started_again = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    assert not started_again

    decided: dict[str, bool] = {}
    result = asyncio.ensure_future(handle.result())
    async with asyncio.timeout(240):
        while not result.done():
            status = await handle.query(PersonaLoopWorkflow.status)
            for pending in status.pending_approvals:
                if pending.generated_post_id in decided:
                    continue
                assert pending.media_urls, "a pending approval shows its media links"
                approve = len(decided) != 0  # reject the first, approve the others
                decided[pending.generated_post_id] = approve
                await ops.decide(client, pending.generated_post_id, approve=approve, reason="e2e")
            await asyncio.wait({result}, timeout=0.3)
    final: PersonaStatus = result.result()

    approved = {pid for pid, ok in decided.items() if ok}
    rejected = {pid for pid, ok in decided.items() if not ok}
    assert len(rejected) == 1 and approved
    assert final.counters.approved == len(approved)
    assert final.counters.rejected == 1
    assert final.counters.published_deliveries >= 1
    assert final.active_posts == 0

    ledger = await admin.ledger(email=EMAIL)
    persona_id = final.persona_id
    generates = Counter(
        e["source_post_id"] for e in ledger if e["kind"] == "generate" and e["persona_id"] == persona_id
    )
    assert generates and max(generates.values()) == 1, f"a source post was generated twice: {generates}"
    approvals = Counter(e["generated_post_id"] for e in ledger if e["kind"] == "approve")
    assert set(approvals) == approved and max(approvals.values()) == 1
    assert {e["generated_post_id"] for e in ledger if e["kind"] == "reject"} == rejected
    charged = {e["generated_post_id"] for e in ledger if e["kind"] == "charge"}
    assert charged == {e["generated_post_id"] for e in ledger if e["kind"] == "generate"}
    server_generated = [e for e in ledger if e["kind"] == "generate" and e.get("by") == "server"]
    assert server_generated, "the auto_clone source's posts are generated by the server"
    client_generated = [e for e in ledger if e["kind"] == "generate" and e.get("by") == "client"]
    assert client_generated, "the sync_only source's posts are generated by the bot"


def test_cli_refuses_a_decision_for_an_unknown_post(stack: LocalStack) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "starter.py"), "approve", "no-such-post"],
        capture_output=True, text=True, env=stack.client_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: no post no-such-post is known")
