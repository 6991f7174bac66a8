"""Billing activities an operator's command runs through the worker (the CLI holds no API key).

`create_topup` asks for a Stripe Checkout session that a human completes; it is not idempotent on the
service, but an unpaid session costs nothing, so a retried call at worst leaves an unused link.
`describe_account` reads the balance from the API and the key's id, fingerprint and scopes from the store.
"""

from __future__ import annotations

from temporalio import activity

from activities.account import API_KEY_ID, API_KEY_SCOPES
from activities.base import API_KEY, ActivityBase
from activities.errors import translated
from activities.models import AccountRef, BalanceView
from activities.operator_models import AccountView, TopupInput, TopupView
from activities.secrets import fingerprint

__all__ = ["BillingActivities"]


class BillingActivities(ActivityBase):
    @activity.defn
    @translated
    async def create_topup(self, input: TopupInput) -> TopupView:
        client = await self._account_client(input.account_ref)
        session = await client.create_topup(input.amount_cents)
        activity.logger.info("checkout for %d cents created for account %s", input.amount_cents, input.account_ref)
        return TopupView(checkout_url=session.url)

    @activity.defn
    @translated
    async def describe_account(self, input: AccountRef) -> AccountView:
        ref = input.account_ref
        client = await self._account_client(ref)
        balance = BalanceView.model_validate(await client.get_balance())
        key = await self.store.get(ref, API_KEY)
        key_id = await self.store.get(ref, API_KEY_ID)
        scopes = await self.store.get(ref, API_KEY_SCOPES)
        return AccountView(
            balance=balance,
            key_id=key_id.get_secret_value() if key_id else None,
            key_fingerprint=fingerprint(key) if key else None,
            scopes=scopes.get_secret_value().split() if scopes else [],
        )
