"""ContentPostWorkflow against the fake ReelMirror, on the time-skipping server.

Each test scripts one path of a post (approval by hand, by policy or by timeout; parking on 402 and 401;
send-to-compose; failed media and deliveries; a lost generate response; server automation) and checks
the outcome, the fake's ledger (what really happened on the "server") and the status query.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from workflow_fakes import FakeReelMirror, StubPersonaWorkflow, eventually

from activities.error_types import ErrorType
from activities.models import PlannedPost
from workflows.config import ApprovalPolicy, CostTable
from workflows.content_post import ContentPostWorkflow
from workflows.models import ContentPostInput, PostProgress, PostRef, PostResult, RejectSignal
from workflows.persona_rules import SERVER_PUBLISHED, adopted_workflow_id
from workflows.policies import PollSchedule, Timing
from workflows.stages import PostStage as Stage
from workflows.steps import BALANCE_REASON

MANUAL = ApprovalPolicy(mode="manual")
AUTO = ApprovalPolicy(mode="auto")


def post_input(
    fake: FakeReelMirror,
    *,
    mode: str = "sync_only",
    media_type: str = "image",
    approval: ApprovalPolicy = MANUAL,
    targets: tuple[str, ...] = ("instagram", "tiktok"),
    persona_workflow_id: str | None = None,
    existing: bool = False,
) -> ContentPostInput:
    """A persona with `targets`, one source post of `media_type` in `mode`, and the child's input for it."""
    persona_id = fake.add_persona(targets=targets)
    source_post_id = fake.add_source_post(persona_id, media_type=media_type, automation_mode=mode)
    existing_id = fake.server_generate(source_post_id, origin="api").id if existing else None
    return ContentPostInput(
        account_ref="bot",
        persona_id=persona_id,
        persona_workflow_id=persona_workflow_id,
        persona_slug=f"nova-{uuid.uuid4().hex[:8]}",
        post=PlannedPost(
            source_post_id=source_post_id,
            automation_mode=mode,
            media_type=media_type,
            existing_generated_post_id=existing_id,
        ),
        approval=approval,
        costs=CostTable(),
        timing=Timing(),
    )


def workflow_id(inp: ContentPostInput) -> str:
    return f"post-{inp.persona_slug}-{inp.post.source_post_id}"


async def start(client: Client, task_queue: str, inp: ContentPostInput) -> WorkflowHandle:
    return await client.start_workflow(ContentPostWorkflow.run, inp, id=workflow_id(inp), task_queue=task_queue)


async def status(handle: WorkflowHandle) -> PostProgress:
    return await handle.query(ContentPostWorkflow.status)


async def wait_for_stage(handle: WorkflowHandle, stage: str) -> PostProgress:
    return await eventually(lambda: status(handle), lambda p: p.stage == stage)


async def run_post(client: Client, task_queue: str, inp: ContentPostInput) -> PostResult:
    return await client.execute_workflow(ContentPostWorkflow.run, inp, id=workflow_id(inp), task_queue=task_queue)


# --- approval ---------------------------------------------------------------------------------------


async def test_manual_approval_publishes_to_every_target(client, fake, start_worker):
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, inp)
        waiting = await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        pending = waiting.pending_approval
        assert pending is not None and pending.generated_post_id == waiting.generated_post_id
        assert pending.media_urls and pending.decide_by is None
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.generated_post_id))
        result = await handle.result()
        final = await status(handle)

    assert result.outcome == "published"
    assert (result.published_deliveries, result.failed_deliveries) == (2, 0)
    assert result.cost_cents == 25 and result.outgoing_post_id
    assert fake.count("generate") == 1 and fake.count("approve", by="client") == 1
    assert final.finished and final.generated_by_us and final.pending_approval is None


async def test_reject_with_reason(client, fake, start_worker):
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, inp)
        await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        # routed by source post id, as the persona does for an operator who names the source post
        await handle.signal(
            ContentPostWorkflow.reject, RejectSignal(post_id=inp.post.source_post_id, reason="off brand")
        )
        result = await handle.result()

    assert result.outcome == "rejected" and result.failure_reason == "off brand"
    assert fake.count("reject") == 1 and fake.count("approve") == 0
    assert fake.generated[result.generated_post_id].rejection_reason == "off brand"


async def test_decision_for_another_post_is_ignored(client, fake, start_worker):
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, inp)
        await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id="gp_somebody_else"))
        still = await status(handle)
        await handle.signal(ContentPostWorkflow.reject, RejectSignal(post_id=still.generated_post_id))
        result = await handle.result()

    assert still.stage == Stage.AWAITING_APPROVAL
    assert result.outcome == "rejected" and fake.count("approve") == 0


@pytest.mark.parametrize(("default_action", "outcome"), [("approve", "published"), ("reject", "rejected")])
async def test_approval_timeout_takes_the_default_action(client, fake, start_worker, default_action, outcome):
    policy = ApprovalPolicy(mode="manual", timeout_minutes=120, default_action=default_action)
    inp = post_input(fake, approval=policy)
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, inp)

    assert result.outcome == outcome
    assert fake.count("approve") == (1 if default_action == "approve" else 0)
    assert fake.count("reject") == (1 if default_action == "reject" else 0)
    if default_action == "reject":
        assert "no decision within 120 minutes" in (result.failure_reason or "")


async def test_auto_approval_needs_no_human(client, fake, start_worker):
    fake.not_ready.update(poll_generated_post=3, poll_deliveries=2)
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO, media_type="video"))

    assert result.outcome == "published" and result.cost_cents == 100
    assert fake.calls["poll_generated_post"] == 4 and fake.calls["poll_deliveries"] == 3


async def test_waits_days_for_approval_then_publishes(client, fake, start_worker, workflow_env: WorkflowEnvironment):
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, inp)
        first = await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        await workflow_env.sleep(timedelta(days=4))
        later = await status(handle)
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id=first.generated_post_id))
        result = await handle.result()

    assert later.stage == Stage.AWAITING_APPROVAL and later.pending_approval == first.pending_approval
    assert result.outcome == "published" and fake.count("generate") == 1


async def test_approve_without_targets_sends_to_compose(client, fake, start_worker):
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO, targets=()))

    assert result.outcome == "composed" and "publishing target" in (result.failure_reason or "")
    assert fake.count("compose") == 1 and fake.count("approve") == 0 and result.outgoing_post_id is None


# --- parking --------------------------------------------------------------------------------------


async def test_insufficient_balance_parks_until_topped_up(client, start_worker):
    fake = FakeReelMirror(balance_cents=0)
    async with start_worker(ContentPostWorkflow, fake_backend=fake) as tq:
        handle = await start(client, tq, post_input(fake, approval=AUTO))
        parked = await wait_for_stage(handle, Stage.PARKED)
        fake.top_up(1000)
        await handle.signal(ContentPostWorkflow.topped_up)
        result = await handle.result()

    assert parked.parked_reason == BALANCE_REASON and parked.generated_post_id is None
    assert result.outcome == "published"
    assert fake.calls["generate_post"] == 2 and fake.count("generate") == 1 and fake.count("charge") == 1


async def test_insufficient_balance_resumes_on_periodic_balance_check(client, start_worker):
    fake = FakeReelMirror(balance_cents=10)
    async with start_worker(ContentPostWorkflow, fake_backend=fake) as tq:
        handle = await start(client, tq, post_input(fake, approval=AUTO))
        await wait_for_stage(handle, Stage.PARKED)
        fake.top_up(500)  # no signal: the slow re-check must notice by itself
        result = await handle.result()

    assert result.outcome == "published"
    assert fake.calls["get_balance"] >= 1 and fake.count("generate") == 1


async def test_unauthorized_parks_until_credentials_updated(client, fake, start_worker):
    fake.key_valid = False
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, post_input(fake, approval=AUTO))
        parked = await wait_for_stage(handle, Stage.PARKED)
        fake.key_valid = True
        await handle.signal(ContentPostWorkflow.credentials_updated)
        result = await handle.result()

    assert parked.parked_reason and ErrorType.UNAUTHORIZED in parked.parked_reason
    assert "credentials_updated" in parked.parked_reason
    assert result.outcome == "published" and fake.count("generate") == 1


async def test_park_during_approval_returns_to_the_step(client, fake, start_worker):
    fake.fail_next("approve_post", ErrorType.FORBIDDEN)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, post_input(fake, approval=AUTO))
        await wait_for_stage(handle, Stage.PARKED)
        await handle.signal(ContentPostWorkflow.credentials_updated)
        result = await handle.result()

    assert result.outcome == "published" and fake.calls["approve_post"] == 2 and fake.count("approve") == 1


# --- failures that end a post (reported, not raised) ------------------------------------------------


async def test_failed_media_is_reported(client, fake, start_worker):
    fake.media_fails = True
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, media_type="carousel"))

    assert result.outcome == "media_failed" and result.cost_cents == 75
    assert fake.calls["approve_post"] == 0 and fake.calls["reject_post"] == 0


@pytest.mark.parametrize(
    ("failing", "outcome", "counts"),
    [({"tiktok"}, "partially_published", (1, 1)), ({"tiktok", "instagram"}, "delivery_failed", (0, 2))],
)
async def test_failed_deliveries_are_reported_per_target(client, fake, start_worker, failing, outcome, counts):
    fake.failing_platforms = failing
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO))

    assert result.outcome == outcome
    assert (result.published_deliveries, result.failed_deliveries) == counts
    assert "tiktok: failed (tiktok refused the post)" in (result.failure_reason or "")


async def test_not_found_ends_the_post_as_failed(client, fake, start_worker):
    fake.fail_next("approve_post", ErrorType.NOT_FOUND)
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO))

    assert result.outcome == "failed"
    assert result.failure_reason and result.failure_reason.startswith(f"{Stage.APPROVING}: NOT_FOUND")


# --- exactly-once generation and server automation -------------------------------------------------


async def test_lost_generate_response_generates_exactly_once(client, fake, start_worker):
    fake.lose_generate_responses = 1
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO))

    assert result.outcome == "published"
    assert fake.calls["generate_post"] == 2  # the retry adopted the post its lost attempt made
    assert fake.count("generate") == 1 and fake.count("charge") == 1
    assert result.cost_cents == 25  # that post was charged to us


async def test_planned_existing_post_is_adopted_not_generated(client, fake, start_worker):
    async with start_worker(ContentPostWorkflow) as tq:
        inp = post_input(fake, approval=AUTO, existing=True)
        result = await run_post(client, tq, inp)

    assert result.generated_post_id == inp.post.existing_generated_post_id
    assert fake.calls["generate_post"] == 0 and result.outcome == "published"


async def test_auto_clone_adopts_the_server_post(client, fake, start_worker):
    fake.not_ready["find_generated_post"] = 2
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, mode="auto_clone", approval=AUTO))

    assert result.outcome == "published" and result.cost_cents == 0
    assert fake.calls["generate_post"] == 0 and fake.count("generate", by="server") == 1
    assert fake.count("approve", by="client") == 1


async def test_auto_publish_follows_the_server_deliveries(client, fake, start_worker):
    fake.not_ready["await_outgoing_post"] = 2
    inp = post_input(fake, mode="auto_publish")  # manual policy: auto_publish never asks anyway
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, inp)

    assert result.outcome == "published" and result.published_deliveries == 2
    assert fake.calls["approve_post"] == 0 and fake.count("approve", by="server") == 1


# --- the server's posts adopted by generated id (the listing named no source post) ---------------------


def adopted_input(fake: FakeReelMirror, mode: str, approval: ApprovalPolicy = MANUAL) -> ContentPostInput:
    """The child's input for a server's post of `mode` found by its generated id: its source is unknown."""
    inp = post_input(fake, mode=mode, approval=approval)
    server_post = fake.server_generate(inp.post.source_post_id, origin=mode)
    post = PlannedPost(
        source_post_id="",
        automation_mode=mode,
        media_type="image",
        existing_generated_post_id=server_post.id,
        adopted_by_id=True,
    )
    return inp.model_copy(update={"post": post})


async def run_adopted(client: Client, task_queue: str, inp: ContentPostInput) -> PostResult:
    assert inp.post.existing_generated_post_id is not None
    wid = adopted_workflow_id(inp.persona_slug, inp.post.existing_generated_post_id)
    return await client.execute_workflow(ContentPostWorkflow.run, inp, id=wid, task_queue=task_queue)


async def test_an_adopted_auto_publish_post_without_an_outgoing_post_ends_published_by_the_server(
    client, fake, start_worker
):
    fake.guide_views = True  # no status, no outgoing post: only the media are promised
    inp = adopted_input(fake, "auto_publish")
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_adopted(client, tq, inp)

    assert result.outcome == SERVER_PUBLISHED and "deliveries unknown" in (result.failure_reason or "")
    assert result.cost_cents == 0 and result.generated_post_id == inp.post.existing_generated_post_id
    assert fake.calls["approve_post"] == 0 and fake.count("generate", by="client") == 0


async def test_an_adopted_auto_publish_post_with_a_status_waits_for_the_server_and_follows_it(
    client, fake, start_worker
):
    inp = adopted_input(fake, "auto_publish")  # full answers: a status, then the server's outgoing post
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_adopted(client, tq, inp)

    assert result.outcome == "published" and result.published_deliveries == 2
    assert fake.calls["approve_post"] == 0 and fake.count("approve", by="server") == 1


async def test_an_adopted_auto_clone_post_is_decided_by_the_operator_and_costs_nothing(client, fake, start_worker):
    fake.guide_views = True
    inp = adopted_input(fake, "auto_clone")
    assert inp.post.existing_generated_post_id is not None
    wid = adopted_workflow_id(inp.persona_slug, inp.post.existing_generated_post_id)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await client.start_workflow(ContentPostWorkflow.run, inp, id=wid, task_queue=tq)
        waiting = await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        assert waiting.pending_approval is not None and waiting.source_post_id == ""
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id=inp.post.existing_generated_post_id))
        result = await handle.result()
        final = await status(handle)

    assert result.outcome == "published" and result.cost_cents == 0 and not final.generated_by_us
    assert fake.count("approve", by="client") == 1 and fake.count("generate", by="client") == 0


# --- progress reported to the persona -------------------------------------------------------------------


async def test_progress_reaches_the_persona_only_when_what_it_keeps_changed(client, fake, start_worker):
    persona_id = f"persona-stub-{uuid.uuid4().hex[:8]}"
    async with start_worker(ContentPostWorkflow) as tq:
        persona = await client.start_workflow(StubPersonaWorkflow.run, id=persona_id, task_queue=tq)
        result = await run_post(client, tq, post_input(fake, approval=AUTO, persona_workflow_id=persona_id))
        received = await persona.result()  # the stub ends when the post reports it finished

    # only what the persona keeps changes a report: the start, the generated id and cost, the end
    stages = [p.stage for p in received]
    assert stages == [Stage.STARTING, Stage.RENDERING, Stage.DONE]
    last = received[-1]
    assert last.finished and last.outcome == result.outcome == "published"
    assert last.generated_post_id == result.generated_post_id and last.cost_cents == 25


async def test_a_missing_persona_does_not_fail_the_post(client, fake, start_worker):
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, post_input(fake, approval=AUTO, persona_workflow_id="persona-gone"))

    assert result.outcome == "published"


async def test_media_that_never_finishes_ends_the_post_as_failed(client, fake, start_worker):
    fake.not_ready["poll_generated_post"] = 10**6
    inp = post_input(fake, approval=AUTO)
    image_poll = PollSchedule(first_check_seconds=60, max_interval_seconds=600, give_up_after_seconds=3600)
    inp = inp.model_copy(update={"timing": Timing(poll={"image": image_poll})})
    async with start_worker(ContentPostWorkflow) as tq:
        result = await run_post(client, tq, inp)

    assert result.outcome == "failed" and fake.calls["approve_post"] == 0
    assert (result.failure_reason or "").startswith(f"{Stage.RENDERING}: gave up waiting")


async def test_history_replays_deterministically(client, fake, start_worker):
    fake.lose_generate_responses = 1
    fake.not_ready["poll_deliveries"] = 2  # polls after the decision: the result wait skips their timers
    inp = post_input(fake)
    async with start_worker(ContentPostWorkflow) as tq:
        handle = await start(client, tq, inp)
        pending = await wait_for_stage(handle, Stage.AWAITING_APPROVAL)
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.generated_post_id or ""))
        await handle.result()
        history = await handle.fetch_history()

    replayer = Replayer(workflows=[ContentPostWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
