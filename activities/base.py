"""What every activity group shares: settings, the secret store, the mailbox and one connection pool.

Why one pool per worker, created lazily: a worker makes thousands of short calls to one host, and a
pooled `httpx.AsyncClient` saves a handshake per call; creating it on first use binds it to the
worker's running event loop rather than to whatever loop existed at construction. Why a client per
call: the API key is looked up in the store each time, so a key an operator rotates on disk is used
by the very next attempt (that is what the `credentials_updated` signal relies on). The pool's transport
gives each vendor call a span and a count by status (`observability.http`), redacted of secrets.
"""

from __future__ import annotations

import httpx
from temporalio import activity

from activities.fleet_budget import BudgetedTransport, FleetBudget
from activities.liveness import progress
from activities.mailbox import MailboxReader
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from activities.unusable import UnusableAnswers
from observability.http import ObservedTransport
from reelmirror.client import ReelMirrorClient

__all__ = ["API_KEY", "ActivityBase", "heartbeat"]

# Names of the secrets the activities keep per account.
API_KEY = "api_key"


def heartbeat(step: str) -> None:
    """Report progress between the calls of a multi-call activity (the step's name, never data); the
    details keep what earlier attempts recorded (`activities.liveness`)."""
    if activity.in_activity():
        progress().record(step=step)


class ActivityBase:
    def __init__(self, settings: ActivitySettings, store: SecretStore, mailbox: MailboxReader | None = None) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        self.unusable = UnusableAnswers()
        # the fleet's per-key request budget, when the worker runs with one (`activities.fleet_budget`)
        self.fleet_budget: FleetBudget | None = None
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r}, store={self.store!r})"

    def _pool(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            transport: httpx.AsyncBaseTransport = ObservedTransport()
            if self.fleet_budget is not None:
                transport = BudgetedTransport(transport, self.fleet_budget)
            self._http = httpx.AsyncClient(timeout=self.settings.http_timeout_seconds, transport=transport)
        return self._http

    def _client(self, token: str | None = None) -> ReelMirrorClient:
        """A client on the shared pool (it never closes the pool), with `token` or no auth."""
        return ReelMirrorClient(
            self.settings.base_url, token=token, timeout=self.settings.http_timeout_seconds, http=self._pool()
        )

    async def _account_client(self, account_ref: str) -> ReelMirrorClient:
        """A client authenticated with the account's stored `rm_` key (MissingSecretError if none)."""
        key = await self.store.require(
            account_ref, API_KEY, hint="run onboarding, or store the account's rm_ key, then signal credentials_updated"
        )
        return self._client(key.get_secret_value())

    async def aclose(self) -> None:
        """Close the pool; the worker calls this once on shutdown."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
