"""Two worker processes on one task queue share the work, and killing one mid-run loses nothing.

Proof of sharing comes from the histories: every ActivityTaskStarted event names the worker identity
(`<pid>@<host>`) that ran the activity, so both workers' pids must show up. Then one of them is SIGKILLed
with posts in flight; the other finishes everything, and the ledger stays exactly-once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from crash_helpers import (
    RecoveryClock,
    activity_identities,
    assert_cycle_done,
    assert_exactly_once,
    onboard,
    persona_config,
    persona_id_of,
    start_persona,
    wait_for,
)
from temporalio.client import Client

from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from workflows.config import onboarding_workflow_id
from workflows.models import PersonaStatus
from workflows.search_attributes import PERSONA

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "crash-pair@reelmirror.test"
ACCOUNT = "crash-pair"
POSTS = 4
RESULT_TIMEOUT = 240


@pytest.fixture(scope="module")
def worker_count() -> int:
    return 2


def pid_counts(identities: Counter[str]) -> Counter[int]:
    """Activities per worker pid (identities are `<pid>@<host>`)."""
    counts: Counter[int] = Counter()
    for identity, n in identities.items():
        counts[int(identity.split("@", 1)[0])] += n
    return counts


async def workflow_ids(client: Client, slug: str, account: str) -> list[str]:
    """The onboarding, the persona and every post workflow of the persona."""
    ids = [onboarding_workflow_id(account), f"persona-{slug}"]
    query = f"WorkflowType = 'ContentPostWorkflow' AND {PERSONA.name} = '{slug}'"
    ids += [execution.id async for execution in client.list_workflows(query)]
    return ids


async def test_two_workers_share_the_work_and_one_dies_mid_run(
    stack: LocalStack, client: Client, admin: SimulatorAdmin, recovery: RecoveryClock
) -> None:
    first, second = stack.workers
    await onboard(client, admin, EMAIL, ACCOUNT)
    config = persona_config("Crash Pair", "crash_pair_chef", posts=POSTS)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)

    async def both_busy_mid_run() -> Counter[int] | None:
        """Both workers have run activities, and posts are in flight: generated, not all approved yet."""
        if len(await admin.ledger(kind="approve", persona_id=persona_id)) >= POSTS:
            raise AssertionError("the run ended before both workers were seen running activities")
        if not await admin.ledger(kind="generate", persona_id=persona_id):
            return None
        counts = pid_counts(await activity_identities(client, await workflow_ids(client, config.persona_slug, ACCOUNT)))
        return counts if {first.pid, second.pid} <= set(counts) else None

    before = await wait_for(both_busy_mid_run, "both workers running activities", within=120, every=0.2)
    print(f"\n[crash] activities per worker pid before the kill: {dict(before)}")
    first.kill_hard()
    killed = time.monotonic()

    status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    recovery.record("one of two workers killed", killed)

    assert second.alive()
    after = pid_counts(await activity_identities(client, await workflow_ids(client, config.persona_slug, ACCOUNT)))
    print(f"[crash] activities per worker pid at the end: {dict(after)}")
    assert after[second.pid] > before[second.pid], "the surviving worker took over nothing"
    await assert_cycle_done(client, config, status, posts=POSTS)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=POSTS, expected_approved=POSTS)
