"""Per-key request budgets: headers on every /v1 answer, 429 in both reset formats, Retry-After."""

from __future__ import annotations

import asyncio
import time

import httpx
from sim_helpers import Onboard

from simulator.admin import SimulatorAdmin

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


async def test_headers_on_every_v1_response(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard()
    responses = [
        await api.get("/v1/personas", headers=account.headers),
        await api.get("/v1/personas"),
        await api.get("/v1/personas/missing", headers=account.headers),
        await api.get("/v1/no-such-route", headers=account.headers),
        await api.post("/v1/auth/signup", json={}),
    ]
    assert [r.status_code for r in responses] == [200, 401, 404, 404, 400]
    for response in responses:
        assert all(name in response.headers for name in HEADERS), response.headers
        assert response.headers["X-RateLimit-Limit"] == "120"
    assert responses[3].json()["error"]["code"] == "NOT_FOUND"
    admin = await api.get(responses[0].url.join("/_sim/health"))
    assert "X-RateLimit-Limit" not in admin.headers


async def test_429_with_unix_reset(api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin) -> None:
    account = await onboard()
    other = await onboard("other@example.com")
    await sim_admin.patch_config({"rate_limit": {"limit": 3, "window_seconds": 30, "reset_format": "unix"}})
    remaining = [
        (await api.get("/v1/personas", headers=account.headers)).headers["X-RateLimit-Remaining"] for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
    limited = await api.get("/v1/personas", headers=account.headers)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 31
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # Another key has its own budget.
    assert (await api.get("/v1/personas", headers=other.headers)).status_code == 200


async def test_429_with_seconds_reset_and_no_retry_after(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.patch_config(
        {"rate_limit": {"limit": 1, "window_seconds": 20, "reset_format": "seconds", "retry_after": False}}
    )
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200
    limited = await api.get("/v1/personas", headers=account.headers)
    assert limited.status_code == 429
    assert 0 <= int(limited.headers["X-RateLimit-Reset"]) <= 20
    assert "Retry-After" not in limited.headers


async def test_window_resets_on_the_real_clock(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.patch_config({"rate_limit": {"limit": 1, "window_seconds": 0.3}})
    await api.get("/v1/personas", headers=account.headers)
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 429
    await sim_admin.advance_clock(3600)  # simulated time does not refill the budget
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 429
    await asyncio.sleep(0.35)
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200
