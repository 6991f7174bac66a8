"""Server-side automation: auto_clone generates after a sync, auto_publish also approves and
publishes; both happen without anyone polling, and are charged like client generations."""

from __future__ import annotations

import asyncio

import httpx
from sim_helpers import Onboard, SyncedPersona, confirm_card

from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer

FAST = {"durations_seconds": {"sync": [1, 1], "image": [1, 1], "video": [1, 1], "delivery": [1, 1]}}


async def test_auto_clone_generates_after_sync(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=2000)
    content = await synced_persona(account, mode="auto_clone")
    generated = await sim_admin.ledger(kind="generate")
    assert len(generated) == 6
    assert all(entry["by"] == "server" and entry["details"]["origin"] == "auto_clone" for entry in generated)
    assert {entry["source_post_id"] for entry in generated} == {post["id"] for post in content.posts}
    charges = await sim_admin.ledger(kind="charge")
    assert sum(entry["amount_cents"] or 0 for entry in charges) == 2 * (25 + 75 + 100)
    await sim_admin.advance_clock(300)
    listed = (await api.get(f"/v1/personas/{content.persona_id}/generated-posts", headers=account.headers)).json()
    assert {post["origin"] for post in listed["data"]} == {"auto_clone"}
    assert {post["status"] for post in listed["data"]} == {"ready"}
    assert await sim_admin.ledger(kind="approve") == []


async def test_auto_publish_approves_and_publishes(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=2000)
    connected = await sim_admin.connect_account(account.email, "instagram", "official")
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["data"]["id"]
    await api.post(
        f"/v1/personas/{persona_id}/publishing-targets",
        headers=account.headers,
        json={"connected_account_id": connected["id"]},
    )
    await api.post(
        f"/v1/personas/{persona_id}/sources",
        headers=account.headers,
        json={"platform": "youtube", "username": "auto", "automation_mode": "auto_publish"},
    )
    await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    await sim_admin.advance_clock(300 + 300 + 60)
    approvals = await sim_admin.ledger(kind="approve")
    assert len(approvals) == 6 and all(entry["by"] == "server" for entry in approvals)
    posts = (await api.get(f"/v1/personas/{persona_id}/generated-posts", headers=account.headers)).json()["data"]
    assert {post["status"] for post in posts} == {"published"} and {post["origin"] for post in posts} == {
        "auto_publish"
    }
    outgoing = await api.get(f"/v1/publishing/posts/{posts[0]['outgoing_post_id']}", headers=account.headers)
    assert [d["status"] for d in outgoing.json()["post"]["deliveries"]] == ["published"]


async def test_auto_publish_without_targets_waits_ready(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=2000)
    content = await synced_persona(account, mode="auto_publish")
    await sim_admin.advance_clock(300)
    posts = (await api.get(f"/v1/personas/{content.persona_id}/generated-posts", headers=account.headers)).json()
    assert {post["status"] for post in posts["data"]} == {"ready"}
    skipped = await sim_admin.ledger(kind="automation")
    assert len(skipped) == 6
    assert all(entry["details"]["action"] == "approve" for entry in skipped)
    assert "publishing targets" in skipped[0]["details"]["reason"]


async def test_auto_clone_short_balance_is_recorded(
    onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=100)
    await synced_persona(account, mode="auto_clone")
    generated = await sim_admin.ledger(kind="generate")
    refused = [entry for entry in await sim_admin.ledger(kind="automation") if entry["details"]["action"] == "generate"]
    assert len(generated) + len(refused) == 6
    assert refused and all("balance" in entry["details"]["reason"] for entry in refused)
    assert sum(entry["amount_cents"] or 0 for entry in await sim_admin.ledger(kind="charge")) <= 100


async def test_automation_runs_without_polling(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    account = await onboard(topup=2000)
    await sim_admin.patch_config(FAST)
    connected = await sim_admin.connect_account(account.email, "x", "me")
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["data"]["id"]
    await api.post(
        f"/v1/personas/{persona_id}/publishing-targets",
        headers=account.headers,
        json={"connected_account_id": connected["id"]},
    )
    await api.post(
        f"/v1/personas/{persona_id}/sources",
        headers=account.headers,
        json={"platform": "x", "username": "quiet", "automation_mode": "auto_publish"},
    )
    await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    ledger = simulator.simulator.core.ledger  # read in-process: no request that would refresh state
    for _ in range(200):
        if len(ledger.entries(kind="delivery")) == 6:
            break
        await asyncio.sleep(0.02)
    assert len(ledger.entries(kind="generate")) == 6
    assert len(ledger.entries(kind="delivery")) == 6


async def test_server_charges_trigger_auto_reload(
    api: httpx.AsyncClient,
    onboard: Onboard,
    synced_persona: SyncedPersona,
    sim_admin: SimulatorAdmin,
    simulator: SimulatorServer,
) -> None:
    account = await onboard(card=True)
    await api.patch(
        "/v1/billing/balance",
        headers=account.headers,
        json={"auto_reload": True, "reload_threshold_cents": 400, "reload_amount_cents": 1000},
    )
    await synced_persona(account, mode="auto_clone")
    ledger = simulator.simulator.core.ledger
    for _ in range(200):
        if ledger.entries(kind="auto_reload"):
            break
        await asyncio.sleep(0.02)
    reloads = await sim_admin.ledger(kind="auto_reload")
    assert reloads and reloads[0]["details"]["succeeded"] is True and reloads[0]["by"] == "server"


async def test_declined_reload_is_recorded_once(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, localstripe: str
) -> None:
    account = await onboard()
    client_secret = (await api.post("/v1/billing/setup-intent", headers=account.headers)).json()["client_secret"]
    # Attaching works, charging is declined: the off-session reload fails.
    assert await confirm_card(localstripe, client_secret, "pm_card_chargeCustomerFail") == "succeeded"
    response = await api.patch(
        "/v1/billing/balance",
        headers=account.headers,
        json={"auto_reload": True, "reload_threshold_cents": 1000, "reload_amount_cents": 1000},
    )
    assert response.status_code == 200
    for _ in range(3):
        await api.get("/v1/billing/balance", headers=account.headers)
    reloads = await sim_admin.ledger(kind="auto_reload")
    assert len(reloads) == 1
    assert reloads[0]["details"]["succeeded"] is False and reloads[0]["amount_cents"] == 0
    assert response.json()["data"]["balance_cents"] == 500
