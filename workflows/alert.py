"""AlertWorkflow: one alert (an item and an event) delivered to the persona's webhooks.

Why a workflow per alert rather than an activity in the persona: a receiver that is down for hours must
delay the alert, never the persona (its cycles, its continue-as-new, its end), and the alert's id
`alert-<item>-<event>` makes a second alert for the same item and event impossible: the persona starts
it and moves on, and a duplicate start is refused by Temporal. Each webhook is one activity whose retry
policy is the delivery schedule; a receiver that never answers is reported, not retried forever.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.operator_models import SendAlertInput
    from activities.reelmirror import ReelMirrorActivities
    from workflows.failures import error_message
    from workflows.models import AlertInput, AlertReport
    from workflows.policies import ActivityOptions

__all__ = ["DELIVERY", "AlertWorkflow", "alert_workflow_id"]

#: How one webhook is retried: soon at first, then every 10 minutes, for a day; 4xx answers are final.
DELIVERY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=24),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        non_retryable_error_types=["WEBHOOK_REFUSED"],
    ),
    summary="deliver an alert",
)


def alert_workflow_id(item_workflow_id: str, event: str, episode: str | None = None) -> str:
    """One id per item, event (and episode, e.g. the day of a budget alert): the at-most-once guard."""
    return f"alert-{item_workflow_id}-{event}" + (f"-{episode}" if episode else "")


@workflow.defn
class AlertWorkflow:
    @workflow.run
    async def run(self, inp: AlertInput) -> AlertReport:
        workflow.set_current_details(f"**Alert** {inp.alert.event}: {inp.alert.text}")
        urls = [w.url for w in inp.webhooks if inp.alert.event in w.events]
        results = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    ReelMirrorActivities.send_alert, SendAlertInput(url=url, alert=inp.alert), **DELIVERY.config()
                )
                for url in urls
            ),
            return_exceptions=True,
        )
        report = AlertReport()
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, ActivityError):
                report.undelivered[url] = error_message(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                report.delivered.append(url)
        return report
