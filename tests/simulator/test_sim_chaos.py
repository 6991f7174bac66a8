"""Faults on demand: injected 429/502/503, latency, and lost responses after a committed effect."""

from __future__ import annotations

import httpx
import pytest
from sim_helpers import Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer


async def test_injected_502_and_503_are_recorded(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(error_rates={"502": 1.0}, path_pattern="/v1/personas$", methods=["GET"])
    upstream = await api.get("/v1/personas", headers=account.headers)
    assert upstream.status_code == 502 and upstream.json()["error"]["code"] == "UPSTREAM_ERROR"
    assert "X-RateLimit-Remaining" in upstream.headers
    untouched = await api.post("/v1/personas", headers=account.headers, json={"name": "P"})
    assert untouched.status_code == 201
    await sim_admin.set_chaos(error_rates={"503": 1.0})
    down = await api.get("/v1/billing/balance", headers=account.headers)
    assert down.status_code == 503 and down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    stats = await sim_admin.stats()
    assert stats["faults"]["502"] == 1 and stats["faults"]["503"] == 1
    assert stats["by_status"]["502"] == 1 and stats["by_status"]["503"] == 1
    faults = await sim_admin.ledger(kind="fault")
    assert [(f["details"]["status"], f["details"]["lost"], f["details"]["method"]) for f in faults] == [
        (502, False, "GET"),
        (503, False, "GET"),
    ]
    assert faults[0]["details"]["path"] == "/api/v1/personas" and faults[0]["email"] == account.email
    await sim_admin.set_chaos()
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200


async def test_injected_429_looks_like_a_real_one(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(error_rates={"429": 1.0})
    limited = await api.get("/v1/personas", headers=account.headers)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await sim_admin.stats())["faults"]["429"] == 1


async def test_lost_response_on_generate_commits_post_and_charge(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(lost_response_rate=1.0, lost_response_mode="502", path_pattern="/v1/generate$")
    image = content.post_of("image")
    lost = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": image["id"], "persona_id": content.persona_id}
    )
    assert lost.status_code == 502 and lost.json()["error"]["code"] == "UPSTREAM_ERROR"
    generated = await sim_admin.ledger(kind="generate")
    charges = await sim_admin.ledger(kind="charge")
    assert len(generated) == 1 and len(charges) == 1
    assert charges[0]["generated_post_id"] == generated[0]["generated_post_id"]
    listed = await api.get(
        f"/v1/personas/{content.persona_id}/generated-posts",
        headers=account.headers,
        params={"source_post_id": image["id"]},
    )
    assert [post["id"] for post in listed.json()["data"]] == [generated[0]["generated_post_id"]]
    fault = (await sim_admin.ledger(kind="fault"))[0]
    assert fault["details"]["lost"] is True and fault["details"]["handler_status"] == 201
    assert (await sim_admin.stats())["faults"]["lost"] == 1


async def test_dropped_connection_after_commit(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(lost_response_rate=1.0, lost_response_mode="drop", path_pattern="generate$", max_faults=1)
    video = content.post_of("video")
    body = {"source_post_id": video["id"], "persona_id": content.persona_id}
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post("/v1/generate", headers=account.headers, json=body)
    assert len(await sim_admin.ledger(kind="generate")) == 1
    assert len(await sim_admin.ledger(kind="charge")) == 1
    # max_faults=1: the budget is spent, the next call is answered normally (and makes a duplicate).
    again = await api.post("/v1/generate", headers=account.headers, json=body)
    assert again.status_code == 201
    assert len(await sim_admin.ledger(kind="charge")) == 2
    stats = await sim_admin.stats()
    assert stats["faults"]["lost"] == 1 and stats["by_status"]["dropped"] == 1


async def test_latency_is_injected_and_counted(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(latency_ms=(20, 40))
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200
    assert (await sim_admin.stats())["faults"]["latency"] == 1
    fault = (await sim_admin.ledger(kind="fault"))[0]
    assert fault["details"]["code"] == "LATENCY" and 20 <= fault["details"]["latency_ms"] <= 40


async def test_chaos_config_is_validated(
    api: httpx.AsyncClient, simulator: SimulatorServer, sim_admin: SimulatorAdmin
) -> None:
    for invalid in ({"error_rates": {"502": 0.8, "503": 0.5}}, {"path_pattern": "("}, {"lost_response_rate": 2}):
        response = await api.put(f"{simulator.admin_url}/chaos", json=invalid)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    current = await sim_admin.set_chaos(error_rates={"502": 0.25}, methods=["post"])
    assert current.methods == ["POST"] and (await sim_admin.chaos()) == current
