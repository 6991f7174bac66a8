"""Bad API answers never make a workflow task fail: each malformed kind is a typed, retried activity error.

For each kind the simulator corrupts every answer of one endpoint (after committing it, as a proxy or a
cut connection would) while a one-post persona runs on the real stack. While the fault is on, the call
that reads that endpoint must be failing with a typed error (`UPSTREAM_ERROR` for a proxy's HTML 502,
`MALFORMED_RESPONSE` for a page or body it cannot read) or, for a status value it does not know, keep
polling (`NotReady`: not terminal). Once the fault is cleared the post must be published, exactly once,
and no history may hold a WorkflowTaskFailed event (workflow code that raised, which Temporal would
retry forever).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from bench.histories import PendingAttempt, collect, pending_attempts
from bench.soak import onboard, summarize_ledger, wait_until_idle
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from workflows.config import PersonaConfig
from workflows.models import PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "malformed-bot@reelmirror.test"
ACCOUNT = "malformed"
PUBLISHING = ("instagram", "malformed_official")
TIMING = Timing(time_scale=0.01)
HOLD_SECONDS = 3.0  # the fault stays on this long after its first hit, so retries meet it too


@dataclass(frozen=True)
class Case:
    kind: str  # the simulator's malformed kind
    path: str  # regex of the corrupted endpoint
    method: str
    activity: str  # the activity that reads that endpoint
    error: str  # the ApplicationError type it must fail with while the fault is on
    message: str = ""  # and a part of that failure's message

    @property
    def slug(self) -> str:
        return f"bad-{self.kind.replace('_', '-')}-{self.activity.replace('_', '-')}"


CASES = [
    # Committed, then a proxy's HTML 502: retried with backoff; the retry finds the post, pays nothing more.
    Case("html_502", r"/v1/generate$", "POST", "generate_post", "UPSTREAM_ERROR"),
    Case("html_200", r"/v1/generated-posts/[^/]+$", "GET", "poll_generated_post", "MALFORMED_RESPONSE", "not JSON"),
    # Committed, then cut in half: the retry reads the post, sees it publishing, and does not approve again.
    Case("invalid_json", r"/approve$", "POST", "approve_post", "MALFORMED_RESPONSE", "not JSON"),
    Case("missing_fields", r"/source-posts$", "GET", "plan_cycle", "MALFORMED_RESPONSE", "does not match"),
    Case("missing_fields", r"/v1/publishing/posts/", "GET", "poll_deliveries", "MALFORMED_RESPONSE", "OutgoingPost"),
    # A status nobody documented is not terminal: the poll goes on until a known one comes back.
    Case("unknown_status", r"/v1/sync-jobs/", "GET", "poll_sync_job", "NotReady", "is exploded"),
    Case("unknown_status", r"/v1/generated-posts/[^/]+$", "GET", "poll_generated_post", "NotReady", "is exploded"),
    Case("unknown_status", r"/v1/publishing/posts/", "GET", "poll_deliveries", "NotReady", "deliveries finished"),
]


def persona(case: Case) -> PersonaConfig:
    return PersonaConfig.model_validate(
        {
            "name": f"Malformed {case.kind} {case.activity}",
            "slug": case.slug,
            "sources": [{"platform": "instagram", "username": f"{case.slug}-creator"}],
            "publishing_accounts": [{"platform": PUBLISHING[0], "username": PUBLISHING[1]}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 1,
            "max_concurrent_posts": 1,
            "max_cycles": 1,
            "approval": {"mode": "auto"},
        }
    )


@pytest.fixture(scope="module")
async def account(client: Client, stack: LocalStack) -> str:
    await onboard(client, TIMING, email=EMAIL, account_ref=ACCOUNT)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        await admin.connect_account(EMAIL, *PUBLISHING)
        await admin.topup(EMAIL, 5000)
    return ACCOUNT


def _matches(case: Case, attempt: PendingAttempt) -> bool:
    return (
        attempt.activity == case.activity
        and attempt.attempt >= 2
        and attempt.error_type == case.error
        and case.message in attempt.message
    )


async def _server_finished(admin: SimulatorAdmin, persona_id: str | None, case: Case) -> bool:
    """Whether the simulator's own state has the polled job terminal (the client only sees "exploded")."""
    state = await admin.state()
    mine = [g for g in state["generated_posts"] if g["persona_id"] == persona_id]
    if case.activity == "poll_sync_job":
        return any(j["status"] == "completed" for j in state["sync_jobs"] if j["persona_id"] == persona_id)
    if case.activity == "poll_generated_post":
        return any(g["media_items"] and all(m["status"] == "completed" for m in g["media_items"]) for g in mine)
    ids = {g["id"] for g in mine}
    return any(o["status"] == "done" for o in state["outgoing_posts"] if o["generated_post_id"] in ids)


async def _watch_while_faulty(
    client: Client, admin: SimulatorAdmin, case: Case, handle: WorkflowHandle[Any, PersonaStatus]
) -> tuple[list[PendingAttempt], list[PendingAttempt]]:
    """Wait for the fault's first hit, keep it on HOLD_SECONDS more (for an unknown status: until the server
    has finished the job, and the client still polls after that), and collect the retried attempts seen
    (all of them, and those seen once the server had finished)."""
    query = f"ExecutionStatus = 'Running' AND ReelMirrorPersona = '{case.slug}'"
    before = (await admin.stats())["faults"][case.kind]
    seen: list[PendingAttempt] = []
    after_done: list[PendingAttempt] = []
    polling_unknown = case.error == "NotReady"
    async with asyncio.timeout(90):
        while (await admin.stats())["faults"][case.kind] == before:
            seen += [a for a in await pending_attempts(client, query) if _matches(case, a)]
            await asyncio.sleep(0.1)
        persona_id = (await handle.query(PersonaLoopWorkflow.status)).persona_id
        loop = asyncio.get_running_loop()
        until = loop.time() + HOLD_SECONDS
        while loop.time() < until or (polling_unknown and not after_done):
            done = polling_unknown and await _server_finished(admin, persona_id, case)
            attempts = [a for a in await pending_attempts(client, query) if _matches(case, a)]
            seen += attempts
            if done:
                after_done += attempts
            await asyncio.sleep(0.1)
    return seen, after_done


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.activity}")
async def test_malformed_answers_are_typed_retried_errors_and_the_post_completes(
    client: Client, admin: SimulatorAdmin, account: str, case: Case
) -> None:
    await admin.set_chaos(malformed_rates={case.kind: 1.0}, path_pattern=case.path, methods=[case.method])
    handle, started = await ops.start_persona(client, account, persona(case), TIMING, DEFAULT_TASK_QUEUE)
    assert started
    try:
        seen, after_done = await _watch_while_faulty(client, admin, case, handle)
    finally:
        await admin.set_chaos()
    final = await asyncio.wait_for(handle.result(), timeout=120)
    assert isinstance(final, PersonaStatus)

    # What Temporal recorded: every workflow of the persona completed, no workflow task ever failed.
    mine = f"ReelMirrorPersona = '{case.slug}'"
    async with asyncio.timeout(30):
        await wait_until_idle(client, mine)
    report = await collect(client, mine)
    types = Counter(run.workflow_type for run in report.workflows)
    assert types == {"PersonaLoopWorkflow": 1, "ContentPostWorkflow": 1}
    assert report.by_status == {"COMPLETED": 2}
    assert report.workflow_task_failures == []
    assert not report.activity_failures, "no activity may give up on a malformed answer"

    # The typed error was retried: seen on a pending attempt while the fault was on, or as the failure
    # before the final attempt in history (a write whose retry succeeds at once leaves only that trace).
    # An unknown status kept the poll going although the server had finished: not treated as terminal.
    if case.error == "NotReady":
        assert after_done, f"{case.activity} stopped polling on status {case.kind!r}"
    else:
        in_history = report.failure_before_final_by_activity[(case.activity, case.error)]
        assert seen or in_history, f"{case.activity} never failed with {case.error} while {case.kind} was injected"

    # The post was published once the fault cleared, and paid and approved exactly once.
    counters = final.counters
    assert (counters.generated, counters.published_posts, counters.failed_posts) == (1, 1, 0), final
    assert final.persona_id is not None
    ledger = summarize_ledger(await admin.ledger(persona_id=final.persona_id))
    assert ledger.problems == []
    assert (ledger.generates, ledger.approves) == (1, 1)
