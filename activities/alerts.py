"""The alert activity: one JSON POST of one alert to one webhook, with a link to the item's Web UI page.

The body carries `text` (what Slack-compatible receivers show) and the alert's fields for any other
receiver. What the receiver's answer means for Temporal's retries: 2xx is delivered; 408, 429 and 5xx or
no answer are retried on the alert workflow's schedule (a 429's Retry-After is honoured); any other 4xx
says the receiver will never take it (`WEBHOOK_REFUSED`, not retried).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ActivityBase
from activities.operator_models import AlertDelivered, AlertMessage, SendAlertInput

__all__ = ["WEBHOOK_FAILED", "WEBHOOK_REFUSED", "AlertActivities", "alert_body", "web_ui_link"]

WEBHOOK_REFUSED = "WEBHOOK_REFUSED"
WEBHOOK_FAILED = "WEBHOOK_FAILED"
_RETRIED_4XX = frozenset({408, 425, 429})


def web_ui_link(base_url: str, namespace: str, workflow_id: str) -> str:
    return f"{base_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"


def alert_body(alert: AlertMessage, link: str) -> dict[str, object]:
    """The POST body: Slack shows `text` (with the link in its `<url|label>` form); others read the fields."""
    return {
        "text": f"{alert.text} <{link}|Open in the Temporal Web UI>",
        "event": alert.event,
        "persona": alert.persona,
        "workflow_id": alert.item_workflow_id,
        "post_id": alert.post_id,
        "occurred_at": alert.occurred_at.isoformat(),
        "web_ui_url": link,
        "summary": alert.text,
    }


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After", "")
    return timedelta(seconds=min(float(value), 3600)) if value.isdigit() else None


class AlertActivities(ActivityBase):
    @activity.defn
    async def send_alert(self, input: SendAlertInput) -> AlertDelivered:
        """POST the alert once; the error type tells the retry policy whether trying again can help."""
        link = web_ui_link(self.settings.web_ui_url, activity.info().workflow_namespace, input.alert.item_workflow_id)
        where = httpx.URL(input.url).host  # the host only: a webhook's path may be its secret
        try:
            response = await self._pool().post(input.url, json=alert_body(input.alert, link), timeout=10)
        except httpx.HTTPError as exc:
            message = f"webhook at {where} unreachable: {type(exc).__name__}"
            raise ApplicationError(message, type=WEBHOOK_FAILED) from None
        if response.is_success:
            return AlertDelivered(status_code=response.status_code)
        message = f"webhook at {where} answered {response.status_code}"
        if response.status_code < 500 and response.status_code not in _RETRIED_4XX:
            raise ApplicationError(message, type=WEBHOOK_REFUSED, non_retryable=True)
        raise ApplicationError(message, type=WEBHOOK_FAILED, next_retry_delay=_retry_after(response))
