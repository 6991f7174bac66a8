"""Plain helpers of the simulator tests (imported by name; the fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import stripe

PASSWORD = "correct-horse-battery"
PUBLISHABLE_KEY = "pk_test_simulator_tests"


@dataclass
class Account:
    email: str
    user_id: str
    key: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def fragment_of(location: str) -> dict[str, str]:
    """The URL fragment of a redirect as a flat dict (the Supabase session or error)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(location).fragment).items()}


async def confirm_card(stripe_base: str, client_secret: str, payment_method: str = "pm_card_visa") -> str:
    """Confirm a SetupIntent the way a bot does: publishable key, Stripe.js wire form. Returns status."""
    http = stripe.HTTPXClient()
    client = stripe.StripeClient(PUBLISHABLE_KEY, base_addresses={"api": stripe_base}, http_client=http)
    try:
        intent = await client.v1.setup_intents.confirm_async(
            client_secret.partition("_secret_")[0],
            params={"payment_method": payment_method, "client_secret": client_secret, "key": PUBLISHABLE_KEY},
        )
    finally:
        await http.close_async()
    return str(intent.status)


Onboard = Callable[..., Awaitable[Account]]


@dataclass
class Content:
    persona_id: str
    source_id: str
    posts: list[dict[str, object]]

    def post_of(self, media_type: str) -> dict[str, object]:
        return next(post for post in self.posts if post["media_type"] == media_type)


SyncedPersona = Callable[..., Awaitable[Content]]
