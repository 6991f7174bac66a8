"""What a post workflow answers: its decisions' rules, its progress, result and details for the Web UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        GeneratedPostInput,
    )
    from activities.poll_plan import PollPlan
    from workflows import decisions, polling
    from workflows.failures import error_message, error_type, is_timeout
    from workflows.messages import BAD_MESSAGE, BadMessage, optional_payload, refuse, warn_ignored
    from workflows.models import (
        DecisionReply,
        DecisionRequest,
        PostProgress,
        PostResult,
    )
    from workflows.policies import PollKind
    from workflows.post_details import post_details
    from workflows.stages import PostStage


@dataclass(frozen=True)
class Decision:
    approve: bool
    reason: str | None = None
    by: str = "operator"


class PostRecords:
    """Mixed into `ContentPostWorkflow`: its attributes are the workflow's own."""

    def _check_decision(self, payload: tuple[object, ...], handler: str) -> DecisionRequest:
        """The request, or the refusal the caller sees (validator and handler both ask)."""
        try:
            request = optional_payload(DecisionRequest, payload, handler=handler) or DecisionRequest()
        except BadMessage as exc:
            raise refuse(BAD_MESSAGE, str(exc)) from None
        refused = decisions.refusal(self._decision_state(), request.post_id)
        if refused is not None:
            raise refuse(refused.kind, refused.message)
        return request

    def _take_decision(self, payload: tuple[object, ...], *, approve: bool) -> DecisionReply:
        # Checked again: the approval deadline may have fired between the validator and this handler.
        request = self._check_decision(payload, "approve" if approve else "reject")
        reason = None if approve else request.reason
        self._decision = Decision(approve=approve, reason=reason)
        return DecisionReply(
            workflow_id=workflow.info().workflow_id,
            source_post_id=self._inp.post.source_post_id,
            generated_post_id=self._generated_post_id,
            approved=approve,
            reason=reason,
        )

    def _signalled_decision(self, payload: tuple[object, ...], handler: str, *, approve: bool) -> None:
        try:
            request = optional_payload(DecisionRequest, payload, handler=handler) or DecisionRequest()
        except BadMessage as exc:
            warn_ignored(handler, exc)
            return
        self._record_decision(request.post_id, Decision(approve=approve, reason=None if approve else request.reason))

    def _record_decision(self, post_id: str | None, decision: Decision) -> None:
        """First decision wins; one for another post (a caller's mistake) is ignored, loudly."""
        refused = decisions.refusal(self._decision_state(), post_id)
        # Unlike the update, a signal may come early (while the media renders): it is kept for later.
        if refused is not None and refused.kind != decisions.NOT_READY:
            warn_ignored("approve" if decision.approve else "reject", refused.message)
            return
        self._decision = decision

    def _decision_state(self) -> decisions.DecisionState:
        decided_by = self._decision.by if self._decision else None
        if decided_by is None and self._decided:
            decided_by = "policy" if self._inp.approval.mode == "auto" else "server"
        return decisions.DecisionState(
            # an adopted post of unknown source has no source post id: an empty id names nothing
            ids={i for i in (self._inp.post.source_post_id, workflow.info().workflow_id, self._generated_post_id) if i},
            waiting=self._pending is not None,
            decided_by=decided_by,
            approved=self._decision.approve if self._decision else (True if self._decided else None),
            default_action=self._inp.approval.default_action,
            stage=self._steps.stage,
            outcome=self._outcome,
            auto_approval=self._inp.approval.mode == "auto",
        )

    def _decision_text(self) -> str | None:
        if self._decision is None:
            return None
        verb = "approved" if self._decision.approve else "rejected"
        return f"{verb} by {self._decision.by}" + (f": {self._decision.reason}" if self._decision.reason else "")

    def _progress(self) -> PostProgress:
        stage = self._steps.stage
        return PostProgress(
            workflow_id=workflow.info().workflow_id,
            source_post_id=self._inp.post.source_post_id,
            generated_post_id=self._generated_post_id,
            stage=stage,
            parked_reason=self._steps.parked_reason,
            parked_since=self._steps.park.since if self._steps.park else None,
            parked_kind=self._steps.park.kind if self._steps.park else None,
            pending_approval=self._pending,
            finished=stage == PostStage.DONE,
            outcome=self._outcome,
            reason=self._reason,
            cost_cents=self._cost_cents,
            generated_by_us=self._generated_by_us,
            published_deliveries=self._published,
            failed_deliveries=self._failed_deliveries,
            observations=list(self._observations),
        )

    def _result(self) -> PostResult:
        return PostResult(
            source_post_id=self._inp.post.source_post_id,
            generated_post_id=self._generated_post_id,
            outcome=self._outcome or "failed",
            cost_cents=self._cost_cents,
            outgoing_post_id=self._outgoing_post_id,
            published_deliveries=self._published,
            failed_deliveries=self._failed_deliveries,
            failure_reason=self._reason,
        )

    def _details(self) -> str:
        return post_details(
            self._inp.post,
            generated_post_id=self._generated_post_id,
            stage=self._steps.stage,
            park=self._steps.park,
            pending=self._pending,
            outcome=self._outcome,
            reason=self._reason,
            deliveries=self._delivery_report,
        )

    def _expected_cost(self) -> int:
        return self._inp.costs.for_media_type(self._inp.post.media_type)

    def _post_input(self, generated_post_id: str) -> GeneratedPostInput:
        return GeneratedPostInput(account_ref=self._inp.account_ref, generated_post_id=generated_post_id)

    def _describe(self, err: ActivityError) -> str:
        """One line for the report: the step, the vendor's code (or a timeout) and the activity's message."""
        code = error_type(err)
        if is_timeout(err) or code is None:
            return f"{self._steps.stage}: gave up waiting ({error_message(err)})"
        return f"{self._steps.stage}: {code}: {error_message(err)}"

    def _plan(self, kind: PollKind, started_at: datetime | None) -> PollPlan | None:
        """A poll plan from the persona's durations, for a job whose start we know."""
        if started_at is None:
            return None
        return polling.plan_poll(kind, self._inp.durations, self._inp.timing, started_at)

    def _observe(self, plan: PollPlan | None) -> None:
        seen = polling.observation(plan)
        if seen is not None:
            self._observations.append(seen)
