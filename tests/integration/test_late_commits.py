"""Late commits: every generate is held by a "proxy" longer than the client waits, then committed anyway.

The worker's client gives up after one second (`REELMIRROR_HTTP_TIMEOUT_SECONDS=1`) and the simulator
holds each `POST /v1/generate` for 3 real seconds before running it, so every first attempt times out
and every request still commits two seconds later. The settle time must outlast that: 300 s at time
scale 0.01 is 3 s after the client let go. (The default 120 s, 1.2 s here, covers holds up to 2.2 s; a
retry that merely lists again after its 1 s backoff is fooled by any hold over 2 s, which is why the hold
is 3 s.) One persona generates 50 posts this way; the ledger must show exactly one generate and one
charge per source post, and every post published.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig
from workflows.models import PersonaStatus
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "late-commit-bot@reelmirror.test"
ACCOUNT = "late"
TIMING = Timing(time_scale=0.01)
POSTS = 50
HOLD_SECONDS = 3.0
CREATOR = "late_commit_chef"


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    """The stack of tests/conftest.py with an impatient client (one second per request), and the rate-limit
    window of the chaos stack (5 s instead of 60 s: fifty posts polling at once spend a minute's budget)."""
    return StackConfig(
        time_scale=TIMING.time_scale,
        ui_port=None,
        state_dir=Path(tmp_path_factory.mktemp("late-commit-stack")),
        simulator_args=["--rate-limit-window", "5"],
        worker_env={"REELMIRROR_HTTP_TIMEOUT_SECONDS": "1", "REELMIRROR_AMBIGUOUS_SETTLE_SECONDS": "300"},
    )


def persona() -> PersonaConfig:
    return PersonaConfig.model_validate(
        {
            "name": "Late Commits",
            "writing_style": "Plain",
            "sources": [{"platform": "instagram", "username": CREATOR, "automation_mode": "sync_only"}],
            "publishing_accounts": [{"platform": "instagram", "username": "late_official"}],
            "posts_per_cycle": POSTS,
            "max_concurrent_posts": POSTS,
            "backlog": POSTS,
            "max_cycles": 1,
            "approval": {"mode": "auto"},
        }
    )


@pytest.mark.timeout(400)
async def test_fifty_late_committed_generates_are_each_paid_once(client: Client, admin: SimulatorAdmin) -> None:
    handle = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(handle.result(), timeout=120)
    await admin.topup(EMAIL, 20_000)
    await admin.connect_account(EMAIL, "instagram", "late_official")
    backlog = (await admin.config())["backlog_posts"]
    await admin.add_creator_posts("instagram", CREATOR, count=POSTS - backlog)
    await admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": HOLD_SECONDS, "path_pattern": "/v1/generate$"})

    started = time.monotonic()
    config = persona()
    persona_handle, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    status: PersonaStatus = await asyncio.wait_for(persona_handle.result(), timeout=360)
    elapsed = time.monotonic() - started

    ledger = await admin.ledger(email=EMAIL)
    generates = [e for e in ledger if e["kind"] == "generate"]
    per_source = Counter(e["source_post_id"] for e in generates)
    charges = Counter(e["generated_post_id"] for e in ledger if e["kind"] == "charge")
    late = [e for e in ledger if e["kind"] == "fault" and e["details"].get("code") == "LATE_COMMIT"]
    gone = sum(1 for e in late if e["details"]["client_gone"])
    print(
        f"\n[late commits] {len(per_source)} source posts, {len(generates)} generates, {len(late)} late commits "
        f"({gone} after the client gave up; handler {dict(Counter(e['details']['handler_status'] for e in late))}), "
        f"duplicates {sum(n - 1 for n in per_source.values())}, {elapsed:.1f} s",
        flush=True,
    )
    assert len(per_source) == POSTS and max(per_source.values()) == 1, per_source
    assert set(charges) == {e["generated_post_id"] for e in generates} and max(charges.values()) == 1
    assert gone >= POSTS  # every first attempt was given up on
    assert status.counters.generated == POSTS and status.counters.failed_posts == 0, status
    assert status.counters.published_posts == POSTS, status
