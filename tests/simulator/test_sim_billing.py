"""Billing against a real localstripe: SetupIntent, the bonus exactly once, charges, top-ups, auto-reload."""

from __future__ import annotations

import json

import httpx
import pytest
import stripe
from sim_helpers import Onboard, SyncedPersona, confirm_card

from simulator.admin import SimulatorAdmin
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer


async def test_setup_intent_envelope_and_bonus(api: httpx.AsyncClient, onboard: Onboard, localstripe: str) -> None:
    account = await onboard()
    before = await api.get("/v1/billing/balance", headers=account.headers)
    assert before.json() == {
        "data": {
            "balance_cents": 0,
            "auto_reload": False,
            "reload_threshold_cents": 500,
            "reload_amount_cents": 2500,
            "has_payment_method": False,
        }
    }
    response = await api.post("/v1/billing/setup-intent", headers=account.headers)
    assert response.status_code == 200
    client_secret = response.json()["client_secret"]
    assert client_secret.startswith("seti_") and "_secret_" in client_secret
    assert await confirm_card(localstripe, client_secret) == "succeeded"
    after = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert after["balance_cents"] == 500 and after["has_payment_method"] is True


async def test_bonus_granted_exactly_once(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, simulator: SimulatorServer, localstripe: str
) -> None:
    account = await onboard(card=True)
    sim = simulator.simulator
    user = sim.core.state.users[account.user_id]
    # A second card later, every reconciliation path run repeatedly, and a webhook for the first intent.
    second = (await api.post("/v1/billing/setup-intent", headers=account.headers)).json()["client_secret"]
    assert await confirm_card(localstripe, second) == "succeeded"
    for _ in range(3):
        await sim.billing.reconcile_all()
        await sim.billing.reconcile_user(user)
        await api.get("/v1/billing/balance", headers=account.headers)
    intent_id = (await sim_admin.ledger(kind="setup_intent"))[0]["details"]["setup_intent_id"]
    event = {"type": "setup_intent.succeeded", "data": {"object": {"id": intent_id, "status": "succeeded"}}}
    hook = await api.post(f"{simulator.origin}/api/webhooks/stripe", json=event)
    assert hook.status_code == 200
    bonuses = await sim_admin.ledger(kind="bonus")
    assert len(bonuses) == 1 and bonuses[0]["amount_cents"] == 500 and bonuses[0]["by"] == "server"
    assert user.balance_cents == 500


async def test_webhook_grants_bonus(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, simulator: SimulatorServer, localstripe: str
) -> None:
    account = await onboard()
    client_secret = (await api.post("/v1/billing/setup-intent", headers=account.headers)).json()["client_secret"]
    await confirm_card(localstripe, client_secret)
    intent_id = client_secret.partition("_secret_")[0]
    event = {"type": "setup_intent.succeeded", "data": {"object": {"id": intent_id}}}
    hook = await api.post(f"{simulator.origin}/api/webhooks/stripe", json=event)
    assert hook.json() == {"received": True, "handled": True}
    bonuses = await sim_admin.ledger(kind="bonus")
    assert len(bonuses) == 1
    assert bonuses[0]["details"]["via"] in ("webhook", "reconcile")


async def test_signed_webhook_is_verified(localstripe: str, onboard: Onboard) -> None:
    secret = "whsec_" + "s" * 24
    config = SimulatorConfig(port=0, time_scale=0.01, seed=1, stripe_api_base=localstripe, stripe_webhook_secret=secret)
    async with SimulatorServer(config) as server, httpx.AsyncClient() as http:
        payload = json.dumps({"type": "setup_intent.succeeded", "data": {"object": {"id": "seti_unknown"}}})
        unsigned = await http.post(f"{server.origin}/api/webhooks/stripe", content=payload)
        assert unsigned.status_code == 400
        signature = stripe.WebhookSignature.generate_signature_header(payload, secret)
        signed = await http.post(
            f"{server.origin}/api/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature}
        )
        assert signed.status_code == 200 and signed.json()["handled"] is False


async def test_declined_card_gets_no_bonus(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, localstripe: str
) -> None:
    account = await onboard()
    client_secret = (await api.post("/v1/billing/setup-intent", headers=account.headers)).json()["client_secret"]
    with pytest.raises(stripe.CardError) as declined:
        await confirm_card(localstripe, client_secret, "pm_card_visa_chargeDeclined")
    assert declined.value.code == "card_declined"
    balance = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert balance["balance_cents"] == 0 and balance["has_payment_method"] is False
    assert await sim_admin.ledger(kind="bonus") == []


async def test_auto_reload_needs_payment_method(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard()
    response = await api.patch("/v1/billing/balance", headers=account.headers, json={"auto_reload": True})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    invalid = await api.patch("/v1/billing/balance", headers=account.headers, json={"auto_reload": "yes"})
    assert invalid.status_code == 400


async def test_auto_reload_charges_saved_card(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(card=True)
    patch = await api.patch(
        "/v1/billing/balance",
        headers=account.headers,
        json={"auto_reload": True, "reload_threshold_cents": 480, "reload_amount_cents": 2500},
    )
    assert patch.status_code == 200
    assert patch.json()["data"]["auto_reload"] is True and patch.json()["data"]["balance_cents"] == 500
    content = await synced_persona(account)
    image = content.post_of("image")
    generated = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": image["id"], "persona_id": content.persona_id}
    )
    assert generated.status_code == 201
    balance = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert balance["balance_cents"] == 500 - 25 + 2500
    reloads = await sim_admin.ledger(kind="auto_reload")
    assert len(reloads) == 1
    assert reloads[0]["amount_cents"] == 2500 and reloads[0]["details"]["succeeded"] is True
    assert reloads[0]["details"]["payment_intent_id"].startswith("pi_")


async def test_insufficient_balance_creates_nothing(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=50)
    content = await synced_persona(account)
    video = content.post_of("video")
    response = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": video["id"], "persona_id": content.persona_id}
    )
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    listed = await api.get(f"/v1/personas/{content.persona_id}/generated-posts", headers=account.headers)
    assert listed.json() == {"data": []}
    assert await sim_admin.ledger(kind="generate,charge") == []
    balance = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert balance["balance_cents"] == 50


async def test_topup_checkout_is_a_human_step(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    response = await api.post("/v1/billing/topup", headers=account.headers, json={"amount_cents": 1000})
    assert response.status_code == 200
    url = response.json()["url"]
    assert "/_sim/checkout/" in url
    page = await api.get(url)
    assert page.status_code == 200 and "Top up $10.00" in page.text
    await sim_admin.complete_checkout(url)
    balance = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert balance["balance_cents"] == 1000
    again = await api.post(url)
    assert again.status_code == 409
    bad = await api.post("/v1/billing/topup", headers=account.headers, json={"amount_cents": -5})
    assert bad.status_code == 400


async def test_admin_topup(onboard: Onboard, sim_admin: SimulatorAdmin) -> None:
    await onboard("rich@example.com")
    balance = await sim_admin.topup("rich@example.com", 1234)
    assert balance["balance_cents"] == 1234
    topups = await sim_admin.ledger(kind="topup", email="rich@example.com")
    assert [entry["amount_cents"] for entry in topups] == [1234]
