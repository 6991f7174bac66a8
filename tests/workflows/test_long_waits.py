"""Long waits: days of waiting are durable server-side waits that cost (almost) nothing, then work goes on.

The persona loop with its real ContentPostWorkflow children runs against the fake ReelMirror on the
time-skipping server, so three days for a human's approval or two days on an empty balance pass in
moments. Each test checks what happened after the wait (the post published, generated once, after the
top-up) and what the wait cost: the fake counts every activity call, and a parked or waiting workflow may
only make its slow balance re-check (one `get_balance` every `balance_recheck_minutes`), never poll hot.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any, Literal

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from workflow_fakes import FakeReelMirror, eventually

from activities.error_types import ErrorType
from workflows.config import ApprovalPolicy, PersonaConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import PersonaLoopInput, PersonaStatus, PostProgress, PostRef
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.stages import PersonaStage, PostStage
from workflows.steps import BALANCE_REASON, RECHECK_BACKOFF_CAP

PARKED_DAYS = 2
ParkedAt = Literal["post", "persona"]


def persona_config(**overrides: Any) -> PersonaConfig:
    """One sync_only source, one publishing target, auto approval, one cycle."""
    values: dict[str, Any] = {
        "name": "Nova",
        "slug": f"nova-{uuid.uuid4().hex[:8]}",
        "sources": [{"platform": "instagram", "username": "chef", "automation_mode": "sync_only"}],
        "publishing_accounts": [{"platform": "instagram", "username": "nova_official"}],
        "sync_interval_minutes": 60,
        "approval": {"mode": "auto"},
        "max_cycles": 1,
    }
    values.update(overrides)
    return PersonaConfig.model_validate(values)


def world(balance_cents: int = 10_000) -> FakeReelMirror:
    """A fake account with one connected publishing account and one new image post on the creator's feed."""
    fake = FakeReelMirror(balance_cents=balance_cents)
    fake.connect_account("instagram", "nova_official")
    fake.add_creator_posts("instagram", "chef", ["image"])
    return fake


@asynccontextmanager
async def running_persona(
    client: Client,
    start_worker: Callable[..., AbstractAsyncContextManager[str]],
    fake: FakeReelMirror,
    config: PersonaConfig,
    timing: Timing,
) -> AsyncIterator[WorkflowHandle[Any, PersonaStatus]]:
    """The persona (and its posts) started on a worker of their own, running against `fake`."""
    async with start_worker(PersonaLoopWorkflow, ContentPostWorkflow, fake_backend=fake) as task_queue:
        yield await client.start_workflow(
            PersonaLoopWorkflow.run,
            PersonaLoopInput(account_ref="bot", config=config, timing=timing),
            id=config.workflow_id,
            task_queue=task_queue,
        )


async def persona_status(handle: WorkflowHandle[Any, PersonaStatus]) -> PersonaStatus:
    return await handle.query(PersonaLoopWorkflow.status)


async def post_status(handle: WorkflowHandle) -> PostProgress:
    return await handle.query(ContentPostWorkflow.status)


def the_post(client: Client, fake: FakeReelMirror, config: PersonaConfig) -> WorkflowHandle:
    (source_post_id,) = fake.source_posts
    return client.get_workflow_handle(f"post-{config.persona_slug}-{source_post_id}")


def calls_since(fake: FakeReelMirror, before: Counter[str]) -> Counter[str]:
    return Counter({name: n - before[name] for name, n in fake.calls.items() if n - before[name] > 0})


# --- three days for a human ---------------------------------------------------------------------------


async def test_post_waits_three_days_for_approval_then_publishes(
    client: Client, start_worker, workflow_env: WorkflowEnvironment, timing: Timing
) -> None:
    fake = world()
    four_days = ApprovalPolicy(mode="manual", timeout_minutes=4 * 24 * 60, default_action="reject")
    config = persona_config(approval=four_days)
    async with running_persona(client, start_worker, fake, config, timing) as persona:
        waiting = await eventually(lambda: persona_status(persona), lambda s: len(s.pending_approvals) == 1)
        pending = waiting.pending_approvals[0]
        before = Counter(fake.calls)

        await workflow_env.sleep(timedelta(days=3))

        later = await persona_status(persona)
        assert later.pending_approvals == [pending] and later.stage == PersonaStage.WAITING
        assert calls_since(fake, before) == Counter(), "waiting for a human must not call the API"
        assert await workflow_env.get_current_time() - pending.waiting_since >= timedelta(days=3)
        assert pending.decide_by == pending.waiting_since + timedelta(days=4)

        post = client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)
        await post.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.generated_post_id))
        final = await persona.result()

    c = final.counters
    assert (c.generated, c.approved, c.rejected, c.published_posts, c.published_deliveries) == (1, 1, 0, 1, 1)
    assert fake.count("generate") == 1 and fake.count("approve", by="client") == 1 and fake.count("reject") == 0
    assert fake.generated[pending.generated_post_id].status == "published"


# --- two days on an empty balance ---------------------------------------------------------------------


async def park_on_empty_balance(
    client: Client, fake: FakeReelMirror, config: PersonaConfig, persona: WorkflowHandle, parked_at: ParkedAt
) -> None:
    """Wait until the persona (its sync refused) or its post (its generate refused) is parked on 402."""
    if parked_at == "persona":
        parked = await eventually(lambda: persona_status(persona), lambda s: s.stage == PersonaStage.PARKED)
        assert parked.parked_reason == BALANCE_REASON
        return
    parked_post = await eventually(
        lambda: _post_progress(client, fake, config), lambda p: p is not None and p.stage == PostStage.PARKED
    )
    assert parked_post is not None
    assert parked_post.parked_reason == BALANCE_REASON and parked_post.generated_post_id is None


async def _post_progress(client: Client, fake: FakeReelMirror, config: PersonaConfig) -> PostProgress | None:
    """The post's progress, or None while the sync has not found it or the persona has not started it yet."""
    if not fake.source_posts:
        return None
    try:
        return await post_status(the_post(client, fake, config))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def empty_world(parked_at: ParkedAt) -> FakeReelMirror:
    """No credit. At "post" the generate meets 402; at "persona" the service refuses the persona's sync."""
    fake = world(balance_cents=0)
    if parked_at == "persona":
        fake.fail_next("start_sync", ErrorType.INSUFFICIENT_BALANCE)
    return fake


@pytest.mark.parametrize("parked_at", ["post", "persona"])
@pytest.mark.parametrize("resumed_by", ["topped_up", "balance_check"])
async def test_parked_two_days_on_an_empty_balance_resumes_then_generates(
    client: Client,
    start_worker,
    workflow_env: WorkflowEnvironment,
    timing: Timing,
    parked_at: ParkedAt,
    resumed_by: str,
) -> None:
    fake = empty_world(parked_at)
    config = persona_config()
    async with running_persona(client, start_worker, fake, config, timing) as persona:
        await park_on_empty_balance(client, fake, config, persona, parked_at)
        await workflow_env.sleep(timedelta(days=PARKED_DAYS))
        assert fake.count("generate") == 0 and fake.count("charge") == 0

        fake.top_up(1_000)
        before_resume = Counter(fake.calls)
        if resumed_by == "topped_up":
            await persona.signal(PersonaLoopWorkflow.topped_up)  # forwarded to the parked post
        final = await persona.result()

    assert final.counters.generated == 1 and final.counters.published_posts == 1
    assert final.parked_reason is None and final.stage == PersonaStage.DONE
    kinds = [entry.kind for entry in fake.ledger]
    assert kinds.count("generate") == 1 and kinds.index("topup") < kinds.index("generate")
    rechecks_after_top_up = calls_since(fake, before_resume)["get_balance"]
    if resumed_by == "topped_up":
        assert rechecks_after_top_up == 0, "the signal resumes at once, without waiting for a re-check"
    else:
        assert rechecks_after_top_up >= 1, "without a signal, the slow re-check notices the credit"


def rechecks_within(minutes: float, first: float) -> int:
    """Re-checks a park makes in `minutes`: every `first` minutes, backing off 2x up to the cap."""
    count, elapsed, factor = 0, 0.0, 1
    while elapsed + first * factor <= minutes:
        elapsed += first * factor
        count += 1
        factor = min(factor * 2, RECHECK_BACKOFF_CAP)
    return count


@pytest.mark.parametrize("parked_at", ["post", "persona"])
async def test_an_idle_parked_persona_costs_only_its_slow_balance_checks(
    client: Client, start_worker, workflow_env: WorkflowEnvironment, timing: Timing, parked_at: ParkedAt
) -> None:
    fake = empty_world(parked_at)
    config = persona_config()
    async with running_persona(client, start_worker, fake, config, timing) as persona:
        await park_on_empty_balance(client, fake, config, persona, parked_at)
        before = Counter(fake.calls)

        await workflow_env.sleep(timedelta(days=PARKED_DAYS))

        spent = calls_since(fake, before)
        expected = rechecks_within(PARKED_DAYS * 24 * 60, timing.balance_recheck_minutes)
        assert set(spent) == {"get_balance"}, f"a parked persona called more than its balance check: {spent}"
        assert expected - 1 <= spent["get_balance"] <= expected + 1
        assert spent["get_balance"] < PARKED_DAYS * 24 * 60 / timing.balance_recheck_minutes / 4, "no backoff"

        fake.top_up(1_000)
        await persona.signal(PersonaLoopWorkflow.topped_up)
        final = await persona.result()
    assert final.counters.published_posts == 1 and fake.count("generate") == 1
