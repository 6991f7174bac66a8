"""The alert activity against a real HTTP receiver (aiohttp on a free loopback port).

What each answer of a receiver means for Temporal's retries: 2xx delivered; 5xx, 429 (with its
Retry-After) and no answer at all retried; any other 4xx final. A receiver that fails at first gets the
alert once it recovers, with the `text` a Slack webhook shows and the link to the item's Web UI page.
The persona's alerts end to end (through the worker, with a receiver failing at first) are in
`test_operating.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import WEBHOOK_FAILED, WEBHOOK_REFUSED, AlertActivities
from activities.operator_models import AlertMessage, SendAlertInput
from activities.secrets import FileSecretStore
from activities.settings import ActivitySettings
from devstack.ports import free_port

pytestmark = pytest.mark.integration

WEB_UI = "https://temporal.example.com"
ALERT = AlertMessage(
    event="decision_needed",
    persona="Nova",
    item_workflow_id="post-nova-sp 1",
    post_id="gp_1",
    text="Nova: post gp_1 waits for your decision",
    occurred_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
)


@dataclass
class Receiver:
    """Answers `script` in turn (then 200), recording the bodies it accepted."""

    url: str
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    hook = Receiver(url=f"http://127.0.0.1:{port}/services/T0/B0/secret-path")

    async def take(request: web.Request) -> web.Response:
        hook.requests += 1
        if hook.script:
            status, headers = hook.script.pop(0)
            return web.Response(status=status, headers=headers, text="no")
        hook.received.append(await request.json())
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_post("/services/T0/B0/secret-path", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield hook
    await runner.cleanup()


@pytest.fixture
async def alerts(tmp_path: Path) -> AsyncIterator[AlertActivities]:
    activities = AlertActivities(ActivitySettings(web_ui_url=WEB_UI), FileSecretStore(tmp_path))
    yield activities
    await activities.aclose()


async def send(alerts: AlertActivities, url: str) -> Any:
    return await ActivityEnvironment().run(alerts.send_alert, SendAlertInput(url=url, alert=ALERT))


async def test_a_receiver_that_fails_at_first_gets_the_alert_when_it_recovers(
    alerts: AlertActivities, receiver: Receiver
) -> None:
    receiver.script = [(503, {}), (502, {})]
    for _ in range(2):  # what Temporal's retries of the activity do
        with pytest.raises(ApplicationError) as failed:
            await send(alerts, receiver.url)
        assert failed.value.type == WEBHOOK_FAILED and not failed.value.non_retryable
        assert "secret-path" not in failed.value.message, "the webhook's path may be its secret"
    delivered = await send(alerts, receiver.url)

    assert delivered.status_code == 200 and receiver.requests == 3
    [body] = receiver.received
    link = f"{WEB_UI}/namespaces/default/workflows/post-nova-sp%201"
    assert body["text"] == f"Nova: post gp_1 waits for your decision <{link}|Open in the Temporal Web UI>"
    assert body["web_ui_url"] == link
    assert (body["event"], body["persona"], body["post_id"]) == ("decision_needed", "Nova", "gp_1")
    assert body["occurred_at"] == "2026-03-01T12:00:00+00:00"


async def test_a_receiver_that_refuses_the_alert_is_not_asked_again(
    alerts: AlertActivities, receiver: Receiver
) -> None:
    receiver.script = [(404, {})]
    with pytest.raises(ApplicationError) as refused:
        await send(alerts, receiver.url)
    assert refused.value.type == WEBHOOK_REFUSED and refused.value.non_retryable


async def test_a_receiver_that_asks_to_wait_is_retried_after_its_retry_after(
    alerts: AlertActivities, receiver: Receiver
) -> None:
    receiver.script = [(429, {"Retry-After": "7"})]
    with pytest.raises(ApplicationError) as limited:
        await send(alerts, receiver.url)
    assert limited.value.type == WEBHOOK_FAILED and limited.value.next_retry_delay == timedelta(seconds=7)


async def test_a_receiver_that_is_not_there_is_retried(alerts: AlertActivities) -> None:
    with pytest.raises(ApplicationError) as unreachable:
        await send(alerts, f"http://127.0.0.1:{free_port()}/hook")
    assert unreachable.value.type == WEBHOOK_FAILED and "unreachable" in unreachable.value.message
