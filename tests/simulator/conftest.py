"""Helpers for the simulator's own tests: a raw HTTP client on ``/api`` and onboarding shortcuts.

The tests talk plain HTTP (httpx) rather than through the ``reelmirror`` client, so they check the
wire itself: status codes, envelopes as the guide's jq paths read them, and headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sim_helpers import PASSWORD, Account, Content, Onboard, SyncedPersona, confirm_card, fragment_of

from simulator.admin import SimulatorAdmin
from simulator.models import ALL_SCOPES
from simulator.server import SimulatorServer


@pytest.fixture
async def api(simulator: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """httpx client whose base URL is the simulator's ``/api``."""
    async with httpx.AsyncClient(base_url=simulator.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def onboard(api: httpx.AsyncClient, sim_admin: SimulatorAdmin, localstripe: str) -> Onboard:
    """``await onboard(email, scopes=..., card=False, topup=0)``: signup, verify, key (and card/credits)."""

    async def run(
        email: str = "bot@example.com",
        *,
        scopes: tuple[str, ...] = ALL_SCOPES,
        card: bool = False,
        topup: int = 0,
    ) -> Account:
        signup = await api.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        link = await sim_admin.confirmation_link(email)
        assert link is not None
        verify = await api.get(link, follow_redirects=False)
        jwt = fragment_of(verify.headers["Location"])["access_token"]
        created = await api.post(
            "/v1/api-keys", headers={"Authorization": f"Bearer {jwt}"}, json={"name": "tests", "scopes": list(scopes)}
        )
        assert created.status_code == 201, created.text
        account = Account(email=email, user_id=signup.json()["user_id"], key=created.json()["key"])
        if card:
            intent = await api.post("/v1/billing/setup-intent", headers=account.headers)
            assert await confirm_card(localstripe, intent.json()["client_secret"]) == "succeeded"
            balance = await api.get("/v1/billing/balance", headers=account.headers)
            assert balance.json()["data"]["has_payment_method"] is True
        if topup:
            await sim_admin.topup(email, topup)
        return account

    return run


@pytest.fixture
def synced_persona(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> SyncedPersona:
    """``await synced_persona(account, mode="sync_only")``: persona + one source, synced, posts listed."""

    async def run(account: Account, *, mode: str = "sync_only", username: str = "creator_one") -> Content:
        persona = await api.post(
            "/v1/personas", headers=account.headers, json={"name": "Tester", "writing_style": "dry"}
        )
        persona_id = persona.json()["data"]["id"]
        source = await api.post(
            f"/v1/personas/{persona_id}/sources",
            headers=account.headers,
            json={"platform": "instagram", "username": username, "automation_mode": mode},
        )
        assert source.status_code == 201, source.text
        sync = await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
        assert sync.status_code == 200
        await sim_admin.advance_clock(301)
        posts = await api.get(f"/v1/personas/{persona_id}/source-posts", headers=account.headers)
        return Content(persona_id, source.json()["data"]["id"], posts.json()["data"])

    return run
