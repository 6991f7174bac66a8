"""PersonaLoopWorkflow with the real ContentPostWorkflow as its children, against the fake ReelMirror on the
time-skipping server.

Each test scripts one promise of the loop (setup once, a full cycle with approvals routed by the persona,
limits per cycle and concurrency, the daily budget, no double generation across cycles and continue-as-new,
parking and resuming, pause/resume, unknown post ids, missing targets, max_cycles) and checks outcomes,
the status query and the fake's ledger, never wall-clock timing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from workflow_fakes import FakeReelMirror, eventually

from activities.error_types import ErrorType
from activities.models import CyclePlan, GenerateInput, GenerateOutcome, PlanCycleInput, PlannedPost
from workflows.config import ApprovalPolicy, CostTable, PersonaConfig, PublishingAccountConfig, SourceConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import (
    PendingApproval,
    PersonaLoopInput,
    PersonaState,
    PersonaStatus,
    PostProgress,
    PostRef,
    RejectSignal,
)
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.persona_rules import fit_budget, plan_limit
from workflows.stages import PersonaStage as Stage

MANUAL = ApprovalPolicy(mode="manual")
AUTO = ApprovalPolicy(mode="auto")
CHEF = SourceConfig(platform="instagram", username="chef", automation_mode="sync_only")
RUNNER = SourceConfig(platform="tiktok", username="runner", automation_mode="auto_clone")
OFFICIAL = PublishingAccountConfig(platform="instagram", username="nova_official")


class RecordingFake(FakeReelMirror):
    """The shared fake, plus what these tests need to see: when each generate was scheduled (server time,
    for the budget's UTC day) and the handled ids each plan was given (carried across continue-as-new)."""

    def __init__(self) -> None:
        super().__init__()
        self.generated_at: list[tuple[str, datetime]] = []
        self.plans: list[PlanCycleInput] = []

    @activity.defn
    async def generate_post(self, inp: GenerateInput) -> GenerateOutcome:
        self.generated_at.append((inp.source_post_id, activity.info().current_attempt_scheduled_time))
        return await super().generate_post(inp)

    @activity.defn
    async def plan_cycle(self, inp: PlanCycleInput) -> CyclePlan:
        self.plans.append(inp)
        return await super().plan_cycle(inp)


@pytest.fixture
def fake() -> RecordingFake:
    """Overrides the shared `fake`: same world, with the recordings above."""
    backend = RecordingFake()
    backend.connect_account("instagram", "nova_official")
    return backend


@pytest.fixture
async def task_queue(start_worker: Callable[..., AbstractAsyncContextManager[str]]) -> AsyncIterator[str]:
    async with start_worker(PersonaLoopWorkflow, ContentPostWorkflow) as queue:
        yield queue


async def decide(client: Client, pending: PendingApproval, *, approve: bool = True, reason: str | None = None) -> None:
    """A decision goes to the post's own workflow (the persona routes none)."""
    post = client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)
    if approve:
        await post.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.generated_post_id))
    else:
        await post.signal(ContentPostWorkflow.reject, RejectSignal(post_id=pending.generated_post_id, reason=reason))


def config(**overrides: Any) -> PersonaConfig:
    """A persona with a unique slug (one test server serves every test), one sync_only source, one target."""
    values: dict[str, Any] = {
        "name": "Nova",
        "slug": f"nova-{uuid.uuid4().hex[:8]}",
        "sources": [CHEF],
        "publishing_accounts": [OFFICIAL],
        "sync_interval_minutes": 60,
        "posts_per_cycle": 5,
        "max_concurrent_posts": 5,
        "approval": AUTO,
        "max_cycles": 1,
    }
    values.update(overrides)
    return PersonaConfig(**values)


async def start(
    client: Client, task_queue: str, cfg: PersonaConfig, *, state: PersonaState | None = None, **extra: Any
) -> WorkflowHandle[Any, PersonaStatus]:
    return await client.start_workflow(
        PersonaLoopWorkflow.run,
        PersonaLoopInput(account_ref="bot", config=cfg, state=state, **extra),
        id=cfg.workflow_id,
        task_queue=task_queue,
    )


async def status(handle: WorkflowHandle[Any, PersonaStatus]) -> PersonaStatus:
    return await handle.query(PersonaLoopWorkflow.status)


async def wait_for(handle: WorkflowHandle[Any, PersonaStatus], until: Callable[[PersonaStatus], bool]) -> PersonaStatus:
    return await eventually(lambda: status(handle), until)


def generates_per_source_post(fake: FakeReelMirror) -> Counter[str | None]:
    return Counter(e.source_post_id for e in fake.ledger if e.kind == "generate")


# --- setup ------------------------------------------------------------------------------------------


async def test_setup_creates_persona_sources_and_targets_once(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    cfg = config(sources=[CHEF, RUNNER])
    first = await (await start(client, task_queue, cfg)).result()
    assert (fake.count("persona"), fake.count("source"), fake.count("target")) == (1, 2, 1)
    assert first.persona_id is not None and first.stage == Stage.DONE

    carried = PersonaState(persona_id=first.persona_id)
    second = await (await start(client, task_queue, cfg, state=carried)).result()
    assert second.persona_id == first.persona_id
    assert (fake.count("persona"), fake.count("source"), fake.count("target")) == (1, 2, 1)
    assert fake.calls["ensure_persona"] == 2 and fake.calls["ensure_source"] == 4


async def test_a_carried_persona_id_the_server_lost_is_set_up_again(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    final = await (await start(client, task_queue, config(), state=PersonaState(persona_id="persona_gone"))).result()
    assert final.persona_id is not None and final.persona_id != "persona_gone"
    assert "persona_gone" in (final.last_error or "")
    assert (fake.count("persona"), fake.count("source"), fake.count("sync")) == (1, 1, 1)


async def test_missing_publishing_account_is_reported_and_the_loop_runs(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"])
    ghost = PublishingAccountConfig(platform="tiktok", username="ghost")
    final = await (await start(client, task_queue, config(publishing_accounts=[OFFICIAL, ghost]))).result()
    assert len(final.targets_missing) == 1
    assert final.targets_missing[0].startswith("tiktok/ghost: ")
    assert "connect" in final.targets_missing[0]
    assert fake.count("target") == 1
    assert final.counters.published_posts == 1


# --- a full cycle -------------------------------------------------------------------------------------


async def test_full_cycle_with_manual_approvals_sent_to_each_post(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image", "video"])
    fake.add_creator_posts("tiktok", "runner", ["carousel"])
    handle = await start(client, task_queue, config(sources=[CHEF, RUNNER], approval=MANUAL))

    waiting = await wait_for(handle, lambda s: len(s.pending_approvals) == 3)
    assert waiting.active_posts == 3 and waiting.stage == Stage.WAITING
    assert waiting.counters.generated == 2 and waiting.counters.adopted == 1
    for pending in waiting.pending_approvals:
        assert pending.media_urls and all(url.startswith("https://cdn.test/") for url in pending.media_urls)
        assert pending.workflow_id == f"post-{waiting.workflow_id.removeprefix('persona-')}-{pending.source_post_id}"
    carousel = next(p for p in waiting.pending_approvals if len(p.media_urls) == 3)
    ours = [p for p in waiting.pending_approvals if p is not carousel]

    await decide(client, carousel)
    await decide(client, ours[0])
    await decide(client, ours[1], approve=False, reason="off")
    final = await handle.result()

    c = final.counters
    assert (c.cycles, c.generated, c.adopted, c.approved, c.rejected) == (1, 2, 1, 2, 1)
    assert (c.published_posts, c.published_deliveries, c.failed_posts, c.failed_deliveries) == (2, 2, 0, 0)
    assert final.active_posts == 0 and final.pending_approvals == [] and final.last_error is None
    assert fake.count("generate", by="client") == 2 and fake.count("generate", by="server") == 1
    assert fake.count("approve") == 2 and fake.count("reject") == 1 and fake.count("delivery") == 2
    rejected = fake.generated[ours[1].generated_post_id]
    assert (rejected.status, rejected.rejection_reason) == ("rejected", "off")
    spent = fake.costs["image"] + fake.costs["video"]
    assert final.credits_spent_today_cents == spent == sum(e.amount_cents for e in fake.ledger if e.kind == "charge")


async def test_a_decision_naming_another_post_is_ignored_and_the_post_still_waits(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"])
    handle = await start(client, task_queue, config(approval=MANUAL))
    waiting = await wait_for(handle, lambda s: len(s.pending_approvals) == 1)
    pending = waiting.pending_approvals[0]
    post = client.get_workflow_handle_for(ContentPostWorkflow.run, pending.workflow_id)

    await post.signal(ContentPostWorkflow.approve, PostRef(post_id="gp_does_not_exist"))
    still = await post.query(ContentPostWorkflow.status)
    assert still.pending_approval == pending and fake.count("approve") == 0

    # the source post id names the post as well as the generated post id does
    await post.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.source_post_id))
    final = await handle.result()
    assert final.counters.published_posts == 1 and fake.count("approve") == 1


async def test_a_step_failing_for_good_is_reported_and_the_next_cycle_goes_on(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"])
    fake.fail_next("plan_cycle", ErrorType.VALIDATION_ERROR)
    final = await (await start(client, task_queue, config(max_cycles=2))).result()
    assert (final.last_error or "").startswith("plan up to 5 posts: ")
    assert fake.calls["plan_cycle"] == 2 and final.counters.cycles == 2
    assert final.counters.published_posts == 1 and fake.count("generate") == 1


# --- limits -------------------------------------------------------------------------------------------


async def test_posts_per_cycle_and_max_concurrent_posts_are_respected(
    client: Client, task_queue: str, fake: RecordingFake, workflow_env: WorkflowEnvironment
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"] * 6)
    cfg = config(approval=MANUAL, posts_per_cycle=2, max_concurrent_posts=3, max_cycles=3)
    handle = await start(client, task_queue, cfg)
    first = await wait_for(handle, lambda s: s.counters.cycles == 1 and len(s.pending_approvals) == 2)
    assert first.active_posts == 2 and fake.count("generate") == 2

    await workflow_env.sleep(timedelta(minutes=61))  # the second cycle: one free slot left
    second = await wait_for(handle, lambda s: s.counters.cycles == 2 and len(s.pending_approvals) == 3)
    await workflow_env.sleep(timedelta(minutes=61))  # the third cycle: no free slot, nothing planned
    third = await wait_for(handle, lambda s: s.counters.cycles == 3)
    assert second.active_posts == third.active_posts == 3 and fake.count("generate") == 3
    assert [plan.limit for plan in fake.plans] == [2, 1]

    for pending in third.pending_approvals:
        await decide(client, pending, approve=False)
    final = await handle.result()
    assert final.counters.rejected == 3 and final.active_posts == 0 and fake.count("generate") == 3


async def test_daily_budget_stops_generation_until_the_next_utc_day(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"] * 3)
    budget = 2 * fake.costs["image"]
    cfg = config(daily_credit_budget_cents=budget, sync_interval_minutes=360, max_cycles=5)
    final = await (await start(client, task_queue, cfg)).result()

    days = [when.date() for _, when in fake.generated_at]
    assert len(days) == 3 and days[0] == days[1] and days[2] > days[0]
    assert generates_per_source_post(fake) == Counter({sp: 1 for sp, _ in fake.generated_at})
    assert final.counters.published_posts == 3
    assert final.credits_spent_today_cents == fake.costs["image"] and final.daily_credit_budget_cents == budget


async def test_never_generates_a_source_post_twice_across_cycles_and_continue_as_new(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"] * 3)
    cfg = config(posts_per_cycle=1, max_cycles=4)
    handle = await start(client, task_queue, cfg, continue_as_new_after_cycles=1)
    final = await handle.result()

    described = await client.get_workflow_handle(cfg.workflow_id).describe()
    assert described.run_id != handle.first_execution_run_id
    per_post = generates_per_source_post(fake)
    assert len(per_post) == 3 and set(per_post.values()) == {1}
    assert final.counters.cycles == 4 and final.counters.generated == 3 and final.counters.published_posts == 3
    # the record crosses continue-as-new: each cycle's input remembers what the earlier cycles handed on
    assert [len(plan.book.recent) if plan.book else 0 for plan in fake.plans] == [0, 1, 2, 3]
    assert fake.plans[-1].book is not None and set(fake.plans[-1].book.recent) == set(per_post)


async def test_posts_waiting_for_approval_survive_continue_as_new(
    client: Client, task_queue: str, fake: RecordingFake, workflow_env: WorkflowEnvironment
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"])
    cfg = config(approval=MANUAL, max_cycles=2)
    handle = await start(client, task_queue, cfg, continue_as_new_after_cycles=1)
    before = await wait_for(handle, lambda s: len(s.pending_approvals) == 1)

    await workflow_env.sleep(timedelta(minutes=61))  # the timer ends, the run continues as new
    after = await wait_for(handle, lambda s: s.counters.cycles == 2)
    described = await client.get_workflow_handle(cfg.workflow_id).describe()
    assert described.run_id != handle.first_execution_run_id
    assert after.pending_approvals == before.pending_approvals and after.counters.generated == 1

    await decide(client, before.pending_approvals[0])
    # the post's delivery poll waits for its first planned check: let that timer pass before awaiting the
    # result (the test server's result long-poll gives up when time jumps past it for a child's timer)
    await wait_for(handle, lambda s: s.stage == Stage.DONE)
    final = await client.get_workflow_handle(cfg.workflow_id, result_type=PersonaStatus).result()
    assert final.counters.published_posts == 1 and fake.count("generate") == 1 and fake.count("approve") == 1


# --- park, don't die ----------------------------------------------------------------------------------


async def test_402_in_a_cycle_parks_then_topped_up_resumes_and_reaches_the_children(
    client: Client, task_queue: str, fake: RecordingFake
) -> None:
    fake.add_creator_posts("instagram", "chef", ["image"])
    fake.account().balance_cents = 0
    fake.fail_next("start_sync", ErrorType.INSUFFICIENT_BALANCE)
    cfg = config()
    handle = await start(client, task_queue, cfg)

    parked = await wait_for(handle, lambda s: s.stage == Stage.PARKED)
    assert "insufficient balance" in (parked.parked_reason or "")
    await handle.signal(PersonaLoopWorkflow.topped_up)

    # the sync runs again; the post's generate meets the empty balance and parks the child instead
    syncing = await wait_for(handle, lambda s: s.active_posts == 1 and s.parked_reason is None)
    assert syncing.stage != Stage.PARKED
    source_post_id = next(iter(fake.source_posts))
    child = client.get_workflow_handle(f"post-{cfg.persona_slug}-{source_post_id}")
    child_status: PostProgress = await eventually(
        lambda: child.query(ContentPostWorkflow.status), lambda p: p.parked_reason is not None
    )
    assert child_status.stage == "parked" and "insufficient balance" in (child_status.parked_reason or "")
    fake.top_up(1_000)
    await handle.signal(PersonaLoopWorkflow.topped_up)  # forwarded to the parked child
    final = await handle.result()

    assert final.counters.published_posts == 1 and final.parked_reason is None
    assert fake.calls["start_sync"] == 2 and fake.count("generate") == 1
    assert fake.calls["get_balance"] == 0  # both waits ended by the signal, not by a re-check


async def test_401_parks_until_credentials_updated(client: Client, task_queue: str, fake: RecordingFake) -> None:
    fake.key_valid = False
    handle = await start(client, task_queue, config())
    parked = await wait_for(handle, lambda s: s.stage == Stage.PARKED)
    assert "UNAUTHORIZED" in (parked.parked_reason or "") and "credentials_updated" in (parked.parked_reason or "")
    assert parked.persona_id is None

    fake.key_valid = True
    await handle.signal(PersonaLoopWorkflow.credentials_updated)
    final = await handle.result()
    assert final.stage == Stage.DONE and final.parked_reason is None and final.persona_id is not None
    assert fake.count("persona") == 1 and fake.count("sync") == 1


# --- operator controls and completion ---------------------------------------------------------------


async def test_pause_stops_new_cycles_and_resume_continues(
    client: Client, task_queue: str, fake: RecordingFake, workflow_env: WorkflowEnvironment
) -> None:
    handle = await start(client, task_queue, config(max_cycles=2))
    await wait_for(handle, lambda s: s.counters.cycles == 1 and s.stage == Stage.WAITING)
    await handle.signal(PersonaLoopWorkflow.pause)
    paused = await wait_for(handle, lambda s: s.stage == Stage.PAUSED)
    assert paused.paused

    await workflow_env.sleep(timedelta(hours=5))  # five sync intervals pass on the server's clock
    still = await status(handle)
    assert still.counters.cycles == 1 and still.stage == Stage.PAUSED and fake.calls["start_sync"] == 1

    await handle.signal(PersonaLoopWorkflow.resume)
    final = await handle.result()
    assert final.counters.cycles == 2 and not final.paused and fake.calls["start_sync"] == 2


async def test_max_cycles_completes_with_the_final_status(client: Client, task_queue: str, fake: RecordingFake) -> None:
    fake.add_creator_posts("instagram", "chef", ["image", "image"])
    handle = await start(client, task_queue, config(max_cycles=3))
    final = await handle.result()
    assert final.stage == Stage.DONE and final.counters.cycles == 3 and final.active_posts == 0
    assert final.counters.published_posts == 2 and final.next_sync_at is None
    assert fake.calls["start_sync"] == 3 and fake.count("generate") == 2


# --- planning arithmetic ------------------------------------------------------------------------------


def test_plan_limit_takes_the_smaller_of_per_cycle_and_free_slots() -> None:
    cfg = config(posts_per_cycle=2, max_concurrent_posts=3)
    assert [plan_limit(cfg, active) for active in (0, 1, 2, 3, 4)] == [2, 2, 1, 0, 0]


def test_fit_budget_counts_only_posts_we_generate() -> None:
    def item(sp: str, media: str, existing: str | None = None) -> PlannedPost:
        return PlannedPost(
            source_post_id=sp, source_id=None, automation_mode="sync_only", media_type=media,
            existing_generated_post_id=existing,
        )  # fmt: skip

    items = [item("a", "video"), item("b", "image", existing="gp"), item("c", "image"), item("d", "image")]
    chosen = fit_budget(items, CostTable(), remaining_cents=125)
    assert [i.source_post_id for i in chosen] == ["a", "b", "c"]
    assert fit_budget(items, CostTable(), remaining_cents=None) == items


def test_a_post_of_unknown_media_type_counts_at_the_highest_price() -> None:
    costs = CostTable(image_cents=25, video_cents=100, carousel_cents=75)
    prices = [costs.for_media_type(m) for m in ("image", "video", "carousel", "unknown", "reel")]
    assert prices == [25, 100, 75, 100, 100]
    unknown = PlannedPost(source_post_id="a", automation_mode="sync_only", media_type="unknown")
    assert fit_budget([unknown], costs, remaining_cents=99) == []  # an image's price would have let it through
    assert fit_budget([unknown], costs, remaining_cents=100) == [unknown]


def test_a_cancelled_post_is_counted_as_cancelled_not_failed() -> None:
    from workflows.models import PersonaState
    from workflows.persona_rules import apply_outcome

    state = PersonaState()
    apply_outcome(state, PostProgress(workflow_id="post-x", source_post_id="sp", stage="done", outcome="cancelled"))
    assert (state.counters.cancelled, state.counters.failed_posts) == (1, 0)


def test_a_server_post_adopted_by_generated_id_has_its_own_workflow_id_and_costs_nothing() -> None:
    from workflows.persona_rules import adopted_workflow_id, child_workflow_id, estimated_cost, planned_workflow_id

    adopted = PlannedPost(
        source_post_id="", automation_mode="auto_clone", media_type="image",
        existing_generated_post_id="gp-1", adopted_by_id=True,
    )  # fmt: skip
    assert planned_workflow_id("nova", adopted) == adopted_workflow_id("nova", "gp-1") == "post-nova-adopted:gp-1"
    assert planned_workflow_id("nova", adopted) != child_workflow_id("nova", "gp-1")  # never a source post's id
    assert estimated_cost(adopted, CostTable()) == 0


def test_server_published_is_counted_apart_and_own_generated_ids_stay_bounded() -> None:
    from workflows.models import PersonaState
    from workflows.persona_rules import MAX_OWN_IDS, SERVER_PUBLISHED, apply_outcome, count_generation

    state = PersonaState()
    apply_outcome(state, PostProgress(workflow_id="post-x", source_post_id="", stage="done", outcome=SERVER_PUBLISHED))
    assert (state.counters.server_published, state.counters.failed_posts) == (1, 0)
    for n in range(MAX_OWN_IDS + 5):
        ours = PostProgress(
            workflow_id=f"post-{n}", source_post_id=f"sp-{n}", stage="rendering",
            generated_post_id=f"gp-{n}", generated_by_us=True,
        )  # fmt: skip
        count_generation(state, None, ours)
    adopted = PostProgress(workflow_id="post-a", source_post_id="", stage="rendering", generated_post_id="gp-server")
    count_generation(state, None, adopted)
    assert len(state.own_generated_ids) == MAX_OWN_IDS and state.own_generated_ids[-1] == f"gp-{MAX_OWN_IDS + 4}"
    assert "gp-server" not in state.own_generated_ids and state.counters.adopted == 1


def test_the_status_names_held_posts_and_advises_a_persona_of_their_own() -> None:
    from workflows.persona_rules import planning_notes

    notes = planning_notes(None, 7, held=["sp-1", "sp-2"], adoption=["about adoption"], server_published=3)
    assert notes[0].startswith("7 source posts name no source") and "(held: sp-1, sp-2, ...)" in notes[0]
    assert "a persona of their own" in notes[0] and "about adoption" in notes
    assert any(n.startswith("3 posts were published by the server with deliveries unknown") for n in notes)
