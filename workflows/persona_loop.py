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
    from workflows import alerting, attention, config_changes, content_post, persona_rules, policies, polling
    from workflows.messages import BadMessage, optional_payload, warn_ignored
    from workflows.models import (
        ConfigChangeReply,
        PersonaLoopInput,
        PersonaState,
        PersonaStatus,
        PostProgress,
        PostResult,
        StopReply,
    )
    from workflows.persona_reconcile import reconcile_posts
    from workflows.persona_setup import PersonaSetup
    from workflows.persona_views import PersonaViews
    from workflows.policies import PollKind
    from workflows.search_attributes import PERSONA, STAGE
    from workflows.stages import PersonaStage
    from workflows.steps import RestRequested, StepFailed, Steps


@workflow.defn
class PersonaLoopWorkflow(PersonaViews):
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
        self._held: list[str] = []  # some of those, named in the status
        self._adoption_notes: list[str] = []  # what the last plan said about adoption by generated id
        self._setup_notes: list[str] = []
        self._cycles_this_run = 0
        self._watchers: set[asyncio.Task[None]] = set()
        self._alerts = alerting.AlertSender(self._state)
        self._steps = Steps(
            account_ref=inp.account_ref,
            timing=inp.timing,
            stage=PersonaStage.SETUP,
            parked_stage=PersonaStage.PARKED,
            details=self._details_and_alerts,
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
                if self._state.stopping:
                    break
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
                    adopt_book=self._state.adopt_book,
                    known_generated_ids=self._known_generated_ids(),
                ),
                policies.api_call(f"plan up to {limit} posts"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return []
        if plan.book is not None:
            self._state.plan_book = plan.book
        if plan.adopt_book is not None:
            self._state.adopt_book = plan.adopt_book
        self._unattributed = plan.unattributed
        self._held, self._adoption_notes = list(plan.held), list(plan.notes)
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
        """One child per source post (or per server's post adopted by generated id). Its entry (and budget
        reservation) exists before the start, so a progress signal that overtakes the start result is never
        overwritten."""
        child_id = persona_rules.planned_workflow_id(self._slug, item)
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
                static_summary=self._summary(item),
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
        if item.adopted_by_id:
            if self._state.adopt_book is not None and item.existing_generated_post_id:
                self._state.adopt_book = handed_on(self._state.adopt_book, [item.existing_generated_post_id])
        elif self._state.plan_book is not None:
            self._state.plan_book = handed_on(self._state.plan_book, [item.source_post_id])

    @staticmethod
    def _summary(item: PlannedPost) -> str:
        if item.adopted_by_id:
            return f"the server's post {item.existing_generated_post_id} ({item.automation_mode})"
        return f"{item.media_type} post from {item.source_post_id} ({item.automation_mode})"

    def _known_generated_ids(self) -> list[str]:
        """Generated ids the persona's posts know: in flight, and its own generates lately."""
        active = {p.generated_post_id for p in self._state.active_posts.values() if p.generated_post_id}
        return sorted(active | set(self._state.own_generated_ids))

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
        while not self._state.stopping:
            if self._state.paused:
                await self._wait_while_paused()
                continue
            await self._steps.set_stage(PersonaStage.WAITING)
            remaining = due - workflow.now()
            if remaining <= timedelta(0):
                return
            try:
                await workflow.wait_condition(
                    lambda: self._state.paused or self._state.stopping, timeout=remaining, timeout_summary="next sync"
                )
            except TimeoutError:
                return

    async def _wait_while_paused(self) -> None:
        if not self._state.paused or self._state.stopping:
            return
        await self._steps.set_stage(PersonaStage.PAUSED)
        await workflow.wait_condition(lambda: not self._state.paused or self._state.stopping)

    def _cycles_exhausted(self) -> bool:
        if self._state.stopping:
            return True
        limit = self._config.max_cycles
        return limit is not None and self._state.cycles_done >= limit

    def _should_continue_as_new(self) -> bool:
        after = self._inp.continue_as_new_after_cycles
        if after is not None and self._cycles_this_run >= after:
            return True
        if self._state.pending_config is not None:  # `persona update`: the new run sets up with it
            return True
        return self._history_is_long()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        limit = self._inp.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    async def _continue_as_new(self) -> None:
        """Start a fresh history carrying everything the loop remembers; children run on untouched."""
        await self._alerts.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("Continuing as new after %d cycles in this run", self._cycles_this_run)
        workflow.continue_as_new(
            PersonaLoopInput(
                account_ref=self._inp.account_ref,
                config=config_changes.take_pending(self._config, self._state),
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
        await self._alerts.flush()
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

    # --- messages ----------------------------------------------------------------------------------------
    # Every handler reads its payload through `workflows.messages`, so no input, `null`, a wrong type or
    # extra inputs sent from the Web UI or the `temporal` CLI are refused or ignored, never a failed task.

    @workflow.signal
    async def post_progress(self, *payload: object) -> None:
        """A post's report (sent by its workflow on every stage change); alerts a human when one is due."""
        try:
            progress = optional_payload(PostProgress, payload, handler="post_progress")
        except BadMessage as exc:
            warn_ignored("post_progress", exc)
            return
        if progress is None or not progress.workflow_id.startswith(f"post-{self._slug}-"):
            warn_ignored("post_progress", "it names no post of this persona")
            return
        self._record_progress(progress)
        attention.note_failure(self._state, progress, workflow.now())
        if self._config.alerts:
            await self._alerts.send(self._config, alerting.post_events(self._config.name, progress, workflow.now()))

    @workflow.signal
    def pause(self, *payload: object) -> None:
        """No new cycle starts while paused; posts in flight go on."""
        self._state.paused = True
        self._steps.refresh_details()

    @workflow.signal
    def resume(self, *payload: object) -> None:
        self._state.paused = False
        self._steps.refresh_details()

    @workflow.signal
    async def topped_up(self, *payload: object) -> None:
        self._steps.notify_topped_up()
        await self._forward(content_post.ContentPostWorkflow.topped_up)

    @workflow.signal
    async def credentials_updated(self, *payload: object) -> None:
        self._steps.notify_credentials_updated()
        await self._forward(content_post.ContentPostWorkflow.credentials_updated)

    @workflow.update
    async def stop(self, *payload: object) -> StopReply:
        """No new cycle; the loop ends once its posts in flight have. `now`: cancel those posts too."""
        request = self._stop_request(payload)
        already = self._state.stopping
        self._state.stopping = True
        self._steps.refresh_details()
        cancelled = await self._cancel_posts() if request.now else []
        return StopReply(
            workflow_id=workflow.info().workflow_id,
            already_stopping=already,
            posts_in_flight=len(self._state.active_posts),
            cancelled=cancelled,
            parked_reason=self._steps.parked_reason,
        )

    @stop.validator
    def _validate_stop(self, *payload: object) -> None:
        self._stop_request(payload)

    @workflow.update
    def reconfigure(self, *payload: object) -> ConfigChangeReply:
        """`persona update`: a new persona file, checked now, applied at the next cycle."""
        new = self._config_change(payload)
        changes = config_changes.describe_changes(self._state.pending_config or self._config, new)
        self._state.pending_config = new
        return ConfigChangeReply(workflow_id=workflow.info().workflow_id, changes=changes)

    @reconfigure.validator
    def _validate_reconfigure(self, *payload: object) -> None:
        self._config_change(payload)

    @workflow.signal
    async def retry(self, *payload: object) -> None:
        """Retry what the persona and its posts parked on after answers stayed unusable."""
        self._steps.notify_retry()
        await self._forward(content_post.ContentPostWorkflow.retry)

    @workflow.query
    def status(self, *payload: object) -> PersonaStatus:
        extras = attention.status_extras(
            self._inp.account_ref, self._config, self._state, self._steps.park, self._today()
        )
        return self._status().model_copy(update=extras)

    # --- visibility ----------------------------------------------------------------------------------

    # --- helpers -------------------------------------------------------------------------------------

    @property
    def _slug(self) -> str:
        return self._config.persona_slug

    @property
    def _persona_id(self) -> str:
        assert self._state.persona_id is not None, "setup runs before anything needs the persona id"
        return self._state.persona_id


__all__ = ["PersonaLoopWorkflow"]
