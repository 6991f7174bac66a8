"""PersonaLoopWorkflow: one persona's endless content loop, durable across crashes, deploys and months.

Why one long-lived workflow per persona: the loop's memory (which source posts were already handed on,
what is in flight, what was spent today) must survive anything, and the operator needs one place to
look at and to talk to (`persona-<slug>`: pause, resume, approve, reject, topped_up, credentials_updated).

One run does: setup (persona, sources, publishing targets; every call idempotent, so a re-run creates
nothing new), then cycles: sync every source, plan what fits (posts per cycle, free concurrency slots,
the daily credit budget), start one ContentPostWorkflow child per planned post (ABANDON, so the persona's
continue-as-new does not touch them), and sleep on a durable timer until the next sync. Children report
through `post_progress`; the persona keeps their latest progress and folds finished posts into counters.
402/401/403 park the persona (see `workflows.parking`) instead of failing it; anything else that goes
wrong with one step is recorded in `last_error` and the loop goes on. Only bugs fail this workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        CyclePlan,
        EnsurePersonaInput,
        EnsureSourceInput,
        EnsureTargetInput,
        ErrorType,
        JobInput,
        PersonaInput,
        PersonaView,
        PlanCycleInput,
        PlannedPost,
        SourceView,
        SyncJobView,
        SyncStartedView,
        TargetView,
    )
    from workflows import policies
    from workflows.models import (
        ContentPostInput,
        CostTable,
        PendingApproval,
        PersonaConfig,
        PersonaLoopInput,
        PersonaState,
        PersonaStatus,
        PlannedPostRef,
        PostProgress,
        PostRef,
        PostResult,
        PublishingAccountConfig,
        RejectSignal,
    )
    from workflows.parking import Parking, ParkState, error_message, error_type
    from workflows.search_attributes import PERSONA, STAGE

M = TypeVar("M", bound=BaseModel)

POST_WORKFLOW = "ContentPostWorkflow"
HANDLED_KEEP = 2000  # source post ids remembered; older ones are still guarded by the child's unique id


class Stage:
    """Values of the STAGE search attribute and of `PersonaStatus.stage`."""

    SETUP = "setup"
    SYNCING = "syncing"
    PLANNING = "planning"
    GENERATING = "generating"
    WAITING = "waiting"
    PARKED = "parked"
    PAUSED = "paused"
    DONE = "done"


class StepFailed(Exception):
    """One step failed for a reason no operator signal fixes (404, 400, a poll that gave up): reported in
    `last_error`, and the loop goes on without that step's result."""

    def __init__(self, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.error_type = error_type


# --- pure helpers (no workflow context needed) ---------------------------------------------------------


def estimated_cost(item: PlannedPost, costs: CostTable) -> int:
    """What starting this post will cost us: nothing when a generated post exists already (the server's
    automation, or an earlier generate of ours that was charged before), else the table's price."""
    if item.existing_generated_post_id is not None:
        return 0
    return costs.for_media_type(item.media_type)


def fit_budget(items: list[PlannedPost], costs: CostTable, remaining_cents: int | None) -> list[PlannedPost]:
    """The planned posts, in plan order, whose estimated costs fit what is left of today's budget.

    Posts left out are not marked handled, so a later cycle (the next UTC day at the latest) plans them again.
    """
    if remaining_cents is None:
        return list(items)
    chosen = []
    for item in items:
        cost = estimated_cost(item, costs)
        if cost <= remaining_cents:
            chosen.append(item)
            remaining_cents -= cost
    return chosen


def plan_limit(config: PersonaConfig, active_posts: int) -> int:
    """How many posts this cycle may start: the per-cycle cap and the free concurrency slots."""
    return max(0, min(config.posts_per_cycle, config.max_concurrent_posts - active_posts))


def child_workflow_id(slug: str, source_post_id: str) -> str:
    """The post's workflow id: unique per source post, so a second pipeline for it cannot start."""
    return f"post-{slug}-{source_post_id}"


def target_label(account: PublishingAccountConfig) -> str:
    if account.platform and account.username:
        return f"{account.platform}/{account.username}"
    return account.connected_account_id or "?"


def apply_outcome(state: PersonaState, progress: PostProgress) -> None:
    """Fold one finished post into the counters (generation is counted earlier, when its id appears)."""
    c = state.counters
    outcome = progress.outcome or "failed"
    if outcome in ("published", "partially_published", "delivery_failed"):
        c.approved += 1
    if outcome in ("published", "partially_published"):
        c.published_posts += 1
    elif outcome == "rejected":
        c.rejected += 1
    elif outcome == "composed":
        c.composed += 1
    else:  # delivery_failed, media_failed, failed
        c.failed_posts += 1
    c.published_deliveries += progress.published_deliveries
    c.failed_deliveries += progress.failed_deliveries


def progress_from_result(child_id: str, result: PostResult) -> PostProgress:
    """A finished progress built from a child's result, for a child whose last signal never arrived."""
    return PostProgress(
        workflow_id=child_id,
        source_post_id=result.source_post_id,
        generated_post_id=result.generated_post_id,
        stage="done",
        finished=True,
        outcome=result.outcome,
        cost_cents=result.cost_cents,
        generated_by_us=result.cost_cents > 0,
        published_deliveries=result.published_deliveries,
        failed_deliveries=result.failed_deliveries,
    )


# --- the workflow -------------------------------------------------------------------------------------


@workflow.defn(name="PersonaLoopWorkflow")
class PersonaLoopWorkflow:
    @workflow.init
    def __init__(self, inp: PersonaLoopInput) -> None:
        self._inp = inp
        self._config = inp.config
        self._timing = inp.timing
        self._state = inp.state.model_copy(deep=True) if inp.state else PersonaState()
        self._stage = Stage.SETUP
        self._stage_before_park = Stage.SETUP
        self._next_sync_at: datetime | None = None
        self._targets_missing: list[str] = []
        self._last_sync: str | None = None
        self._budget_note: str | None = None
        self._park_reason: str | None = None
        self._cycles_this_run = 0
        self._watchers: set[asyncio.Task[None]] = set()
        self._parking = Parking(inp.account_ref, inp.timing, on_change=self._on_parking)

    @workflow.run
    async def run(self, inp: PersonaLoopInput) -> PersonaStatus:
        workflow.upsert_search_attributes([PERSONA.value_set(self._slug), STAGE.value_set(self._stage)])
        await self._setup()
        while not self._cycles_exhausted():
            await self._wait_while_paused()
            await self._cycle()
            if self._cycles_exhausted():
                break
            await self._wait_for_next_sync()
            if self._should_continue_as_new():
                await self._continue_as_new()
        return await self._finish()

    # --- setup -----------------------------------------------------------------------------------------

    async def _setup(self) -> None:
        """Persona, sources and targets: every call finds what exists before it creates anything."""
        await self._ensure_persona()
        for source in self._config.sources:
            await self._ensure_source(source.platform, source.username, source.automation_mode)
        self._targets_missing = []
        for account in self._config.publishing_accounts:
            await self._ensure_target(account)
        self._refresh_details()

    async def _ensure_persona(self) -> None:
        """Without a persona nothing else can run: a non-parking failure waits for the operator like a park."""
        while True:
            try:
                view = await self._call(
                    "ensure_persona",
                    EnsurePersonaInput(
                        account_ref=self._inp.account_ref,
                        name=self._config.name,
                        writing_style=self._config.writing_style,
                        known_persona_id=self._state.persona_id,
                    ),
                    PersonaView,
                    policies.api_call(f"ensure persona '{self._config.name}'"),
                )
            except StepFailed as exc:
                self._record_error(str(exc))
                if exc.error_type == ErrorType.NOT_FOUND and self._state.persona_id is not None:
                    self._forget_persona()
                    continue
                await self._wait_for_operator(f"persona setup failed ({exc}): fix it, then send credentials_updated")
                continue
            if view.created:
                workflow.logger.info("Created persona %s (%s)", view.name, view.id)
            self._state.persona_id = view.id
            return

    def _forget_persona(self) -> None:
        """The remembered persona is gone on the server: find it by name, or create it, from scratch."""
        workflow.logger.warning("Persona %s no longer exists; setting up again", self._state.persona_id)
        self._state.persona_id = None
        self._state.source_modes = {}

    async def _ensure_source(self, platform: str, username: str, mode: str) -> None:
        try:
            view = await self._call(
                "ensure_source",
                EnsureSourceInput(
                    account_ref=self._inp.account_ref,
                    persona_id=self._persona_id,
                    platform=platform,
                    username=username,
                    automation_mode=mode,
                ),
                SourceView,
                policies.api_call(f"ensure source {platform}/{username} ({mode})"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return
        self._state.source_modes[view.id] = view.automation_mode

    async def _ensure_target(self, account: PublishingAccountConfig) -> None:
        """Link a connected account; one nobody connected yet is reported, and the loop runs without it."""
        label = target_label(account)
        try:
            view = await self._call(
                "ensure_publishing_target",
                EnsureTargetInput(
                    account_ref=self._inp.account_ref,
                    persona_id=self._persona_id,
                    connected_account_id=account.connected_account_id,
                    platform=account.platform,
                    username=account.username,
                ),
                TargetView,
                policies.api_call(f"ensure publishing target {label}"),
            )
        except StepFailed as exc:
            self._targets_missing.append(f"{label}: {exc}")
            return
        if not view.linked:
            reason = view.reason or "no connected account matches"
            self._targets_missing.append(f"{label}: {reason}")
            workflow.logger.warning("Publishing target %s missing: %s", label, reason)

    async def _wait_for_operator(self, reason: str) -> None:
        """Park on a failure no retry fixes: `credentials_updated` (or the slow re-check period) retries."""
        self._enter_park(reason)
        try:
            await workflow.wait_condition(
                lambda: self._parking.credentials_updated,
                timeout=self._timing.scaled(self._timing.credentials_recheck_minutes * 60),
                timeout_summary="re-check setup",
            )
        except TimeoutError:
            pass
        self._parking.credentials_updated = False
        self._leave_park()

    # --- one cycle -------------------------------------------------------------------------------------

    async def _cycle(self) -> None:
        self._next_sync_at = None
        self._roll_day()
        await self._sync()
        items = await self._plan()
        await self._start_posts(items)
        self._state.cycles_done += 1
        self._state.counters.cycles += 1
        self._cycles_this_run += 1
        self._refresh_details()

    async def _sync(self) -> None:
        """Start a sync and poll every job to its end; failed or skipped jobs are reported, not fatal."""
        self._set_stage(Stage.SYNCING)
        try:
            started = await self._call(
                "start_sync",
                PersonaInput(account_ref=self._inp.account_ref, persona_id=self._persona_id),
                SyncStartedView,
                policies.api_call("sync every source"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return
        outcomes: list[str] = []
        for job_id in started.job_ids:
            outcomes.append(await self._poll_job(job_id))
        self._last_sync = ", ".join(outcomes) or "no sync jobs"

    async def _poll_job(self, job_id: str) -> str:
        try:
            job = await self._call(
                "poll_sync_job",
                JobInput(account_ref=self._inp.account_ref, job_id=job_id),
                SyncJobView,
                policies.poll(self._timing, "sync", f"wait for sync job {job_id}"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return f"{job_id}: unknown"
        if job.status == "failed":
            self._record_error(f"sync job {job.id} failed: {job.error or 'no reason given'}")
        elif job.status == "skipped":
            workflow.logger.info("Sync job %s skipped (the server's cooldown)", job.id)
        new = f", {job.new_posts} new" if job.new_posts else ""
        return f"{job.id}: {job.status}{new}"

    async def _plan(self) -> list[PlannedPost]:
        """Ask for the unhandled source posts that fit, then keep those today's budget still covers."""
        self._set_stage(Stage.PLANNING)
        limit = plan_limit(self._config, len(self._state.active_posts))
        if limit == 0:
            workflow.logger.info("No free slot this cycle (%d posts active)", len(self._state.active_posts))
            return []
        try:
            plan = await self._call(
                "plan_cycle",
                PlanCycleInput(
                    account_ref=self._inp.account_ref,
                    persona_id=self._persona_id,
                    source_modes=dict(self._state.source_modes),
                    limit=limit,
                    handled_source_post_ids=list(self._state.handled_source_post_ids),
                ),
                CyclePlan,
                policies.api_call(f"plan up to {limit} posts"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return []
        items = fit_budget(plan.items, self._config.costs, self._budget_left())
        left_out = len(plan.items) - len(items)
        self._budget_note = f"{left_out} posts wait for tomorrow's budget" if left_out else None
        if left_out:
            workflow.logger.info("Daily budget reached: %d planned posts wait for the next UTC day", left_out)
        return items

    async def _start_posts(self, items: list[PlannedPost]) -> None:
        if items:
            self._set_stage(Stage.GENERATING)
        for item in items:
            await self._start_post(item)

    async def _start_post(self, item: PlannedPost) -> None:
        """One child per source post. Its entry (and budget reservation) exists before the start, so a
        progress signal that overtakes the start result is never overwritten."""
        child_id = child_workflow_id(self._slug, item.source_post_id)
        placeholder = PostProgress(workflow_id=child_id, source_post_id=item.source_post_id, stage="starting")
        self._state.active_posts[child_id] = placeholder
        self._state.reserved_cents[child_id] = estimated_cost(item, self._config.costs)
        try:
            handle = await workflow.start_child_workflow(
                POST_WORKFLOW,
                self._child_input(item),
                id=child_id,
                result_type=PostResult,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{item.media_type} post from {item.source_post_id} ({item.automation_mode})",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("Post %s is handled already (%s exists)", item.source_post_id, child_id)
            if self._state.active_posts.get(child_id) is placeholder:
                del self._state.active_posts[child_id]
            self._state.reserved_cents.pop(child_id, None)
        else:
            watcher = asyncio.create_task(self._watch_child(child_id, handle))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        self._mark_handled(item.source_post_id)

    def _child_input(self, item: PlannedPost) -> ContentPostInput:
        return ContentPostInput(
            account_ref=self._inp.account_ref,
            persona_id=self._persona_id,
            persona_workflow_id=workflow.info().workflow_id,
            persona_slug=self._slug,
            post=PlannedPostRef.model_validate(item.model_dump()),
            approval=self._config.approval,
            costs=self._config.costs,
            timing=self._timing,
        )

    async def _watch_child(self, child_id: str, handle: ChildWorkflowHandle[Any, PostResult]) -> None:
        """Within this run, a child that fails (a bug) or ends without its last signal still leaves the
        active list, so `max_cycles` can complete."""
        try:
            result = await handle
        except ChildWorkflowError as err:
            self._record_error(f"post workflow {child_id} failed: {err.cause or err}")
            if child_id in self._state.active_posts:
                current = self._state.active_posts[child_id]
                self._record_progress(current.model_copy(update={"finished": True, "outcome": "failed"}))
            return
        if child_id in self._state.active_posts:
            self._record_progress(progress_from_result(child_id, result))

    def _mark_handled(self, source_post_id: str) -> None:
        handled = self._state.handled_source_post_ids
        if source_post_id not in handled:
            handled.append(source_post_id)
        del handled[:-HANDLED_KEEP]

    # --- between cycles ----------------------------------------------------------------------------------

    async def _wait_for_next_sync(self) -> None:
        """A durable timer to the next sync; pausing cancels it, resuming re-arms it for what is left."""
        due = workflow.now() + self._timing.scaled(self._config.sync_interval_minutes * 60)
        self._next_sync_at = due
        while True:
            if self._state.paused:
                await self._wait_while_paused()
                continue
            self._set_stage(Stage.WAITING)
            remaining = due - workflow.now()
            if remaining <= timedelta(0):
                return
            try:
                await workflow.wait_condition(
                    lambda: self._state.paused, timeout=remaining, timeout_summary="next sync"
                )
            except TimeoutError:
                return

    async def _wait_while_paused(self) -> None:
        if not self._state.paused:
            return
        self._set_stage(Stage.PAUSED)
        await workflow.wait_condition(lambda: not self._state.paused)

    def _cycles_exhausted(self) -> bool:
        limit = self._config.max_cycles
        return limit is not None and self._state.cycles_done >= limit

    def _should_continue_as_new(self) -> bool:
        after = self._inp.continue_as_new_after_cycles
        if after is not None and self._cycles_this_run >= after:
            return True
        return workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        """Start a fresh history carrying everything the loop remembers; children run on untouched."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("Continuing as new after %d cycles in this run", self._cycles_this_run)
        workflow.continue_as_new(
            PersonaLoopInput(
                account_ref=self._inp.account_ref,
                config=self._config,
                timing=self._timing,
                state=self._state,
                continue_as_new_after_cycles=self._inp.continue_as_new_after_cycles,
            )
        )

    async def _finish(self) -> PersonaStatus:
        """max_cycles reached: let every post in flight end, then return the final status.

        Children started by this run are also awaited until their workflows have closed (their last
        report arrives a moment before), so the persona's result means no post of it is still running.
        (The time-skipping test server also stops skipping time when an abandoned child closes after
        its parent.)
        """
        self._next_sync_at = None
        if self._state.active_posts:
            self._set_stage(Stage.WAITING)
            await workflow.wait_condition(lambda: not self._state.active_posts)
        await workflow.wait_condition(lambda: not self._watchers)
        self._set_stage(Stage.DONE)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    # --- budget ----------------------------------------------------------------------------------------

    def _roll_day(self) -> None:
        """Spending counts per UTC day (the workflow's clock): a new day starts from zero."""
        today = workflow.now().date().isoformat()
        if self._state.spent_day != today:
            self._state.spent_day = today
            self._state.spent_today_cents = 0

    def _committed_today(self) -> int:
        """Spent today plus what posts in flight are expected to cost and have not reported yet.

        Read-only (queries use it too): spending of an earlier day counts as zero even before the next
        cycle rolls the day over."""
        today = workflow.now().date().isoformat()
        spent = self._state.spent_today_cents if self._state.spent_day == today else 0
        return spent + sum(self._state.reserved_cents.values())

    def _budget_left(self) -> int | None:
        budget = self._config.daily_credit_budget_cents
        if budget is None:
            return None
        return max(0, budget - self._committed_today())

    # --- progress from children ----------------------------------------------------------------------

    def _record_progress(self, progress: PostProgress) -> None:
        """Keep the latest progress of an active post; fold a finished one into counters and spending."""
        child_id = progress.workflow_id
        previous = self._state.active_posts.get(child_id)
        if previous is None and progress.finished:
            workflow.logger.info("Ignoring a repeated end report from %s", child_id)
            return
        self._count_generation(previous, progress)
        self._roll_day()
        cost_delta = progress.cost_cents - (previous.cost_cents if previous else 0)
        if cost_delta > 0:
            self._state.spent_today_cents += cost_delta
        if progress.cost_cents > 0 or progress.finished:
            self._state.reserved_cents.pop(child_id, None)
        if progress.finished:
            del self._state.active_posts[child_id]
            apply_outcome(self._state, progress)
        else:
            self._state.active_posts[child_id] = progress
        self._refresh_details()

    def _count_generation(self, previous: PostProgress | None, progress: PostProgress) -> None:
        """Count a post as generated (by our call) or adopted (the server's) once, when its id first shows."""
        if progress.generated_post_id is None or (previous is not None and previous.generated_post_id):
            return
        if progress.generated_by_us:
            self._state.counters.generated += 1
        else:
            self._state.counters.adopted += 1

    # --- signals and query ----------------------------------------------------------------------------

    @workflow.signal
    def post_progress(self, progress: PostProgress) -> None:
        self._record_progress(progress)

    @workflow.signal
    async def approve(self, ref: PostRef) -> None:
        await self._route("approve", ref)

    @workflow.signal
    async def reject(self, signal: RejectSignal) -> None:
        await self._route("reject", signal)

    @workflow.signal
    def pause(self) -> None:
        """No new cycle starts while paused; posts in flight go on."""
        self._state.paused = True
        self._refresh_details()

    @workflow.signal
    def resume(self) -> None:
        self._state.paused = False
        self._refresh_details()

    @workflow.signal
    async def topped_up(self) -> None:
        self._parking.notify_topped_up()
        await self._forward("topped_up")

    @workflow.signal
    async def credentials_updated(self) -> None:
        self._parking.notify_credentials_updated()
        await self._forward("credentials_updated")

    @workflow.query
    def status(self) -> PersonaStatus:
        return self._status()

    async def _route(self, signal: str, ref: PostRef) -> None:
        """Send a decision to the post it names; an unknown id is recorded, never fatal."""
        child_id = self._find_child(ref.post_id)
        if child_id is None:
            self._record_error(f"{signal}: no active post matches {ref.post_id!r}")
            return
        try:
            await workflow.get_external_workflow_handle(child_id).signal(signal, ref)
        except FailureError as err:
            self._record_error(f"{signal} {ref.post_id}: could not reach {child_id}: {err}")

    def _find_child(self, post_id: str) -> str | None:
        for child_id, progress in self._state.active_posts.items():
            if post_id in (child_id, progress.generated_post_id, progress.source_post_id):
                return child_id
        return None

    async def _forward(self, signal: str) -> None:
        """Operator signals concern the whole account: every post in flight hears them too."""
        children = list(self._state.active_posts)
        results = await asyncio.gather(
            *(self._signal_child(child_id, signal) for child_id in children), return_exceptions=True
        )
        for child_id, result in zip(children, results, strict=True):
            if isinstance(result, BaseException):
                workflow.logger.warning("Could not forward %s to %s: %s", signal, child_id, result)

    @staticmethod
    def _signal_child(child_id: str, signal: str) -> Awaitable[None]:
        return workflow.get_external_workflow_handle(child_id).signal(signal)

    # --- visibility ----------------------------------------------------------------------------------

    def _status(self) -> PersonaStatus:
        return PersonaStatus(
            workflow_id=workflow.info().workflow_id,
            persona=self._config.name,
            persona_id=self._state.persona_id,
            stage=self._stage,
            paused=self._state.paused,
            parked_reason=self._park_reason,
            pending_approvals=self._pending_approvals(),
            active_posts=len(self._state.active_posts),
            counters=self._state.counters.model_copy(),
            credits_spent_today_cents=self._committed_today(),
            daily_credit_budget_cents=self._config.daily_credit_budget_cents,
            last_error=self._state.last_error,
            next_sync_at=self._next_sync_at,
            targets_missing=list(self._targets_missing),
        )

    def _pending_approvals(self) -> list[PendingApproval]:
        return [p.pending_approval for p in self._state.active_posts.values() if p.pending_approval is not None]

    def _set_stage(self, stage: str) -> None:
        """Stage changes go to the status, the STAGE search attribute (on change only) and the details."""
        if stage != self._stage:
            self._stage = stage
            workflow.upsert_search_attributes([STAGE.value_set(stage)])
        self._refresh_details()

    def _on_parking(self, state: ParkState | None) -> None:
        if state is not None:
            self._enter_park(state.reason)
        else:
            self._leave_park()

    def _enter_park(self, reason: str) -> None:
        """Only the main loop parks (handlers call no activities), so no other stage change interleaves."""
        self._park_reason = reason
        self._stage_before_park = self._stage
        self._set_stage(Stage.PARKED)
        workflow.logger.warning("Persona parked: %s", reason)

    def _leave_park(self) -> None:
        self._park_reason = None
        self._set_stage(self._stage_before_park)

    def _refresh_details(self) -> None:
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        """Markdown for the Web UI: where the loop is and what, if anything, waits on a human."""
        lines = [f"**Persona** {self._config.name} (`{self._state.persona_id or 'not created yet'}`)"]
        lines.append(f"**Stage** {self._stage}" + (" (paused: send resume)" if self._state.paused else ""))
        if self._park_reason:
            lines.append(f"**Parked** {self._park_reason}")
        pending = self._pending_approvals()
        lines.append(f"**Pending approvals** {len(pending)}, **active posts** {len(self._state.active_posts)}")
        lines.append(f"**Next sync** {self._next_sync_at:%Y-%m-%d %H:%M} UTC" if self._next_sync_at else "")
        budget = self._config.daily_credit_budget_cents
        spent = f"**Spent today** {self._committed_today()} cents" + (f" of {budget}" if budget is not None else "")
        lines.append(spent + (f" ({self._budget_note})" if self._budget_note else ""))
        if self._last_sync:
            lines.append(f"**Last sync** {self._last_sync}")
        for missing in self._targets_missing:
            lines.append(f"**Publishing target missing** {missing}: a human must connect it in the dashboard")
        if self._state.last_error:
            lines.append(f"**Last error** {self._state.last_error}")
        return "  \n".join(line for line in lines if line)

    # --- helpers -------------------------------------------------------------------------------------

    @property
    def _slug(self) -> str:
        return self._config.persona_slug

    @property
    def _persona_id(self) -> str:
        assert self._state.persona_id is not None, "setup runs before anything needs the persona id"
        return self._state.persona_id

    def _record_error(self, message: str) -> None:
        self._state.last_error = message
        workflow.logger.warning("%s", message)
        self._refresh_details()

    async def _call(self, name: str, arg: BaseModel, result_type: type[M], options: dict[str, Any]) -> M:
        """One activity by its registered name; parking failures wait and retry, others raise StepFailed."""
        summary = options.get("summary") or name
        try:
            return await self._parking.call(
                lambda: workflow.execute_activity(name, arg, result_type=result_type, **options),
                what=summary,
                needed_cents=self._config.costs.image_cents or 1,
            )
        except ActivityError as err:
            raise StepFailed(f"{summary}: {error_message(err)}", error_type(err)) from err


__all__ = ["PersonaLoopWorkflow", "Stage", "StepFailed", "estimated_cost", "fit_budget", "plan_limit"]
