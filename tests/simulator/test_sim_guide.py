"""Guide-minimal answers: only what the vendor's guide promises, Supabase-style signups, a late webhook bonus."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sim_helpers import PASSWORD, Account, confirm_card, fragment_of

from simulator.admin import SimulatorAdmin, SimulatorAdminError
from simulator.guide_answers import GUIDE_SHAPES
from simulator.models import ALL_SCOPES
from simulator.server import SimulatorServer
from simulator.web.app import build_app


@pytest.fixture
async def guide(sim_admin: SimulatorAdmin) -> None:
    """Switch the running simulator to guide-minimal answers."""
    await sim_admin.patch_config({"answers": "guide"})


async def guide_account(api: httpx.AsyncClient, sim_admin: SimulatorAdmin, email: str = "bot@example.com") -> Account:
    """Onboard in guide mode: signup (200), the newest mailed link, an API key with every scope."""
    signup = await api.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 200, signup.text
    link = await sim_admin.confirmation_link(email)
    assert link is not None
    jwt = fragment_of((await api.get(link, follow_redirects=False)).headers["Location"])["access_token"]
    key = await api.post(
        "/v1/api-keys", headers={"Authorization": f"Bearer {jwt}"}, json={"name": "k", "scopes": list(ALL_SCOPES)}
    )
    assert key.status_code == 201, key.text
    assert set(key.json()) == {"id", "key", "scopes"}
    return Account(email=email, user_id=signup.json()["user_id"], key=key.json()["key"])


async def guide_account_full(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> Account:
    """Onboard with the default (full) answers: signup is 201 there."""
    signup = await api.post("/v1/auth/signup", json={"email": "full@example.com", "password": PASSWORD})
    assert signup.status_code == 201
    link = await sim_admin.confirmation_link("full@example.com")
    assert link is not None
    jwt = fragment_of((await api.get(link, follow_redirects=False)).headers["Location"])["access_token"]
    key = await api.post(
        "/v1/api-keys", headers={"Authorization": f"Bearer {jwt}"}, json={"name": "k", "scopes": list(ALL_SCOPES)}
    )
    return Account(email="full@example.com", user_id=signup.json()["user_id"], key=key.json()["key"])


def test_every_api_route_has_a_guide_shape(simulator: SimulatorServer) -> None:
    app = build_app(simulator.simulator)
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/") and route.method != "HEAD"
    }
    assert routes == set(GUIDE_SHAPES)


async def test_guide_answers_carry_only_promised_fields(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, guide: None
) -> None:
    account = await guide_account(api, sim_admin)
    auth = account.headers
    signup = await api.post("/v1/auth/signup", json={"email": "other@example.com", "password": PASSWORD})
    assert signup.status_code == 200 and set(signup.json()) == {"status", "user_id"}

    balance = await api.get("/v1/billing/balance", headers=auth)
    assert balance.json() == {
        "balance_cents": 0,
        "auto_reload": False,
        "reload_threshold_cents": 500,
        "reload_amount_cents": 2500,
    }
    assert set((await api.post("/v1/billing/setup-intent", headers=auth)).json()) == {"client_secret"}
    assert set((await api.post("/v1/billing/topup", headers=auth, json={"amount_cents": 1000})).json()) == {"url"}

    persona = await api.post("/v1/personas", headers=auth, json={"name": "P", "writing_style": "dry"})
    assert persona.status_code == 201 and set(persona.json()) == {"id"}
    persona_id = persona.json()["id"]
    assert (await api.get("/v1/personas", headers=auth)).json() == [{"id": persona_id}]
    assert (await api.get(f"/v1/personas/{persona_id}", headers=auth)).json() == {"id": persona_id}
    assert (await api.patch(f"/v1/personas/{persona_id}", headers=auth, json={"name": "Q"})).json() == {
        "id": persona_id
    }
    source = await api.post(
        f"/v1/personas/{persona_id}/sources", headers=auth, json={"platform": "instagram", "username": "c1"}
    )
    source_id = source.json()["id"]
    assert source.status_code == 201 and source.json() == {"id": source_id}
    assert (await api.get(f"/v1/personas/{persona_id}/sources", headers=auth)).json() == [{"id": source_id}]
    patched = await api.patch(
        f"/v1/personas/{persona_id}/sources/{source_id}", headers=auth, json={"automation_mode": "sync_only"}
    )
    assert patched.json() == {"id": source_id}

    connected = await sim_admin.connect_account(account.email, "tiktok", "me")
    assert (await api.get("/v1/publishing/accounts", headers=auth)).json() == [{"id": connected["id"]}]
    target = await api.post(
        f"/v1/personas/{persona_id}/publishing-targets", headers=auth, json={"connected_account_id": connected["id"]}
    )
    assert set(target.json()) == {"id"}
    assert (await api.get(f"/v1/personas/{persona_id}/publishing-targets", headers=auth)).json() == [target.json()]

    sync = await api.post(f"/v1/personas/{persona_id}/sync", headers=auth)
    assert set(sync.json()) == {"job_ids"}
    job = await api.get(f"/v1/sync-jobs/{sync.json()['job_ids'][0]}", headers=auth)
    assert set(job.json()) == {"data"} and set(job.json()["data"]) == {"status"}
    await sim_admin.advance_clock(301)
    assert (await api.get(f"/v1/sync-jobs/{sync.json()['job_ids'][0]}", headers=auth)).json() == {
        "data": {"status": "completed"}
    }
    posts = (await api.get(f"/v1/personas/{persona_id}/source-posts", headers=auth)).json()
    assert isinstance(posts, list) and posts and all(set(post) == {"id"} for post in posts)

    await sim_admin.topup(account.email, 5000)
    generated = []
    for post in posts[:3]:
        made = await api.post(
            "/v1/generate", headers=auth, json={"source_post_id": post["id"], "persona_id": persona_id}
        )
        assert made.status_code == 201 and set(made.json()) == {"generated_post_id"}
        generated.append(made.json()["generated_post_id"])
    first = (await api.get(f"/v1/generated-posts/{generated[0]}", headers=auth)).json()
    assert set(first) == {"data"} and set(first["data"]) == {"media_items"}
    assert all(set(item) == {"status"} for item in first["data"]["media_items"])
    # No source_post_id on the items, and the simulator's own filter is ignored: every post comes back.
    listed = await api.get(
        f"/v1/personas/{persona_id}/generated-posts", headers=auth, params={"source_post_id": posts[0]["id"]}
    )
    assert sorted(item["id"] for item in listed.json()) == sorted(generated)
    assert all(set(item) == {"id"} for item in listed.json())

    await sim_admin.advance_clock(300)
    done = (await api.get(f"/v1/generated-posts/{generated[0]}", headers=auth)).json()["data"]["media_items"]
    assert {item["status"] for item in done} == {"completed"}
    approved = await api.post(f"/v1/generated-posts/{generated[0]}/approve", headers=auth)
    assert set(approved.json()) == {"status", "outgoing_post_id"} and approved.json()["status"] == "publishing"
    await sim_admin.advance_clock(60)
    outgoing = (await api.get(f"/v1/publishing/posts/{approved.json()['outgoing_post_id']}", headers=auth)).json()
    assert outgoing == {"post": {"deliveries": [{"status": "published"}]}}
    assert (await api.post(f"/v1/generated-posts/{generated[1]}/reject", headers=auth, json={})).json() == {}
    assert (await api.post(f"/v1/generated-posts/{generated[2]}/send-to-compose", headers=auth)).json() == {}

    missing = await api.get("/v1/generated-posts/nope", headers=auth)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"code", "message"}
    assert "X-RateLimit-Remaining" in missing.headers


async def test_answers_switch_at_runtime_and_are_validated(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    assert (await sim_admin.config())["answers"] == "full"
    account = await guide_account_full(api, sim_admin)
    await api.post("/v1/personas", headers=account.headers, json={"name": "P"})
    assert set((await api.get("/v1/personas", headers=account.headers)).json()) == {"data"}
    assert (await sim_admin.patch_config({"answers": "guide"}))["answers"] == "guide"
    assert isinstance((await api.get("/v1/personas", headers=account.headers)).json(), list)
    await sim_admin.patch_config({"answers": "full"})
    assert "data" in (await api.get("/v1/personas", headers=account.headers)).json()
    for bad in ({"answers": "minimal"}, {"webhook_delay_seconds": -1}, {"idempotency_keys": "yes"}):
        response = await api.patch(f"{simulator.admin_url}/config", json=bad)
        assert response.status_code == 400
        assert next(iter(bad)) in response.json()["error"]["message"]


async def test_repeated_signup_is_answered_like_supabase(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, simulator: SimulatorServer, guide: None
) -> None:
    first = await api.post("/v1/auth/signup", json={"email": "again@example.com", "password": PASSWORD})
    old_link = await sim_admin.confirmation_link("again@example.com")
    again = await api.post("/v1/auth/signup", json={"email": "Again@example.com", "password": "another-password"})
    assert first.status_code == again.status_code == 200
    assert again.json() == {"status": "pending_confirmation", "user_id": first.json()["user_id"]}
    mails = await sim_admin.mailbox("again@example.com")
    assert len(mails) == 2 and mails[0]["links"][0] != mails[1]["links"][0]
    # One confirmation token per user: the new mail made the old link invalid.
    stale = await api.get(old_link or "", follow_redirects=False)
    assert fragment_of(stale.headers["Location"])["error_code"] == "otp_expired"
    fresh = await api.get(mails[1]["links"][0], follow_redirects=False)
    assert "access_token" in fragment_of(fresh.headers["Location"])
    kinds = [entry["kind"] for entry in await sim_admin.ledger(email="again@example.com")]
    assert kinds == ["signup", "signup_repeated", "email_confirmed"]
    # The repeat changed nothing of the account (the password stays the first one).
    token_url = f"{simulator.origin}/auth/v1/token"
    for password, status in (("another-password", 400), (PASSWORD, 200)):
        login = await api.post(
            token_url, params={"grant_type": "password"}, json={"email": "again@example.com", "password": password}
        )
        assert login.status_code == status
    # A repeat spends one of the five signups of the IP.
    for index in range(3):
        other = await api.post("/v1/auth/signup", json={"email": f"u{index}@example.com", "password": PASSWORD})
        assert other.status_code == 200
    refused = await api.post("/v1/auth/signup", json={"email": "again@example.com", "password": PASSWORD})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"


async def test_approve_without_targets_uses_the_guide_wording(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, guide: None
) -> None:
    account = await guide_account(api, sim_admin)
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["id"]
    await api.post(
        f"/v1/personas/{persona_id}/sources", headers=account.headers, json={"platform": "x", "username": "c"}
    )
    await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    await sim_admin.advance_clock(301)
    post = (await api.get(f"/v1/personas/{persona_id}/source-posts", headers=account.headers)).json()[0]
    await sim_admin.topup(account.email, 1000)
    made = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": post["id"], "persona_id": persona_id}
    )
    await sim_admin.advance_clock(300)
    refused = await api.post(f"/v1/generated-posts/{made.json()['generated_post_id']}/approve", headers=account.headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "no connected publishing accounts" in refused.json()["error"]["message"]


async def _wait_for_ledger(sim_admin: SimulatorAdmin, kind: str, *, seconds: float = 10.0) -> list[dict[str, object]]:
    for _ in range(int(seconds / 0.05)):
        entries = await sim_admin.ledger(kind=kind)
        if entries:
            return list(entries)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} entry within {seconds} s")


async def test_bonus_only_by_the_late_webhook(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, simulator: SimulatorServer, localstripe: str, guide: None
) -> None:
    await sim_admin.patch_config({"webhook_delay_seconds": 3600})  # 36 real seconds at this time scale
    account = await guide_account(api, sim_admin)
    secret = (await api.post("/v1/billing/setup-intent", headers=account.headers)).json()["client_secret"]
    assert await confirm_card(localstripe, secret) == "succeeded"
    scheduled = await _wait_for_ledger(sim_admin, "webhook_scheduled")
    assert scheduled[0]["details"]["type"] == "setup_intent.succeeded"  # type: ignore[index]
    # Stripe says succeeded, but no read reconciles: no bonus and no saved card until the webhook lands.
    await asyncio.sleep(0.5)
    assert (await api.get("/v1/billing/balance", headers=account.headers)).json()["balance_cents"] == 0
    early = await api.patch("/v1/billing/balance", headers=account.headers, json={"auto_reload": True})
    assert early.status_code == 400
    assert await sim_admin.ledger(kind="bonus") == []

    await sim_admin.advance_clock(3600)
    delivered = await sim_admin.ledger(kind="webhook_delivered")
    assert len(delivered) == 1 and delivered[0]["details"]["handled"] is True
    bonuses = await sim_admin.ledger(kind="bonus")
    assert len(bonuses) == 1 and bonuses[0]["details"]["via"] == "webhook" and bonuses[0]["amount_cents"] == 500
    assert (await api.get("/v1/billing/balance", headers=account.headers)).json()["balance_cents"] == 500
    # A real delivery of the same event, and more time, grant nothing more.
    intent_id = secret.partition("_secret_")[0]
    event = {"type": "setup_intent.succeeded", "data": {"object": {"id": intent_id}}}
    assert (await api.post(f"{simulator.origin}/api/webhooks/stripe", json=event)).status_code == 200
    await sim_admin.advance_clock(7200)
    await asyncio.sleep(0.5)
    assert len(await sim_admin.ledger(kind="bonus")) == 1
    assert len(await sim_admin.ledger(kind="webhook_delivered")) == 1


async def test_default_webhook_delay_is_thirty_simulated_seconds(sim_admin: SimulatorAdmin) -> None:
    config = await sim_admin.config()
    assert config["webhook_delay_seconds"] == 30 and config["idempotency_keys"] is False
    with pytest.raises(SimulatorAdminError):
        await sim_admin.patch_config({"answers": None})
