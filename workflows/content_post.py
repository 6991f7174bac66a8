"""ContentPostWorkflow: one source post's way from generation to publication, as a child of its persona.

Why a workflow per post: each post waits on its own clocks (minutes of rendering, days for a human's
approval, a top-up) and its id `post-<persona slug>-<source post id>` makes a second pipeline for the
same source post impossible. The steps, by the source's automation mode:

* sync_only: generate (exactly once: the activity lists existing posts first, and this workflow never
  calls generate again once it holds an id), wait for the media, ask for approval (or approve by policy),
  approve (no publishing target: the activity sends it to compose) or reject, follow the deliveries;
* auto_clone: the server generates; adopt its post, then as sync_only from the media on;
* auto_publish: the server generates and publishes; adopt, wait for its outgoing post, follow deliveries
  (a post adopted by its generated id, whose answers may name no outgoing post: see
  `_follow_adopted_publication`).

A post of the server found by its generated id (the listing names no source posts) starts from the media
with that id, under `post-<persona slug>-adopted:<generated post id>`.

Every outcome (published, rejected, media failed, a 404 on the way ...) is a result reported to the
persona, not a workflow failure: only bugs fail a workflow. 402 and key problems park the post (see
`workflows.steps`) and resume by themselves.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        FindGeneratedInput,
        GeneratedPostInput,
        GeneratedPostView,
        GenerateInput,
        GenerateOutcome,
        OutgoingPostInput,
        RejectInput,
    )
    from activities.reelmirror import ReelMirrorActivities
    from observability import metrics
    from workflows import persona_loop, persona_rules, policies, polling
    from workflows.durations import DurationObservation
    from workflows.models import (
        ContentPostInput,
        DecisionReply,
        PendingApproval,
        PostDetails,
        PostProgress,
        PostResult,
    )
    from workflows.policies import PollKind
    from workflows.post_records import Decision, PostRecords
    from workflows.search_attributes import PERSONA, POST_ID
    from workflows.stages import PostStage
    from workflows.steps import Steps


# A cancelled post (`persona stop --now`) ends with this outcome and reports it, so its persona is not left
# waiting for it; nothing is undone on the service (a generated post stays in the dashboard).
CANCELLED_REASON = "cancelled by the operator"


class PostEnded(Exception):
    """Ends the pipeline early with an outcome and its reason (a report, never a workflow failure)."""

    def __init__(self, outcome: str, reason: str | None) -> None:
        super().__init__(f"{outcome}: {reason}")
        self.outcome = outcome
        self.reason = reason


#: Reports to the persona only when what it keeps changed (runs recorded before report every stage change).
LEAN_REPORTS_PATCH = "lean-post-reports"


@workflow.defn
class ContentPostWorkflow(PostRecords):
    @workflow.init
    def __init__(self, inp: ContentPostInput) -> None:
        self._inp = inp
        self._generated_post_id: str | None = inp.post.existing_generated_post_id
        self._generated_by_us = False
        self._cost_cents = 0
        self._pending: PendingApproval | None = None
        self._decision: Decision | None = None
        self._decided = False  # an approve or reject was sent: later decisions change nothing
        self._outgoing_post_id: str | None = None
        self._published = 0
        self._failed_deliveries = 0
        self._delivery_report: list[str] = []
        self._outcome: str | None = None
        self._reason: str | None = None
        self._media: GeneratedPostView | None = None  # the rendered post, for `details`
        self._media_started_at: datetime | None = None  # set when our own generate made the post
        self._observations: list[DurationObservation] = []
        self._lean_reports = False
        self._last_report: tuple[object, ...] | None = None
        self._steps = Steps(
            account_ref=inp.account_ref,
            timing=inp.timing,
            stage=PostStage.STARTING,
            parked_stage=PostStage.PARKED,
            details=self._details,
            after_stage=self._report,
        )

    # --- the pipeline ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ContentPostInput) -> PostResult:
        # runs recorded before reports were lean replay with a report on every stage change
        self._lean_reports = workflow.patched(LEAN_REPORTS_PATCH)
        workflow.upsert_search_attributes([PERSONA.value_set(inp.persona_slug)])
        await self._steps.set_stage(PostStage.STARTING)
        try:
            await self._pipeline()
        except PostEnded as end:
            self._outcome, self._reason = end.outcome, end.reason
        except asyncio.CancelledError:
            self._outcome, self._reason = "cancelled", CANCELLED_REASON
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                self._outcome, self._reason = "cancelled", CANCELLED_REASON
            else:
                self._outcome, self._reason = "failed", self._describe(err)
        self._pending = None
        metrics.post_finished(self._outcome or "failed")
        await self._steps.set_stage(PostStage.DONE)
        return self._result()

    async def _pipeline(self) -> None:
        generated_post_id = await self._obtain_generated_post()
        if self._inp.post.automation_mode == "auto_publish":
            if self._inp.post.adopted_by_id:
                await self._follow_adopted_publication(generated_post_id)
            else:
                await self._follow_server_publication(generated_post_id)
            return
        view = await self._await_media(generated_post_id)
        if await self._already_settled(view):
            return
        decision = await self._decide(view)
        self._decided = True
        if decision.approve:
            await self._approve(generated_post_id)
        else:
            await self._reject(generated_post_id, decision.reason)

    async def _obtain_generated_post(self) -> str:
        """The post's generated id: adopted from the plan, generated once by us, or made by the server."""
        if self._generated_post_id is not None:
            self._announce_post_id()
            return self._generated_post_id
        post = self._inp.post
        ids = {"account_ref": self._inp.account_ref, "persona_id": self._inp.persona_id}
        if post.automation_mode == "sync_only":
            await self._steps.set_stage(PostStage.GENERATING)
            outcome = await self._steps.run(
                ReelMirrorActivities.generate_post,
                GenerateInput(**ids, source_post_id=post.source_post_id, time_scale=self._inp.timing.time_scale),
                policies.api_call(f"generate a {post.media_type} post from source post {post.source_post_id}"),
                what="generate the post",
                needed_cents=self._expected_cost(),
            )
        else:
            await self._steps.set_stage(PostStage.AWAITING_SERVER_POST)
            outcome = await self._steps.run(
                ReelMirrorActivities.find_generated_post,
                FindGeneratedInput(**ids, source_post_id=post.source_post_id),
                policies.poll(
                    self._inp.timing, PollKind.SERVER_POST, f"wait for the server's post of {post.source_post_id}"
                ),
                what="find the server's generated post",
            )
        self._adopt(outcome)
        if post.automation_mode == "sync_only" and not outcome.adopted:
            self._media_started_at = workflow.now()
        return outcome.generated_post_id

    def _adopt(self, outcome: GenerateOutcome) -> None:
        """Remember the id at once, so no later step (or retry) can ask for a second generation."""
        self._generated_post_id = outcome.generated_post_id
        # origin "api" means a generate call of ours made it (an adopted one: an attempt whose answer was lost)
        self._generated_by_us = outcome.origin == "api" if outcome.origin else not outcome.adopted
        self._cost_cents = self._expected_cost() if self._generated_by_us else 0
        if self._generated_by_us:
            metrics.post_generated(self._inp.post.media_type, self._cost_cents)
        self._announce_post_id()

    def _announce_post_id(self) -> None:
        if self._generated_post_id is not None:
            workflow.upsert_search_attributes([POST_ID.value_set(self._generated_post_id)])

    async def _await_media(self, generated_post_id: str) -> GeneratedPostView:
        await self._steps.set_stage(PostStage.RENDERING)
        kind = PollKind.VIDEO if self._inp.post.media_type == "video" else PollKind.IMAGE
        plan = self._plan(kind, self._media_started_at)
        await polling.wait_for_first_check(plan)
        view = await self._steps.run(
            ReelMirrorActivities.poll_generated_post,
            GeneratedPostInput(account_ref=self._inp.account_ref, generated_post_id=generated_post_id, plan=plan),
            policies.poll(self._inp.timing, kind, f"wait for the {kind} media of {generated_post_id}"),
            what="wait for the media",
        )
        self._media = view
        self._observe(plan)
        if view.failed:
            raise PostEnded("media_failed", f"a media item of {generated_post_id} failed to render")
        return view

    async def _already_settled(self, view: GeneratedPostView) -> bool:
        """An adopted post may be approved, rejected or composed already (a human in the dashboard):
        follow what it became instead of deciding again. True when its deliveries were followed."""
        if view.status in ("publishing", "published") and view.outgoing_post_id:
            self._decided = True
            await self._track_deliveries(view.outgoing_post_id)
            return True
        if view.status == "rejected":
            raise PostEnded("rejected", "the post was already rejected")
        if view.status == "composing":
            raise PostEnded("composed", "the post was already sent to compose")
        return False

    async def _follow_server_publication(self, generated_post_id: str) -> None:
        """auto_publish: the server approves by itself; we only watch its outgoing post."""
        await self._steps.set_stage(PostStage.AWAITING_SERVER_PUBLISH)
        view = await self._steps.run(
            ReelMirrorActivities.await_outgoing_post,
            self._post_input(generated_post_id),
            policies.poll(
                self._inp.timing, PollKind.SERVER_POST, f"wait for the server to publish {generated_post_id}"
            ),
            what="wait for the server's publication",
        )
        self._decided = True
        if view.outgoing_post_id:
            await self._track_deliveries(view.outgoing_post_id)
            return
        if view.failed:
            raise PostEnded("media_failed", f"a media item of {generated_post_id} failed to render")
        if view.status == "composing":
            raise PostEnded("composed", "the server sent the post to compose")
        raise PostEnded("rejected", f"the post was {view.status} before the server published it")

    async def _follow_adopted_publication(self, generated_post_id: str) -> None:
        """auto_publish, adopted by generated id: the server approves by itself, so this post is never
        approved here. Its media are the one thing promised; the outgoing post is followed when an answer
        names it, and a post whose answers carry no status either ends as published by the server."""
        self._decided = True  # the server's to decide: an operator's approval is refused
        view = await self._await_media(generated_post_id)
        if view.outgoing_post_id:
            await self._track_deliveries(view.outgoing_post_id)
            return
        if view.status is not None:  # the answers show the post's status: wait for the server's approval
            await self._follow_server_publication(generated_post_id)
            return
        raise PostEnded(
            persona_rules.SERVER_PUBLISHED,
            "published by the server, deliveries unknown (the answers name no outgoing post)",
        )

    # --- approval ------------------------------------------------------------------------------------

    async def _decide(self, view: GeneratedPostView) -> Decision:
        """Approve by policy, or wait (durably, for days if need be) for a human, then the default action."""
        approval = self._inp.approval
        if approval.mode == "auto":
            return Decision(approve=True, by="policy")
        if self._decision is None:
            await self._wait_for_decision(view)
        assert self._decision is not None
        return self._decision

    async def _wait_for_decision(self, view: GeneratedPostView) -> None:
        approval = self._inp.approval
        timeout = self._inp.timing.scaled(approval.timeout_minutes * 60) if approval.timeout_minutes else None
        now = workflow.now()
        self._pending = PendingApproval(
            generated_post_id=view.id,
            source_post_id=self._inp.post.source_post_id,
            workflow_id=workflow.info().workflow_id,
            caption=view.caption or self._inp.post.caption,
            media_urls=[m.url for m in view.media if m.url],
            waiting_since=now,
            decide_by=now + timeout if timeout else None,
        )
        await self._steps.set_stage(PostStage.AWAITING_APPROVAL)
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timeout,
                timeout_summary=f"approval deadline: then {approval.default_action}" if timeout else None,
            )
        except TimeoutError:
            if self._decision is None:  # a decision that arrived together with the deadline stands
                self._decision = Decision(
                    approve=approval.default_action == "approve",
                    reason=f"no decision within {approval.timeout_minutes:g} minutes: default action",
                    by="timeout",
                )
                workflow.logger.info(
                    "No decision for %s: taking the default action %s", view.id, approval.default_action
                )
        self._pending = None

    async def _approve(self, generated_post_id: str) -> None:
        await self._steps.set_stage(PostStage.APPROVING)
        outcome = await self._steps.run(
            ReelMirrorActivities.approve_post,
            self._post_input(generated_post_id),
            policies.api_call(f"approve {generated_post_id}"),
            what="approve the post",
        )
        metrics.post_approved(self._decision.by if self._decision else "policy")
        if outcome.sent_to_compose:
            raise PostEnded("composed", outcome.reason or "sent to compose: the persona has no publishing target")
        if not outcome.outgoing_post_id:
            raise PostEnded("failed", f"approving {generated_post_id} returned no outgoing post")
        started_at = None if outcome.already_approved else workflow.now()
        await self._track_deliveries(outcome.outgoing_post_id, started_at)

    async def _reject(self, generated_post_id: str, reason: str | None) -> None:
        await self._steps.set_stage(PostStage.REJECTING)
        await self._steps.run(
            ReelMirrorActivities.reject_post,
            RejectInput(account_ref=self._inp.account_ref, generated_post_id=generated_post_id, reason=reason),
            policies.api_call(f"reject {generated_post_id}"),
            what="reject the post",
        )
        metrics.post_rejected(self._decision.by if self._decision else "policy")
        raise PostEnded("rejected", reason or "rejected")

    # --- publication ---------------------------------------------------------------------------------

    async def _track_deliveries(self, outgoing_post_id: str, started_at: datetime | None = None) -> None:
        """Poll until every target is published or failed; the outcome counts them. `started_at`: when our
        approve started the deliveries (unknown for a post approved elsewhere: then no plan)."""
        self._outgoing_post_id = outgoing_post_id
        await self._steps.set_stage(PostStage.PUBLISHING)
        plan = self._plan(PollKind.DELIVERY, started_at)
        await polling.wait_for_first_check(plan)
        view = await self._steps.run(
            ReelMirrorActivities.poll_deliveries,
            OutgoingPostInput(account_ref=self._inp.account_ref, outgoing_post_id=outgoing_post_id, plan=plan),
            policies.poll(self._inp.timing, PollKind.DELIVERY, f"wait for the deliveries of {outgoing_post_id}"),
            what="follow the deliveries",
        )
        self._observe(plan)
        self._published, self._failed_deliveries = view.published, view.failed
        # which target a delivery went to is assumed, not promised: without it, deliveries are numbered
        self._delivery_report = [
            f"{d.platform or d.connected_account_id or d.id or f'delivery {n}'}: {d.status}"
            + (f" ({d.error})" if d.error else "")
            for n, d in enumerate(view.deliveries, start=1)
        ]
        failures = [
            line for line, d in zip(self._delivery_report, view.deliveries, strict=True) if d.status == "failed"
        ]
        if view.failed == 0 and view.published > 0:
            self._outcome, self._reason = "published", None
        elif view.published > 0:
            self._outcome, self._reason = "partially_published", "; ".join(failures)
        else:
            self._outcome = "delivery_failed"
            self._reason = "; ".join(failures) or "the outgoing post has no deliveries"

    # --- messages ------------------------------------------------------------------------------------
    # Every handler reads its payload through `workflows.messages`, so no input, `null`, a wrong type or
    # extra inputs sent from the Web UI or the `temporal` CLI are refused or ignored, never a failed task.

    @workflow.update(name="approve")
    def approve_update(self, *payload: object) -> DecisionReply:
        """Approve this post; the caller learns at once whether the decision was taken (see `decisions`)."""
        return self._take_decision(payload, approve=True)

    @approve_update.validator
    def _validate_approve(self, *payload: object) -> None:
        self._check_decision(payload, "approve")

    @workflow.update(name="reject")
    def reject_update(self, *payload: object) -> DecisionReply:
        """Reject this post (with an optional reason), answered like `approve`."""
        return self._take_decision(payload, approve=False)

    @reject_update.validator
    def _validate_reject(self, *payload: object) -> None:
        self._check_decision(payload, "reject")

    @workflow.signal
    def approve(self, *payload: object) -> None:
        """Fire-and-forget approval (the Web UI's "Send a Signal"): no input needed; ignored when too late."""
        self._signalled_decision(payload, "approve", approve=True)

    @workflow.signal
    def reject(self, *payload: object) -> None:
        self._signalled_decision(payload, "reject", approve=False)

    @workflow.signal
    def topped_up(self, *payload: object) -> None:
        self._steps.notify_topped_up()

    @workflow.signal
    def credentials_updated(self, *payload: object) -> None:
        self._steps.notify_credentials_updated()

    @workflow.signal
    def retry(self, *payload: object) -> None:
        """Retry the step this post parked on after its answers stayed unusable."""
        self._steps.notify_retry()

    @workflow.query
    def status(self, *payload: object) -> PostProgress:
        return self._progress()

    @workflow.query
    def details(self, *payload: object) -> PostDetails:
        """The post in full, for `starter.py show`: content, where it is, how it was decided, deliveries."""
        media = self._media
        pending = self._pending
        return PostDetails(
            workflow_id=workflow.info().workflow_id,
            persona_slug=self._inp.persona_slug,
            persona_workflow_id=self._inp.persona_workflow_id,
            account_ref=self._inp.account_ref,
            post=self._inp.post,
            generated_post_id=self._generated_post_id,
            caption=(media.caption if media else None) or self._inp.post.caption,
            media_urls=[m.url for m in media.media if m.url] if media else [],
            stage=self._steps.stage,
            parked_reason=self._steps.parked_reason,
            parked_since=self._steps.park.since if self._steps.park else None,
            pending_approval=pending,
            decision=self._decision_text(),
            outcome=self._outcome,
            reason=self._reason,
            cost_cents=self._cost_cents,
            outgoing_post_id=self._outgoing_post_id,
            deliveries=list(self._delivery_report),
        )

    # --- reports -----------------------------------------------------------------------------------

    async def _report(self) -> None:
        """Tell the persona what it keeps of this post (its id and cost, a pending approval, a park, the end)
        when that changed; a persona that is gone (or replaced) must not fail the post."""
        persona_workflow_id = self._inp.persona_workflow_id
        if not persona_workflow_id:
            return
        progress = self._progress()
        needed = (
            progress.generated_post_id,
            progress.cost_cents,
            progress.parked_reason,
            progress.pending_approval,
            progress.finished,
        )
        if self._lean_reports and needed == self._last_report:
            return
        self._last_report = needed
        persona = workflow.get_external_workflow_handle_for(persona_loop.PersonaLoopWorkflow.run, persona_workflow_id)
        try:
            await persona.signal(persona_loop.PersonaLoopWorkflow.post_progress, progress)
        except FailureError as err:
            workflow.logger.warning("Could not report progress to %s: %s", persona_workflow_id, err)


__all__ = ["ContentPostWorkflow", "Decision", "PostEnded"]
