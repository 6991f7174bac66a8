"""The account's SetupIntent, remembered before it is confirmed, and read back from Stripe when in doubt.

A confirm whose answer was lost leaves the card maybe attached; asking ReelMirror for a new SetupIntent
would start over and leave the first one dangling. So the intent's id and client secret are stored
before the confirm (with the workflow run that created it), and a retry reads that intent from Stripe
the way Stripe.js does (publishable key plus client secret) and goes on from its status. The same read
answers "is a card saved?" when ReelMirror's balance does not say (`has_payment_method` is only assumed).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from temporalio import activity

from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from reelmirror.models import SetupIntentSecret
from reelmirror.stripe_setup import ConfirmedSetupIntent, retrieve_setup_intent

__all__ = ["SETUP_INTENT_ID", "SETUP_INTENT_RUN", "SETUP_INTENT_SECRET", "StoredIntent", "StoredIntents", "current_run"]

SETUP_INTENT_ID = "setup_intent_id"
SETUP_INTENT_SECRET = "setup_intent_secret"  # the client secret: it can confirm the intent, so it stays here
SETUP_INTENT_RUN = "setup_intent_run"  # the workflow run that asked for it: a later run's card was attached earlier


def current_run() -> str:
    """The running activity's workflow run id ("" outside an activity)."""
    return (activity.info().workflow_run_id or "") if activity.in_activity() else ""


@dataclass(frozen=True)
class StoredIntent:
    id: str
    client_secret: SecretStr
    run: str

    @property
    def ours(self) -> bool:
        """Created by this workflow run (so the welcome bonus it brings is still to be seen)."""
        return bool(self.run) and self.run == current_run()


class StoredIntents:
    """The stored SetupIntent of each account, and its status at Stripe."""

    def __init__(self, settings: ActivitySettings, store: SecretStore) -> None:
        self.settings = settings
        self.store = store

    async def stored(self, ref: str) -> StoredIntent | None:
        intent_id, secret = await self.store.get(ref, SETUP_INTENT_ID), await self.store.get(ref, SETUP_INTENT_SECRET)
        if intent_id is None or secret is None:
            return None
        run = await self.store.get(ref, SETUP_INTENT_RUN)
        return StoredIntent(intent_id.get_secret_value(), secret, run.get_secret_value() if run else "")

    async def remember(self, ref: str, intent: SetupIntentSecret) -> StoredIntent:
        """Store a new intent (before anything confirms it)."""
        stored = StoredIntent(intent.intent_id, intent.client_secret, current_run())
        await self.store.update(
            ref, {SETUP_INTENT_ID: stored.id, SETUP_INTENT_SECRET: stored.client_secret, SETUP_INTENT_RUN: stored.run}
        )
        return stored

    async def read(self, intent: StoredIntent, publishable_key: str) -> ConfirmedSetupIntent:
        """The intent as Stripe has it now."""
        return await retrieve_setup_intent(
            intent.client_secret,
            publishable_key,
            api_base=self.settings.stripe_api_base,
            request_timeout=self.settings.http_timeout_seconds,
        )

    async def card_saved(self, ref: str) -> bool | None:
        """Whether the stored intent succeeded at Stripe; None when there is none to ask about."""
        intent = await self.stored(ref)
        publishable_key = self.settings.stripe_publishable_key
        if intent is None or publishable_key is None:
            return None
        return (await self.read(intent, publishable_key)).succeeded
