"""PersonaLoopWorkflow: one persona's endless content loop, durable across crashes, deploys and months.

Why one long-lived workflow per persona: the loop's memory (which source posts were already handed on,
what is in flight, what was spent today) must survive anything, and the operator needs one place to
look at and to talk to (`persona-<slug>`: pause, resume, topped_up, credentials_updated). Decisions on
posts go to the post's own workflow.

One run does: setup (persona, sources, publishing targets; every call idempotent, so a re-run creates
nothing new), then cycles: sync every source, plan what fits (posts per cycle, free concurrency slots,
the daily credit budget), start one ContentPostWorkflow child per planned post (ABANDON, so the persona's
continue-as-new does not touch them), and sleep on a durable timer until the next sync. Children report
through `post_progress`; the persona keeps their latest progress and folds finished posts into counters.
402/401/403 park the persona (see `workflows.steps`) instead of failing it; anything else that goes
wrong with one step is recorded in `last_error` and the loop goes on. Only bugs fail this workflow.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        JobInput,
        PersonaInput,
        PlanCycleInput,
        PlannedPost,
    )
    from activities.planning import handed_on
    from activities.reelmirror import ReelMirrorActivities
    from workflows import content_post, persona_rules, policies, polling
    from workflows.models import (
        ContentPostInput,
        PendingApproval,
        PersonaLoopInput,
        PersonaState,
        PersonaStatus,
        PostProgress,
        PostResult,
    )
    from workflows.persona_details import persona_details
    from workflows.persona_reconcile import reconcile_posts
    from workflows.persona_setup import PersonaSetup
    from workflows.policies import PollKind
    from workflows.search_attributes import PERSONA, STAGE
    from workflows.stages import PersonaStage
    from workflows.steps import RestRequested, StepFailed, Steps

@workflow.defn
class PersonaLoopWorkflow:
    @workflow.init
    def __init__(self, inp: PersonaLoopInput) -> None:
        self._inp = inp
        self._config = inp.config
        self._timing = inp.timing
        self._state = inp.state.model_copy(deep=True) if inp.state else PersonaState()
        self._next_sync_at: datetime | None = None
        self._targets_missing: list[str] = []
        self._last_sync: str | None = None
        self._budget_note: str | None = None
        self._unattributed = 0  # source posts deferred because no answer names their source
        self._setup_notes: list[str] = []
        self._cycles_this_run = 0
        self._watchers: set[asyncio.Task[None]] = set()
        self._steps = Steps(
            account_ref=inp.account_ref,
            timing=inp.timing,
            stage=PersonaStage.SETUP,
            parked_stage=PersonaStage.PARKED,
            details=self._details,
            upsert_unchanged=False,
            recheck_cents=self._config.costs.image_cents or 1,
            should_rest=self._history_is_long,
        )

    @workflow.run
    async def run(self, inp: PersonaLoopInput) -> PersonaStatus:
        workflow.upsert_search_attributes([PERSONA.value_set(self._slug), STAGE.value_set(self._steps.stage)])
        try:
            await self._setup()
            while not self._cycles_exhausted():
                await self._wait_while_paused()
                await self._cycle()
                if self._cycles_exhausted():
                    break
                await self._wait_for_next_sync()
                if self._should_continue_as_new():
                    await self._continue_as_new()
        except RestRequested:
            # parked so long its history grew: the next run retries the step it waited on
            await self._continue_as_new()
        return await self._finish()

    # --- setup -----------------------------------------------------------------------------------------

    async def _setup(self) -> None:
        """Persona, sources and targets (see `PersonaSetup`), then the details show what is missing."""
        setup = PersonaSetup(self._inp.account_ref, self._config, self._state, self._steps, self._record_error)
        await setup.run()
        self._targets_missing = setup.targets_missing
        self._setup_notes = setup.notes
        self._steps.refresh_details()

    # --- one cycle -------------------------------------------------------------------------------------

    async def _cycle(self) -> None:
        self._next_sync_at = None
        persona_rules.roll_day(self._state, self._today())
        await reconcile_posts(self._steps, self._state, self._record_progress, self._record_error)
        await self._sync()
        items = await self._plan()
        await self._start_posts(items)
        self._state.cycles_done += 1
        self._state.counters.cycles += 1
        self._cycles_this_run += 1
        self._steps.refresh_details()

    async def _sync(self) -> None:
        """Start a sync and poll every job to its end; failed or skipped jobs are reported, not fatal."""
        await self._steps.set_stage(PersonaStage.SYNCING)
        try:
            started = await self._steps.attempt(
                ReelMirrorActivities.start_sync,
                PersonaInput(account_ref=self._inp.account_ref, persona_id=self._persona_id),
                policies.api_call("sync every source"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return
        started_at = workflow.now()
        outcomes: list[str] = []
        for job_id in started.job_ids:
            outcomes.append(await self._poll_job(job_id, started_at, started.statuses.get(job_id)))
        self._last_sync = ", ".join(outcomes) or "no sync jobs"

    async def _poll_job(self, job_id: str, started_at: datetime, status: str | None) -> str:
        """Poll one job on a plan learned from earlier syncs (a job start_sync saw skipped is final)."""
        plan = (
            None
            if status == "skipped"
            else polling.plan_poll(PollKind.SYNC, self._state.durations, self._timing, started_at)
        )
        await polling.wait_for_first_check(plan)
        try:
            job = await self._steps.attempt(
                ReelMirrorActivities.poll_sync_job,
                JobInput(account_ref=self._inp.account_ref, job_id=job_id, plan=plan),
                policies.poll(self._timing, PollKind.SYNC, f"wait for sync job {job_id}"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return f"{job_id}: unknown"
        if job.status != "skipped":
            self._state.durations = polling.learn(self._state.durations, [polling.observation(plan)])
        if job.status == "failed":
            self._record_error(f"sync job {job.id} failed: {job.error or 'no reason given'}")
        elif job.status == "skipped":
            workflow.logger.info("Sync job %s skipped (the server's cooldown)", job.id)
        new = f", {job.new_posts} new" if job.new_posts else ""
        return f"{job.id}: {job.status}{new}"

    async def _plan(self) -> list[PlannedPost]:
        """Ask for the unhandled source posts that fit, then keep those today's budget still covers."""
        await self._steps.set_stage(PersonaStage.PLANNING)
        limit = persona_rules.plan_limit(self._config, len(self._state.active_posts))
        if limit == 0:
            workflow.logger.info("No free slot this cycle (%d posts active)", len(self._state.active_posts))
            return []
        try:
            plan = await self._steps.attempt(
                ReelMirrorActivities.plan_cycle,
                PlanCycleInput(
                    account_ref=self._inp.account_ref,
                    persona_id=self._persona_id,
                    source_modes=dict(self._state.source_modes),
                    limit=limit,
                    book=self._state.plan_book,
                    backlog=self._config.backlog_posts,
                ),
                policies.api_call(f"plan up to {limit} posts"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return []
        if plan.book is not None:
            self._state.plan_book = plan.book
        self._unattributed = plan.unattributed
        left = persona_rules.budget_left(self._config, self._state, self._today())
        items = persona_rules.fit_budget(plan.items, self._config.costs, left)
        left_out = len(plan.items) - len(items)
        self._budget_note = f"{left_out} posts wait for tomorrow's budget" if left_out else None
        if left_out:
            workflow.logger.info("Daily budget reached: %d planned posts wait for the next UTC day", left_out)
        return items

    async def _start_posts(self, items: list[PlannedPost]) -> None:
        if items:
            await self._steps.set_stage(PersonaStage.GENERATING)
        for item in items:
            await self._start_post(item)

    async def _start_post(self, item: PlannedPost) -> None:
        """One child per source post. Its entry (and budget reservation) exists before the start, so a
        progress signal that overtakes the start result is never overwritten."""
        child_id = persona_rules.child_workflow_id(self._slug, item.source_post_id)
        placeholder = PostProgress(workflow_id=child_id, source_post_id=item.source_post_id, stage="starting")
        self._state.active_posts[child_id] = placeholder
        self._state.reserved_cents[child_id] = persona_rules.estimated_cost(item, self._config.costs)
        try:
            handle = await workflow.start_child_workflow(
                content_post.ContentPostWorkflow.run,
                self._child_input(item),
                id=child_id,
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
        if self._state.plan_book is not None:
            self._state.plan_book = handed_on(self._state.plan_book, [item.source_post_id])

    def _child_input(self, item: PlannedPost) -> ContentPostInput:
        return ContentPostInput(
            account_ref=self._inp.account_ref,
            persona_id=self._persona_id,
            persona_workflow_id=workflow.info().workflow_id,
            persona_slug=self._slug,
            post=item,
            approval=self._config.approval,
            costs=self._config.costs,
            timing=self._timing,
            durations=self._state.durations,
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
            self._record_progress(persona_rules.progress_from_result(child_id, result))

    # --- between cycles ----------------------------------------------------------------------------------

    async def _wait_for_next_sync(self) -> None:
        """A durable timer to the next sync; pausing cancels it, resuming re-arms it for what is left."""
        due = workflow.now() + self._timing.scaled(self._config.sync_interval_minutes * 60)
        self._next_sync_at = due
        while True:
            if self._state.paused:
                await self._wait_while_paused()
                continue
            await self._steps.set_stage(PersonaStage.WAITING)
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
        await self._steps.set_stage(PersonaStage.PAUSED)
        await workflow.wait_condition(lambda: not self._state.paused)

    def _cycles_exhausted(self) -> bool:
        limit = self._config.max_cycles
        return limit is not None and self._state.cycles_done >= limit

    def _should_continue_as_new(self) -> bool:
        after = self._inp.continue_as_new_after_cycles
        if after is not None and self._cycles_this_run >= after:
            return True
        return self._history_is_long()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        limit = self._inp.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

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
                continue_as_new_after_events=self._inp.continue_as_new_after_events,
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
            await self._steps.set_stage(PersonaStage.WAITING)
            await workflow.wait_condition(lambda: not self._state.active_posts)
        await workflow.wait_condition(lambda: not self._watchers)
        await self._steps.set_stage(PersonaStage.DONE)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    # --- progress from children ----------------------------------------------------------------------

    def _record_progress(self, progress: PostProgress) -> None:
        """Keep the latest progress of an active post; fold a finished one into counters and spending."""
        previous = self._state.active_posts.get(progress.workflow_id)
        self._state.durations = polling.learn_from_progress(self._state.durations, previous, progress)
        if not persona_rules.record_progress(self._state, progress, self._today()):
            workflow.logger.info("Ignoring a repeated end report from %s", progress.workflow_id)
        self._steps.refresh_details()

    # --- signals and query ----------------------------------------------------------------------------

    @workflow.signal
    def post_progress(self, progress: PostProgress) -> None:
        self._record_progress(progress)

    @workflow.signal
    def pause(self) -> None:
        """No new cycle starts while paused; posts in flight go on."""
        self._state.paused = True
        self._steps.refresh_details()

    @workflow.signal
    def resume(self) -> None:
        self._state.paused = False
        self._steps.refresh_details()

    @workflow.signal
    async def topped_up(self) -> None:
        self._steps.notify_topped_up()
        await self._forward(content_post.ContentPostWorkflow.topped_up)

    @workflow.signal
    async def credentials_updated(self) -> None:
        self._steps.notify_credentials_updated()
        await self._forward(content_post.ContentPostWorkflow.credentials_updated)

    @workflow.signal
    async def retry(self) -> None:
        """Retry what the persona and its posts parked on after answers stayed unusable."""
        self._steps.notify_retry()
        await self._forward(content_post.ContentPostWorkflow.retry)

    @workflow.query
    def status(self) -> PersonaStatus:
        return self._status()

    async def _forward(self, signal: Any) -> None:
        """Operator signals concern the whole account: every post in flight hears them too."""
        children = list(self._state.active_posts)
        results = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle_for(content_post.ContentPostWorkflow.run, child_id).signal(signal)
                for child_id in children
            ),
            return_exceptions=True,
        )
        for child_id, result in zip(children, results, strict=True):
            if isinstance(result, BaseException):
                workflow.logger.warning("Could not forward %s to %s: %s", signal.__name__, child_id, result)

    # --- visibility ----------------------------------------------------------------------------------

    def _status(self) -> PersonaStatus:
        return PersonaStatus(
            workflow_id=workflow.info().workflow_id,
            persona=self._config.name,
            persona_id=self._state.persona_id,
            stage=self._steps.stage,
            paused=self._state.paused,
            parked_reason=self._steps.parked_reason,
            pending_approvals=self._pending_approvals(),
            active_posts=len(self._state.active_posts),
            counters=self._state.counters.model_copy(),
            credits_spent_today_cents=persona_rules.committed_today(self._state, self._today()),
            daily_credit_budget_cents=self._config.daily_credit_budget_cents,
            last_error=self._state.last_error,
            next_sync_at=self._next_sync_at,
            targets_missing=list(self._targets_missing),
            notes=[*self._setup_notes, *persona_rules.planning_notes(self._state.plan_book, self._unattributed)],
        )

    def _pending_approvals(self) -> list[PendingApproval]:
        return [p.pending_approval for p in self._state.active_posts.values() if p.pending_approval is not None]

    def _details(self) -> str:
        return persona_details(
            self._config,
            self._state,
            stage=self._steps.stage,
            parked_reason=self._steps.parked_reason,
            pending=len(self._pending_approvals()),
            next_sync_at=self._next_sync_at,
            spent_today_cents=persona_rules.committed_today(self._state, self._today()),
            budget_note=self._budget_note,
            last_sync=self._last_sync,
            targets_missing=self._targets_missing,
            notes=[*self._setup_notes, *persona_rules.planning_notes(self._state.plan_book, self._unattributed)],
        )

    # --- helpers -------------------------------------------------------------------------------------

    @property
    def _slug(self) -> str:
        return self._config.persona_slug

    @property
    def _persona_id(self) -> str:
        assert self._state.persona_id is not None, "setup runs before anything needs the persona id"
        return self._state.persona_id

    @staticmethod
    def _today() -> str:
        return workflow.now().date().isoformat()

    def _record_error(self, message: str) -> None:
        self._state.last_error = message
        workflow.logger.warning("%s", message)
        self._steps.refresh_details()


__all__ = ["PersonaLoopWorkflow"]
