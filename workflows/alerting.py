"""Which alerts a persona sends, and sending them without ever waiting for a receiver.

Events come from two places: a post's reports (it waits for a decision, it parked, it ended badly) and
the persona's own state (it parked, today's budget is spent). Each event names an item and, where the same
item can meet the event again, an episode (the park's start, the day); its `AlertWorkflow` id is built from
those, so Temporal itself refuses a second alert for the same thing. `AlertSender` remembers the ids it
started (in the persona's state, across continue-as-new) so it does not even ask twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.operator_models import AlertMessage
    from workflows.alert import AlertWorkflow, alert_workflow_id
    from workflows.config import PersonaConfig
    from workflows.models import AlertInput, PersonaState, PostProgress

__all__ = ["FAILED_OUTCOMES", "AlertEvent", "AlertSender", "persona_events", "post_events"]

FAILED_OUTCOMES = frozenset({"failed", "media_failed", "delivery_failed", "partially_published"})
SENT_KEEP = 500


@dataclass(frozen=True)
class AlertEvent:
    workflow_id: str  # of the AlertWorkflow: item, event and episode
    message: AlertMessage


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "now"


def post_events(persona: str, progress: PostProgress, now: datetime) -> list[AlertEvent]:
    """What one report of a post is worth telling a human (usually nothing)."""
    item = progress.workflow_id
    post = progress.generated_post_id or progress.source_post_id
    events: list[AlertEvent] = []
    pending = progress.pending_approval
    if pending is not None and not progress.finished:
        deadline = f"; without one it is decided by default at {_at(pending.decide_by)}" if pending.decide_by else ""
        text = (
            f"{persona}: post {post} waits for your decision since {_at(pending.waiting_since)}{deadline}. "
            f"`starter.py approve {post}` or `starter.py reject {post} --reason ...`"
        )
        events.append(_event(item, "decision_needed", None, persona, post, text, now))
    if progress.parked_reason and not progress.finished:
        text = f"{persona}: post {post} is parked since {_at(progress.parked_since)}: {progress.parked_reason}"
        events.append(_event(item, "parked", None, persona, post, text, now))
    if progress.finished and progress.outcome in FAILED_OUTCOMES:
        text = f"{persona}: post {post} ended {progress.outcome}" + (f": {progress.reason}" if progress.reason else "")
        events.append(_event(item, "failed", None, persona, post, text, now))
    return events


def persona_events(
    persona: str,
    workflow_id: str,
    *,
    parked_reason: str | None,
    parked_since: datetime | None,
    budget_note: str | None,
    today: str,
    now: datetime,
) -> list[AlertEvent]:
    """The persona's own alerts: a park (one per park), today's budget spent (one per day)."""
    events: list[AlertEvent] = []
    if parked_reason and parked_since is not None:
        text = f"{persona} is parked since {_at(parked_since)}: {parked_reason}"
        events.append(_event(workflow_id, "parked", f"{parked_since:%Y%m%dT%H%M%S}", persona, None, text, now))
    if budget_note:
        text = f"{persona} reached today's credit budget: {budget_note}"
        events.append(_event(workflow_id, "budget_reached", today, persona, None, text, now))
    return events


def _event(
    item: str, event: str, episode: str | None, persona: str, post: str | None, text: str, now: datetime
) -> AlertEvent:
    message = AlertMessage(
        event=event, persona=persona, item_workflow_id=item, post_id=post, text=text, occurred_at=now
    )
    return AlertEvent(alert_workflow_id(item, event, episode), message)


class AlertSender:
    """Starts one `AlertWorkflow` per new event, as an abandoned child: the persona never waits on delivery."""

    def __init__(self, state: PersonaState) -> None:
        self._state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def wanted(self, config: PersonaConfig, events: list[AlertEvent]) -> list[AlertEvent]:
        """The events some webhook subscribes to and that were not sent yet."""
        return [
            e
            for e in events
            if e.workflow_id not in self._state.alerts_sent and any(e.message.event in w.events for w in config.alerts)
        ]

    async def send(self, config: PersonaConfig, events: list[AlertEvent]) -> None:
        """Start the alerts (from a handler: awaited, so the persona's handlers-finished wait covers it)."""
        for event in self.wanted(config, events):
            self._remember(event)
            try:
                await workflow.start_child_workflow(
                    AlertWorkflow.run,
                    AlertInput(alert=event.message, webhooks=config.alerts),
                    id=event.workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{event.message.event} alert for {event.message.item_workflow_id}",
                )
            except WorkflowAlreadyStartedError:
                workflow.logger.info("Alert %s was sent already", event.workflow_id)

    def send_soon(self, config: PersonaConfig, events: list[AlertEvent]) -> None:
        """`send` from code that cannot wait (a details refresh): a background task of the workflow."""
        if not self.wanted(config, events):
            return
        task = asyncio.create_task(self.send(config, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for alerts started in the background, before the run ends (else their start is lost)."""
        await workflow.wait_condition(lambda: not self._tasks)

    def _remember(self, event: AlertEvent) -> None:
        sent = self._state.alerts_sent
        sent.append(event.workflow_id)
        del sent[:-SENT_KEEP]
