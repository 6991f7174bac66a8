"""Late commits: a request held longer than the client waits still runs and commits afterwards."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiohttp import web
from sim_helpers import PASSWORD, Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin
from simulator.config import SimulatorConfig
from simulator.late_commit import LateCommits
from simulator.runtime import Simulator
from simulator.server import SimulatorServer
from simulator.web.app import build_app


async def test_timed_out_generate_commits_late_and_is_charged(
    simulator: SimulatorServer, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": 1.0, "path_pattern": "/v1/generate$"})
    body = {"source_post_id": content.post_of("image")["id"], "persona_id": content.persona_id}
    async with httpx.AsyncClient(base_url=simulator.base_url, timeout=0.3) as impatient:
        with pytest.raises(httpx.TimeoutException):
            await impatient.post("/v1/generate", headers=account.headers, json=body)
    assert await sim_admin.ledger(kind="generate") == []  # still held
    await asyncio.sleep(1.5)
    generated = await sim_admin.ledger(kind="generate")
    charges = await sim_admin.ledger(kind="charge")
    assert len(generated) == 1 and len(charges) == 1
    assert charges[0]["generated_post_id"] == generated[0]["generated_post_id"] and charges[0]["amount_cents"] == 25
    fault = (await sim_admin.ledger(kind="fault"))[0]
    assert fault["details"]["code"] == "LATE_COMMIT" and fault["details"]["client_gone"] is True
    assert fault["details"]["handler_status"] == 201 and fault["details"]["status"] is None
    assert fault["details"]["delay_seconds"] == 1.0 and fault["email"] == account.email
    stats = await sim_admin.stats()
    assert stats["faults"]["late_commit"] == 1 and stats["by_status"]["client_gone"] == 1
    assert simulator.simulator.late_commits.pending == 0


async def test_a_patient_client_gets_the_late_answer(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": 0.3, "methods": ["post"]}, max_faults=1)
    started = time.monotonic()
    created = await api.post("/v1/personas", headers=account.headers, json={"name": "P"})
    assert created.status_code == 201 and time.monotonic() - started >= 0.3
    assert "X-RateLimit-Remaining" in created.headers
    fault = (await sim_admin.ledger(kind="fault"))[0]
    assert fault["details"]["client_gone"] is False and fault["details"]["status"] == 201
    # max_faults is shared with every other fault: the budget is spent, the next POST is not held.
    started = time.monotonic()
    assert (await api.post("/v1/personas", headers=account.headers, json={"name": "Q"})).status_code == 201
    assert time.monotonic() - started < 0.3
    assert (await sim_admin.stats())["faults"]["late_commit"] == 1


async def test_only_matching_requests_are_held(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": 5, "path_pattern": "/v1/generate$"})
    started = time.monotonic()
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200
    assert (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).status_code == 201
    assert time.monotonic() - started < 1
    assert (await sim_admin.stats())["faults"]["late_commit"] == 0


async def test_waiting_does_not_depend_on_the_caller() -> None:
    """The shield: cancelling the awaiting handler (as aiohttp may on disconnect) leaves the work running."""
    held = LateCommits()
    done: list[str] = []

    async def work() -> str:
        done.append("committed")
        return "answer"

    waiter = asyncio.create_task(held.hold(0.05, work))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert held.pending == 1
    await asyncio.sleep(0.1)
    assert done == ["committed"] and held.pending == 0


async def test_commits_even_when_aiohttp_cancels_the_handler(localstripe: str) -> None:
    """With ``handler_cancellation=True`` aiohttp cancels a handler whose client left; the commit survives."""
    late = {"rate": 1.0, "delay_seconds": 0.5, "path_pattern": "signup$"}
    sim = Simulator(SimulatorConfig(port=0, time_scale=0.01, stripe_api_base=localstripe, chaos={"late_commit": late}))
    runner = web.AppRunner(build_app(sim), handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        sim.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/auth/signup"
        async with httpx.AsyncClient(timeout=0.2) as impatient:
            with pytest.raises(httpx.TimeoutException):
                await impatient.post(url, json={"email": "a@example.com", "password": PASSWORD})
        await asyncio.sleep(0.8)
        assert len(sim.core.ledger.entries(kind="signup")) == 1
        assert sim.stats.faults["late_commit"] == 1
    finally:
        await sim.aclose()
        await runner.cleanup()


async def test_reset_cancels_held_requests(
    api: httpx.AsyncClient, simulator: SimulatorServer, sim_admin: SimulatorAdmin
) -> None:
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": 0.5, "path_pattern": "signup$"})
    waiting = asyncio.create_task(api.post("/v1/auth/signup", json={"email": "a@example.com", "password": PASSWORD}))
    await asyncio.sleep(0.1)
    assert simulator.simulator.late_commits.pending == 1
    await sim_admin.reset()
    answer = await waiting
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    await asyncio.sleep(0.6)
    assert await sim_admin.ledger(kind="signup") == []


async def test_shutdown_cancels_held_requests_cleanly(localstripe: str) -> None:
    late = {"rate": 1.0, "delay_seconds": 30, "path_pattern": "signup$"}
    config = SimulatorConfig(port=0, time_scale=0.01, seed=3, stripe_api_base=localstripe, chaos={"late_commit": late})
    server = SimulatorServer(config)
    await server.start()
    sim = server.simulator
    signup = {"email": "a@example.com", "password": PASSWORD}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as patient:
        with pytest.raises(httpx.TimeoutException):
            await patient.post("/v1/auth/signup", json=signup, timeout=0.3)
        waiting = asyncio.create_task(patient.post("/v1/auth/signup", json=signup))
        await asyncio.sleep(0.2)
        assert sim.late_commits.pending == 2
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 5
        answer = await waiting
    assert answer.status_code == 503
    assert sim.late_commits.pending == 0 and sim.core.ledger.entries(kind="signup") == []


async def test_late_commit_config_is_validated(simulator: SimulatorServer, api: httpx.AsyncClient) -> None:
    for invalid in (
        {"late_commit": {"rate": 1.5}},
        {"late_commit": {"delay_seconds": 0}},
        {"late_commit": {"path_pattern": "("}},
        {"late_commit": {"delay": 3}},
    ):
        response = await api.put(f"{simulator.admin_url}/chaos", json=invalid)
        assert response.status_code == 400 and "late_commit" in response.json()["error"]["message"]
    current = (await api.get(f"{simulator.admin_url}/chaos")).json()["data"]["late_commit"]
    assert current == {"rate": 0.0, "delay_seconds": 35.0, "path_pattern": None, "methods": None}
