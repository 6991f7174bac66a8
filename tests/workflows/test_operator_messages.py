"""The operator's Updates and the alerts, on a real Temporal dev server with the fake ReelMirror.

Why not the time-skipping server of the other workflow tests: it does not support Updates. These run at
real speed on `WorkflowEnvironment.start_local` (the venv's `temporal` binary: no download) with every
wait scaled down, and check what an operator relies on: a decision's answer says what really happened
(accepted, or why not: not ready, unknown post, already decided, timed out), refusals leave no trace in
history, a persona stops cleanly (letting its posts finish, or cancelling them), a new persona file is
checked and applied at the next cycle, and alerts go out once per item and event while a receiver that is
down delays only its own alert.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from workflow_fakes import FakeReelMirror, eventually

from activities.error_types import ErrorType
from activities.models import PlannedPost
from workflows.alert import AlertWorkflow
from workflows.config import ApprovalPolicy, CostTable, PersonaConfig, PublishingAccountConfig, SourceConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import (
    ContentPostInput,
    DecisionRequest,
    PersonaLoopInput,
    PersonaStatus,
    PostResult,
    StopRequest,
)
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.search_attributes import ALL_KEYS
from workflows.stages import PersonaStage, PostStage

pytestmark = pytest.mark.integration

TEMPORAL = Path(sys.executable).parent / "temporal"
FAST = Timing(time_scale=0.001)
CHEF = SourceConfig(platform="instagram", username="chef")
OFFICIAL = PublishingAccountConfig(platform="instagram", username="nova_official")
RECEIVER = "http://alerts.test/hook"
DOWN = "http://down.test/hook"  # the fake's send_alert fails for any URL with "down" in it


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL), data_converter=pydantic_data_converter, search_attributes=ALL_KEYS
    ) as env:
        yield env


@pytest.fixture
def dev_client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture
def world() -> FakeReelMirror:
    fake = FakeReelMirror()
    fake.connect_account("instagram", "nova_official")
    return fake


@pytest.fixture
def worker(dev_client: Client, world: FakeReelMirror) -> Callable[[], AbstractAsyncContextManager[str]]:
    @asynccontextmanager
    async def run() -> AsyncIterator[str]:
        queue = f"tq-{uuid.uuid4().hex[:12]}"
        async with Worker(
            dev_client,
            task_queue=queue,
            workflows=[PersonaLoopWorkflow, ContentPostWorkflow, AlertWorkflow],
            activities=world.activities(),
        ):
            yield queue

    return run


def persona(**overrides: Any) -> PersonaConfig:
    values: dict[str, Any] = {
        "name": "Nova",
        "slug": f"nova-{uuid.uuid4().hex[:8]}",
        "sources": [CHEF],
        "publishing_accounts": [OFFICIAL],
        "sync_interval_minutes": 15,
        "posts_per_cycle": 5,
        "max_concurrent_posts": 5,
        "approval": ApprovalPolicy(mode="manual"),
    }
    values.update(overrides)
    return PersonaConfig(**values)


async def start_persona(client: Client, queue: str, cfg: PersonaConfig) -> WorkflowHandle[Any, PersonaStatus]:
    return await client.start_workflow(
        PersonaLoopWorkflow.run,
        PersonaLoopInput(account_ref="bot", config=cfg, timing=FAST),
        id=cfg.workflow_id,
        task_queue=queue,
    )


async def start_post(
    client: Client, queue: str, world: FakeReelMirror, **approval: Any
) -> WorkflowHandle[Any, PostResult]:
    persona_id = world.add_persona()
    source_post = world.add_source_post(persona_id)
    inp = ContentPostInput(
        account_ref="bot",
        persona_id=persona_id,
        persona_slug="solo",
        post=PlannedPost(source_post_id=source_post, automation_mode="sync_only", media_type="image"),
        approval=ApprovalPolicy(**approval),
        costs=CostTable(),
        timing=FAST,
    )
    return await client.start_workflow(
        ContentPostWorkflow.run, inp, id=f"post-solo-{source_post}-{uuid.uuid4().hex[:6]}", task_queue=queue
    )


async def refusal(call: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    assert isinstance(caught.value.cause, ApplicationError)
    return caught.value.cause


async def events(handle: WorkflowHandle[Any, Any], kind: EventType.ValueType) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == kind)


async def wait_for(handle: WorkflowHandle[Any, PersonaStatus], until: Callable[[PersonaStatus], bool]) -> PersonaStatus:
    return await eventually(lambda: handle.query(PersonaLoopWorkflow.status), until, attempts=400)


# --- decisions ------------------------------------------------------------------------------------------


async def test_a_decision_update_says_what_happened(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    world.not_ready["poll_generated_post"] = 2  # a moment of rendering: too early to decide
    async with worker() as queue:
        post = await start_post(dev_client, queue, world)
        early = await refusal(post.execute_update(ContentPostWorkflow.approve_update, DecisionRequest()))
        assert early.type == "NOT_READY" and "not waiting for a decision yet" in early.message

        await eventually(
            lambda: post.query(ContentPostWorkflow.status), lambda p: p.pending_approval is not None, attempts=400
        )
        wrong = await refusal(post.execute_update(ContentPostWorkflow.reject_update, DecisionRequest(post_id="gp_x")))
        assert wrong.type == "UNKNOWN_POST"

        reply = await post.execute_update(ContentPostWorkflow.approve_update, DecisionRequest())
        assert reply.approved and reply.workflow_id == post.id and reply.generated_post_id

        again = await refusal(post.execute_update(ContentPostWorkflow.reject_update, DecisionRequest(reason="late")))
        assert again.type == "ALREADY_DECIDED" and again.message == "already approved by an operator"
        result = await post.result()

    assert result.outcome == "published" and world.count("approve") == 1 and world.count("reject") == 0
    # refusals are answered by the validator and leave nothing in history; the accepted one is recorded once
    assert await events(post, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == 1
    assert await events(post, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0


async def test_after_the_deadline_a_decision_is_refused_as_timed_out(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    world.not_ready["poll_deliveries"] = 10_000  # the post stays in "publishing" after its default approval
    async with worker() as queue:
        post = await start_post(dev_client, queue, world, timeout_minutes=1, default_action="approve")
        await eventually(
            lambda: post.query(ContentPostWorkflow.status), lambda p: p.stage == PostStage.PUBLISHING, attempts=400
        )
        late = await refusal(post.execute_update(ContentPostWorkflow.reject_update, DecisionRequest()))
        await post.terminate("test over")
    assert late.type == "TIMED_OUT" and "default action (approve)" in late.message
    assert world.count("approve") == 1 and world.count("reject") == 0


async def test_an_approve_signal_without_input_approves_as_the_web_ui_sends_it(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    async with worker() as queue:
        post = await start_post(dev_client, queue, world)
        await eventually(lambda: post.query(ContentPostWorkflow.status), lambda p: p.pending_approval is not None)
        await post.signal(ContentPostWorkflow.approve)
        assert (await post.result()).outcome == "published"


# --- persona lifecycle -------------------------------------------------------------------------------------


async def test_stop_lets_the_posts_in_flight_finish_then_the_loop_ends(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    world.add_creator_posts("instagram", "chef", ["image", "image"])
    async with worker() as queue:
        handle = await start_persona(dev_client, queue, persona(sync_interval_minutes=600))  # one cycle, then a wait
        waiting = await wait_for(handle, lambda s: len(s.pending_approvals) == 2)

        reply = await handle.execute_update(PersonaLoopWorkflow.stop, StopRequest())
        assert (reply.already_stopping, reply.posts_in_flight, reply.cancelled) == (False, 2, [])
        stopping = await handle.query(PersonaLoopWorkflow.status)
        assert stopping.stopping and stopping.next_cycle_max_cents == 0
        for pending in waiting.pending_approvals:
            post = dev_client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)
            await post.execute_update(ContentPostWorkflow.approve_update, DecisionRequest())
        final = await handle.result()

    assert final.counters.published_posts == 2 and final.counters.cycles == 1 and final.stage == PersonaStage.DONE
    assert world.calls["plan_cycle"] == 1


async def test_stop_now_cancels_the_posts_in_flight_cleanly(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    world.add_creator_posts("instagram", "chef", ["image", "video"])
    async with worker() as queue:
        handle = await start_persona(dev_client, queue, persona(sync_interval_minutes=600))
        waiting = await wait_for(handle, lambda s: len(s.pending_approvals) == 2)
        reply = await handle.execute_update(PersonaLoopWorkflow.stop, StopRequest(now=True))
        final = await handle.result()
        posts = [
            dev_client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)
            for pending in waiting.pending_approvals
        ]
        results = [await p.result() for p in posts]

    assert sorted(reply.cancelled) == sorted(p.workflow_id for p in waiting.pending_approvals)
    assert [r.outcome for r in results] == ["cancelled", "cancelled"]
    assert final.active_posts == 0 and world.count("approve") == 0
    for post in [handle, *posts]:
        assert await events(post, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0
        assert (await post.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_a_new_persona_file_is_checked_then_applied_at_the_next_cycle(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    cfg = persona(approval=ApprovalPolicy(mode="auto"), sync_interval_minutes=60)
    runner = SourceConfig(platform="tiktok", username="runner", automation_mode="auto_clone")
    async with worker() as queue:
        handle = await start_persona(dev_client, queue, cfg)
        await wait_for(handle, lambda s: s.counters.cycles == 1 and s.stage == PersonaStage.WAITING)
        first_run = (await handle.describe()).run_id

        for bad, kind, words in [
            (cfg.model_copy(update={"slug": "someone-else"}), "CONFIG_REFUSED", "not '"),
            (cfg.model_copy(update={"name": "Renamed"}), "CONFIG_REFUSED", "name cannot change"),
            (cfg.model_copy(update={"sources": [runner]}), "CONFIG_REFUSED", "cannot be removed"),
            (cfg, "NO_CHANGE", "has this configuration already"),
        ]:
            refused = await refusal(handle.execute_update(PersonaLoopWorkflow.reconfigure, bad))
            assert refused.type == kind and words in refused.message, refused.message

        changed = cfg.model_copy(update={"sources": [CHEF, runner], "daily_credit_budget_cents": 500})
        reply = await handle.execute_update(PersonaLoopWorkflow.reconfigure, changed)
        assert reply.changes == ["sources: + tiktok/runner (auto_clone)", "daily_credit_budget_cents: unset -> 500"]
        assert (await handle.query(PersonaLoopWorkflow.status)).pending_changes == reply.changes

        after = await wait_for(handle, lambda s: s.counters.cycles == 2)
        new_run = (await handle.describe()).run_id
        await handle.terminate("test over")

    assert new_run != first_run, "the change is applied by continuing as new"
    assert after.pending_changes == [] and after.daily_credit_budget_cents == 500
    assert world.count("source") == 2 and any(s.username == "runner" for s in world.sources.values())


# --- alerts -------------------------------------------------------------------------------------------------


async def test_alerts_go_out_once_per_item_and_event_and_a_down_receiver_delays_only_its_own(
    dev_client: Client, worker: Callable[[], AbstractAsyncContextManager[str]], world: FakeReelMirror
) -> None:
    world.add_creator_posts("instagram", "chef", ["image", "image"])
    world.fail_next("generate_post", ErrorType.INSUFFICIENT_BALANCE, times=1)
    cfg = persona(alerts=[{"url": RECEIVER}, {"url": DOWN, "events": ["decision_needed"]}], max_cycles=1)
    async with worker() as queue:
        handle = await start_persona(dev_client, queue, cfg)
        waiting = await wait_for(
            handle, lambda s: len(s.pending_approvals) == 1 and any(p.parked_reason for p in s.posts)
        )
        parked = next(p for p in waiting.posts if p.parked_reason)
        assert parked.parked_kind == "balance" and parked.parked_since is not None
        await handle.signal(PersonaLoopWorkflow.topped_up)
        waiting = await wait_for(handle, lambda s: len(s.pending_approvals) == 2)
        for pending in waiting.pending_approvals:
            post = dev_client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)
            await post.execute_update(ContentPostWorkflow.reject_update, DecisionRequest(reason="not today"))
        final = await handle.result()  # the receiver that is down holds up nothing
        down = dev_client.get_workflow_handle(f"alert-{waiting.pending_approvals[0].workflow_id}-decision_needed")
        still = await down.describe()
        await down.terminate("test over")
        for pending in waiting.pending_approvals[1:]:
            await dev_client.get_workflow_handle(f"alert-{pending.workflow_id}-decision_needed").terminate("test over")

    delivered = sorted((a.alert.event, a.alert.item_workflow_id) for a in world.alerts if a.url == RECEIVER)
    posts = sorted(p.workflow_id for p in waiting.pending_approvals)
    assert delivered == sorted([("decision_needed", p) for p in posts] + [("parked", parked.workflow_id)])
    assert all(a.url == RECEIVER for a in world.alerts), "the receiver that is down never took one"
    assert still.status == WorkflowExecutionStatus.RUNNING and still.raw_description.pending_activities[0].attempt > 1
    assert final.counters.rejected == 2
