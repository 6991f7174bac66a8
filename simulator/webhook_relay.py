"""Stripe's webhook delivery, played by the simulator itself (guide answers).

On the real service the welcome bonus arrives only when Stripe's ``setup_intent.succeeded`` webhook
does, possibly well after the bot confirmed its card. localstripe sends no webhooks, so in guide mode
the simulator watches its users' pending SetupIntents at Stripe; when one reaches a final state it
schedules the event, and ``webhook_delay_seconds`` simulated seconds later hands it to the same
handler ``POST /api/webhooks/stripe`` uses. That handler re-reads the intent from Stripe and grants the
bonus at most once, so a relayed event and a real one cannot both pay it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from simulator.billing import BillingService
from simulator.clock import iso
from simulator.core import SimCore
from simulator.stripe_gateway import GatewayError, StripeGateway

log = logging.getLogger(__name__)

#: The Stripe event a SetupIntent's final status fires (a failed confirm stays pending, like an unconfirmed one).
EVENT_FOR_STATUS = {"succeeded": "setup_intent.succeeded", "canceled": "setup_intent.canceled"}


@dataclass(frozen=True)
class ScheduledWebhook:
    event_type: str
    setup_intent_id: str
    user_id: str
    due: float


class WebhookRelay:
    """Notices final SetupIntents at Stripe and delivers their webhook after the configured delay."""

    def __init__(self, core: SimCore, billing: BillingService, gateway: StripeGateway) -> None:
        self._core = core
        self._billing = billing
        self._gateway = gateway
        self._scheduled: dict[str, ScheduledWebhook] = {}

    def scheduled(self) -> list[ScheduledWebhook]:
        return sorted(self._scheduled.values(), key=lambda hook: hook.due)

    async def observe(self) -> None:
        """Retrieve every pending SetupIntent not scheduled yet; schedule the event of a final one."""
        core = self._core
        for user in list(core.state.users.values()):
            for intent_id in list(user.pending_setup_intents):
                if intent_id in self._scheduled:
                    continue
                try:
                    intent = await self._gateway.retrieve_setup_intent(intent_id)
                except GatewayError as exc:
                    log.warning("watching SetupIntents failed: %s", exc)
                    return
                event_type = EVENT_FOR_STATUS.get(intent.status)
                if event_type is None or intent_id in self._scheduled:
                    continue
                now = core.now()
                hook = ScheduledWebhook(event_type, intent_id, user.id, now + core.runtime.webhook_delay_seconds)
                self._scheduled[intent_id] = hook
                core.ledger.record(
                    "webhook_scheduled",
                    at=now,
                    by="server",
                    user_id=user.id,
                    email=user.email,
                    details={"type": event_type, "setup_intent_id": intent_id, "deliver_at": iso(hook.due)},
                )

    async def deliver_due(self) -> int:
        """Deliver every scheduled webhook whose time has come; returns how many were delivered.

        An event whose intent is still pending afterwards (Stripe could not be reached) is forgotten,
        so :meth:`observe` schedules it again: Stripe, too, retries a delivery that did not take.
        """
        delivered = 0
        for hook in self.scheduled():
            if hook.due > self._core.now():
                break
            if self._scheduled.pop(hook.setup_intent_id, None) is None:
                continue  # delivered meanwhile by a concurrent caller
            event = {
                "id": f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "type": hook.event_type,
                "data": {"object": {"id": hook.setup_intent_id, "object": "setup_intent"}},
            }
            handled = await self._billing.handle_webhook(event, verified=False)
            delivered += 1
            user = self._core.state.users.get(hook.user_id)
            self._core.ledger.record(
                "webhook_delivered",
                at=self._core.now(),
                by="server",
                user_id=hook.user_id,
                email=user.email if user else None,
                details={"type": hook.event_type, "setup_intent_id": hook.setup_intent_id, "handled": handled},
            )
        return delivered

    def clear(self) -> None:
        self._scheduled.clear()
