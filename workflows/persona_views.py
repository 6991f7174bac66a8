"""What a persona loop answers, shows and passes on: its status, its details for the Web UI, the reading of
its operators' requests, and the signals and cancellations it sends its posts."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.models import PlannedPost
    from workflows import alerting, config_changes, content_post, persona_rules
    from workflows.config import PersonaConfig
    from workflows.messages import BAD_MESSAGE, BadMessage, optional_payload, refuse
    from workflows.models import (
        ContentPostInput,
        PendingApproval,
        PersonaStatus,
        StopRequest,
    )
    from workflows.persona_details import persona_details
    from workflows.stages import PersonaStage


class PersonaViews:
    """Mixed into `PersonaLoopWorkflow`: its attributes are the workflow's own."""

    def _stop_request(self, payload: tuple[object, ...]) -> StopRequest:
        try:
            request = optional_payload(StopRequest, payload, handler="stop") or StopRequest()
        except BadMessage as exc:
            raise refuse(BAD_MESSAGE, str(exc)) from None
        if self._steps.stage == PersonaStage.DONE:
            raise refuse("FINISHED", "the persona has finished")
        return request

    def _config_change(self, payload: tuple[object, ...]) -> PersonaConfig:
        try:
            new = optional_payload(PersonaConfig, payload, handler="reconfigure")
        except BadMessage as exc:
            raise refuse(BAD_MESSAGE, str(exc)) from None
        if new is None:
            raise refuse(BAD_MESSAGE, "reconfigure needs the persona's whole configuration")
        if self._state.stopping or self._cycles_exhausted():
            raise refuse("FINISHED", "the persona is stopping or has run its last cycle: no cycle would apply it")
        current = self._state.pending_config or self._config
        refused = config_changes.refusal(current, new)
        if refused is not None:
            raise refuse("CONFIG_REFUSED", refused)
        if not config_changes.describe_changes(current, new):
            raise refuse("NO_CHANGE", "the running persona has this configuration already")
        return new

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
            notes=self._notes(),
        )

    def _notes(self) -> list[str]:
        planning = persona_rules.planning_notes(
            self._state.plan_book,
            self._unattributed,
            held=self._held,
            adoption=self._adoption_notes,
            server_published=self._state.counters.server_published,
        )
        return [*self._setup_notes, *planning]

    def _pending_approvals(self) -> list[PendingApproval]:
        return [p.pending_approval for p in self._state.active_posts.values() if p.pending_approval is not None]

    def _details_and_alerts(self) -> str:
        """The Web UI's details, refreshed on every change of the loop; the persona's own alerts go out
        from here (a park, today's budget spent), since every such change passes through it."""
        if self._config.alerts:
            park = self._steps.park
            events = alerting.persona_events(
                self._config.name,
                workflow.info().workflow_id,
                parked_reason=park.reason if park else None,
                parked_since=park.since if park else None,
                budget_note=self._budget_note,
                today=self._today(),
                now=workflow.now(),
            )
            self._alerts.send_soon(self._config, events)
        return self._details()

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
            notes=self._notes(),
        )

    @staticmethod
    def _today() -> str:
        return workflow.now().date().isoformat()

    def _record_error(self, message: str) -> None:
        self._state.last_error = message
        workflow.logger.warning("%s", message)
        self._steps.refresh_details()

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

    async def _cancel_posts(self) -> list[str]:
        """Ask every post in flight to cancel; each ends with outcome `cancelled` and reports it."""
        children = list(self._state.active_posts)
        results = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle_for(content_post.ContentPostWorkflow.run, child_id).cancel()
                for child_id in children
            ),
            return_exceptions=True,
        )
        cancelled = []
        for child_id, result in zip(children, results, strict=True):
            if isinstance(result, BaseException):
                workflow.logger.warning("Could not cancel %s: %s", child_id, result)
            else:
                cancelled.append(child_id)
        return cancelled

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
