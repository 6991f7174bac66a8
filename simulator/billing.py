"""Billing: balance, the one-time welcome bonus, generation charges, top-ups and auto-reload.

The bonus is the delicate part. The real service grants it when Stripe reports the SetupIntent
succeeded; localstripe sends no webhooks, so with full answers the simulator also reconciles: it
retrieves the user's pending SetupIntents on billing calls and periodically in the background. With
guide answers it does not; :mod:`simulator.webhook_relay` delivers the webhook instead, late.
Webhooks and reconciliation can race and run any number of times, so every grant happens under a
per-user lock and behind the ``bonus_granted`` flag: exactly once per user. Auto-reload charges the saved payment method
off-session through Stripe; a failed reload blocks further attempts until the user changes the
settings or saves a new payment method, so a declined card is not hammered on every charge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import stripe

from simulator.core import SimCore
from simulator.errors import ApiError, conflict, invalid, not_found
from simulator.ledger import By
from simulator.models import CheckoutSession, User
from simulator.stripe_gateway import GatewayError, SetupIntentInfo, StripeGateway

log = logging.getLogger(__name__)


class BillingService:
    """All money movements of users; the only writer of ``User.balance_cents``."""

    def __init__(self, core: SimCore, gateway: StripeGateway) -> None:
        self._core = core
        self._gateway = gateway
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reloading: set[str] = set()

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    async def aclose(self) -> None:
        """Cancel background reloads and close the Stripe HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._gateway.aclose()

    # -- SetupIntent and bonus -------------------------------------------------------------------
    async def create_setup_intent(self, user: User) -> str:
        """Create (once) the Stripe customer and a new SetupIntent; returns its client secret."""
        core = self._core
        async with self._lock(user.id):
            try:
                if user.stripe_customer_id is None:
                    user.stripe_customer_id = await self._gateway.create_customer(user.email, user.id)
                intent = await self._gateway.create_setup_intent(user.stripe_customer_id, user.id)
            except GatewayError as exc:
                raise ApiError("UPSTREAM_ERROR", "the payment provider did not answer") from exc
            user.pending_setup_intents.append(intent.id)
            core.state.setup_intent_owner[intent.id] = user.id
            core.ledger.record(
                "setup_intent",
                at=core.now(),
                by="client",
                user_id=user.id,
                email=user.email,
                details={"setup_intent_id": intent.id, "customer_id": user.stripe_customer_id},
            )
            return intent.client_secret

    def reconciles(self) -> bool:
        """Whether SetupIntents are also reconciled (full answers); in guide mode only the webhook counts."""
        return self._core.runtime.answers == "full"

    async def reconcile_user(self, user: User) -> None:
        """Retrieve the user's pending SetupIntents and act on those that finished (full answers only)."""
        if not user.pending_setup_intents or not self.reconciles():
            return
        async with self._lock(user.id):
            for intent_id in list(user.pending_setup_intents):
                try:
                    intent = await self._gateway.retrieve_setup_intent(intent_id)
                except GatewayError as exc:
                    log.warning("reconciling SetupIntent failed: %s", exc)
                    return
                self._apply_setup_intent(user, intent, via="reconcile")

    async def reconcile_all(self) -> None:
        """Background pass over every user with pending SetupIntents (full answers only)."""
        if not self.reconciles():
            return
        for user in list(self._core.state.users.values()):
            if user.pending_setup_intents:
                await self.reconcile_user(user)

    async def handle_webhook(self, event: dict[str, Any], *, verified: bool) -> bool:
        """A ``setup_intent.*`` event; the intent is re-read from Stripe before acting on it.

        Returns whether the event concerned a known SetupIntent. A payload is trusted without the
        re-read only when its signature was verified and Stripe cannot be reached.
        """
        if not str(event.get("type", "")).startswith("setup_intent."):
            return False
        obj = (event.get("data") or {}).get("object") or {}
        intent_id = str(obj.get("id", ""))
        user_id = self._core.state.setup_intent_owner.get(intent_id)
        user = self._core.state.users.get(user_id) if user_id else None
        if user is None:
            return False
        async with self._lock(user.id):
            if intent_id not in user.pending_setup_intents:
                return True
            try:
                intent = await self._gateway.retrieve_setup_intent(intent_id)
            except GatewayError:
                if not verified:
                    return True
                payment_method = obj.get("payment_method")
                intent = SetupIntentInfo(
                    id=intent_id,
                    status=str(obj.get("status", "")),
                    payment_method=payment_method if isinstance(payment_method, str) else None,
                    client_secret="",
                )
            self._apply_setup_intent(user, intent, via="webhook")
        return True

    def _apply_setup_intent(self, user: User, intent: SetupIntentInfo, *, via: str) -> None:
        """Caller holds the user's lock. Saves the payment method and grants the bonus once."""
        if intent.status in ("canceled",):
            user.pending_setup_intents.remove(intent.id)
            return
        if intent.status != "succeeded" or not intent.payment_method:
            return
        core = self._core
        now = core.now()
        user.pending_setup_intents.remove(intent.id)
        user.payment_method_id = intent.payment_method
        user.reload_blocked = False
        core.ledger.record(
            "payment_method",
            at=now,
            by="server",
            user_id=user.id,
            email=user.email,
            details={"setup_intent_id": intent.id, "via": via},
        )
        if not user.bonus_granted:
            user.bonus_granted = True
            bonus = core.runtime.bonus_cents
            user.balance_cents += bonus
            core.ledger.record(
                "bonus",
                at=now,
                by="server",
                user_id=user.id,
                email=user.email,
                amount_cents=bonus,
                details={"setup_intent_id": intent.id, "via": via, "balance_after": user.balance_cents},
            )

    # -- charges and credits ---------------------------------------------------------------------
    def charge(self, user: User, amount: int, *, at: float, by: By, refs: dict[str, str | None]) -> None:
        """Debit ``amount`` (caller checked the balance) and record it."""
        user.balance_cents -= amount
        self._core.ledger.record(
            "charge",
            at=at,
            by=by,
            user_id=user.id,
            email=user.email,
            amount_cents=amount,
            details={"reason": "generate", "balance_after": user.balance_cents},
            **refs,
        )

    def needs_reload(self, user: User) -> bool:
        return (
            user.auto_reload
            and not user.reload_blocked
            and user.payment_method_id is not None
            and user.stripe_customer_id is not None
            and user.balance_cents < user.reload_threshold_cents
        )

    async def reload_if_needed(self, user: User) -> None:
        """Charge the saved card off-session and credit the reload amount when under threshold."""
        if not self.needs_reload(user):
            return
        core = self._core
        async with self._lock(user.id):
            if not self.needs_reload(user):
                return
            amount = user.reload_amount_cents
            assert user.stripe_customer_id is not None and user.payment_method_id is not None
            try:
                payment = await self._gateway.charge_off_session(
                    user.stripe_customer_id, user.payment_method_id, amount, user.id
                )
            except GatewayError as exc:
                user.reload_blocked = True
                core.ledger.record(
                    "auto_reload",
                    at=core.now(),
                    by="server",
                    user_id=user.id,
                    email=user.email,
                    amount_cents=0,
                    details={"succeeded": False, "error": str(exc), "decline_code": exc.decline_code},
                )
                return
            user.balance_cents += amount
            core.ledger.record(
                "auto_reload",
                at=core.now(),
                by="server",
                user_id=user.id,
                email=user.email,
                amount_cents=amount,
                details={"succeeded": True, "payment_intent_id": payment.id, "balance_after": user.balance_cents},
            )

    def schedule_reload(self, user: User) -> None:
        """Run :meth:`reload_if_needed` in the background (server-side charges cannot await)."""
        if user.id in self._reloading or not self.needs_reload(user):
            return
        self._reloading.add(user.id)

        async def run() -> None:
            try:
                await self.reload_if_needed(user)
            finally:
                self._reloading.discard(user.id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def update_settings(
        self,
        user: User,
        *,
        auto_reload: bool | None,
        threshold_cents: int | None,
        amount_cents: int | None,
    ) -> None:
        """PATCH /v1/billing/balance: auto-reload needs a saved payment method (400 otherwise)."""
        await self.reconcile_user(user)
        enabled = user.auto_reload if auto_reload is None else auto_reload
        if enabled and user.payment_method_id is None:
            raise invalid("auto-reload needs a saved payment method (confirm a SetupIntent first)")
        user.auto_reload = enabled
        if threshold_cents is not None:
            user.reload_threshold_cents = threshold_cents
        if amount_cents is not None:
            user.reload_amount_cents = amount_cents
        user.reload_blocked = False
        await self.reload_if_needed(user)

    def credit_topup(self, user: User, amount: int, *, via: str, session_id: str | None = None) -> None:
        """A completed top-up (the human Checkout step, or the admin API)."""
        user.balance_cents += amount
        self._core.ledger.record(
            "topup",
            at=self._core.now(),
            by="client",
            user_id=user.id,
            email=user.email,
            amount_cents=amount,
            details={"via": via, "session_id": session_id, "balance_after": user.balance_cents},
        )

    def create_checkout(self, user: User, amount: int) -> CheckoutSession:
        core = self._core
        session = CheckoutSession(
            id="cs_" + core.new_id().replace("-", ""), user_id=user.id, amount_cents=amount, created_at=core.now()
        )
        core.state.checkout_sessions[session.id] = session
        return session

    def complete_checkout(self, session_id: str) -> CheckoutSession:
        core = self._core
        session = core.state.checkout_sessions.get(session_id)
        if session is None:
            raise not_found("checkout session")
        if session.completed_at is not None:
            raise conflict("checkout session already completed")
        session.completed_at = core.now()
        self.credit_topup(
            core.state.users[session.user_id], session.amount_cents, via="checkout", session_id=session.id
        )
        return session


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Check a ``Stripe-Signature`` header the way Stripe's own SDK does; raises ``ValueError``."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=300)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise ValueError("invalid webhook signature or payload") from exc
    if not isinstance(event, dict):
        raise ValueError("webhook payload is not an object")
    return event
