"""API key creation that never loses track of a key: each attempt is written down before its POST.

A key's secret is shown once, and the guide has no way to list keys. So a `POST /v1/api-keys` whose
answer never came (a timeout, a dropped connection, a 5xx, a worker killed mid-request) may have left a
working key on the server that nobody holds. Each attempt gets a name of its own (`<name>-<6 hex>`),
recorded in the secret store before the POST; an attempt that finds an earlier one unfinished reports
that name as possibly orphaned (the operator revokes it in the dashboard) and creates the next key under
a new name. When the operator declares that the vendor honours `Idempotency-Key`, a retry of the same
activity repeats the same name and key with the same JWT, and gets the first answer instead.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from dataclasses import asdict, dataclass

from activities.secrets import SecretStore

__all__ = ["API_KEY_ORPHANS", "API_KEY_PENDING", "KeyAttempt", "KeyAttempts"]

API_KEY_PENDING = "api_key_pending"  # the attempt in flight: {"name", "idempotency_key", "jwt"}
API_KEY_ORPHANS = "api_key_orphans"  # names of keys that may exist without this bot holding them, one a line


@dataclass(frozen=True)
class KeyAttempt:
    """One key creation: its name, its idempotency key, and the fingerprint of the JWT it was sent with."""

    name: str
    idempotency_key: str
    jwt: str

    def same_call(self, idempotency_key: str, jwt: str) -> bool:
        """Whether a repeat would be the same request to a server that honours idempotency keys."""
        return (self.idempotency_key, self.jwt) == (idempotency_key, jwt)


class KeyAttempts:
    """The attempt records of one account."""

    def __init__(self, store: SecretStore, account_ref: str) -> None:
        self.store = store
        self.ref = account_ref

    async def orphans(self) -> list[str]:
        text = await self.store.get(self.ref, API_KEY_ORPHANS)
        return text.get_secret_value().split() if text is not None else []

    async def pending(self) -> KeyAttempt | None:
        text = await self.store.get(self.ref, API_KEY_PENDING)
        if text is None:
            return None
        try:
            return KeyAttempt(**json.loads(text.get_secret_value()))
        except (TypeError, ValueError):
            return KeyAttempt(name="(unreadable attempt record)", idempotency_key="", jwt="")

    async def begin(self, base_name: str, idempotency_key: str, jwt: str, *, keys_honoured: bool) -> KeyAttempt:
        """Record the attempt about to be sent; an unfinished earlier one is repeated or reported as orphaned."""
        earlier = await self.pending()
        orphans = await self.orphans()
        if earlier is not None and keys_honoured and earlier.same_call(idempotency_key, jwt):
            return earlier
        if earlier is not None and earlier.name not in orphans:
            orphans.append(earlier.name)
        attempt = KeyAttempt(f"{base_name}-{pysecrets.token_hex(3)}", idempotency_key, jwt)
        await self.store.update(
            self.ref, {API_KEY_PENDING: json.dumps(asdict(attempt)), API_KEY_ORPHANS: "\n".join(orphans) or None}
        )
        return attempt

    async def resend_with(self, attempt: KeyAttempt, jwt: str) -> KeyAttempt:
        """The same attempt, about to be sent with a renewed JWT (after a 401: nothing was created)."""
        renewed = KeyAttempt(attempt.name, attempt.idempotency_key, jwt)
        await self.store.update(self.ref, {API_KEY_PENDING: json.dumps(asdict(renewed))})
        return renewed

    async def not_sent(self) -> None:
        """The server answered that it created nothing: the attempt leaves no key behind."""
        await self.store.update(self.ref, {API_KEY_PENDING: None})

    async def created(self, values: dict[str, str]) -> None:
        """The key is ours: store it (`values`) and close the attempt in one write."""
        await self.store.update(self.ref, {**values, API_KEY_PENDING: None})
