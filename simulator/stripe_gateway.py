"""The simulator's only door to Stripe: the real ``stripe`` SDK against ``--stripe-api-base``.

Billing must go through a real Stripe API (by default a local ``localstripe``) so the bot's own
SetupIntent confirmation, done with the publishable key, is the same object the simulator later
retrieves and charges off-session. Everything Stripe-specific (object shapes, errors) stays here;
billing logic sees small typed results and :class:`GatewayError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe


class GatewayError(Exception):
    """Stripe could not be reached or refused the call; ``decline_code`` set for card declines."""

    def __init__(self, message: str, *, declined: bool = False, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.declined = declined
        self.decline_code = decline_code


@dataclass(frozen=True)
class SetupIntentInfo:
    id: str
    status: str
    payment_method: str | None
    client_secret: str


@dataclass(frozen=True)
class PaymentResult:
    id: str
    status: str


class StripeGateway:
    """Async Stripe calls the simulator needs: customers, SetupIntents, off-session PaymentIntents."""

    def __init__(self, api_base: str, secret_key: str, *, timeout: float = 10.0) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=1,
        )

    async def aclose(self) -> None:
        await self._http.close_async()

    async def create_customer(self, email: str, user_id: str) -> str:
        try:
            customer = await self._client.v1.customers.create_async(
                params={"email": email, "metadata": {"user_id": user_id}}
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        return str(customer.id)

    async def create_setup_intent(self, customer_id: str, user_id: str) -> SetupIntentInfo:
        try:
            intent = await self._client.v1.setup_intents.create_async(
                params={"customer": customer_id, "usage": "off_session", "metadata": {"user_id": user_id}}
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        return _setup_intent_info(intent)

    async def retrieve_setup_intent(self, intent_id: str) -> SetupIntentInfo:
        try:
            intent = await self._client.v1.setup_intents.retrieve_async(intent_id)
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        return _setup_intent_info(intent)

    async def charge_off_session(
        self, customer_id: str, payment_method: str, amount_cents: int, user_id: str
    ) -> PaymentResult:
        """Create and confirm a PaymentIntent off-session (the auto-reload charge)."""
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount_cents,
                    "currency": "usd",
                    "customer": customer_id,
                    "payment_method": payment_method,
                    "confirm": True,
                    "off_session": True,
                    "metadata": {"user_id": user_id, "purpose": "auto_reload"},
                }
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        if intent.status != "succeeded":
            raise GatewayError(f"payment intent ended {intent.status}", declined=True)
        return PaymentResult(id=str(intent.id), status=str(intent.status))


def _setup_intent_info(intent: stripe.SetupIntent) -> SetupIntentInfo:
    payment_method = intent.payment_method
    if payment_method is not None and not isinstance(payment_method, str):
        payment_method = payment_method.id
    return SetupIntentInfo(
        id=str(intent.id),
        status=str(intent.status),
        payment_method=payment_method,
        client_secret=str(intent.client_secret),
    )


def _gateway_error(exc: stripe.StripeError) -> GatewayError:
    if isinstance(exc, stripe.CardError):
        return GatewayError("card declined", declined=True, decline_code=exc.code)
    return GatewayError(f"stripe call failed: {type(exc).__name__} (HTTP {exc.http_status})")
