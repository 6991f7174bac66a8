"""Idempotency keys (off by default): a repeated key on a POST returns the first answer, acting once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sim_helpers import PASSWORD, Account, Content, Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin
from simulator.idempotency import IdempotencyStore, KeyReused, StoredAnswer
from simulator.server import SimulatorServer


@pytest.fixture
async def keys_on(sim_admin: SimulatorAdmin) -> None:
    await sim_admin.patch_config({"idempotency_keys": True})


async def _generate(
    api: httpx.AsyncClient, account: Account, content: Content, key: str, media_type: str = "image"
) -> httpx.Response:
    body = {"source_post_id": content.post_of(media_type)["id"], "persona_id": content.persona_id}
    return await api.post("/v1/generate", headers={**account.headers, "Idempotency-Key": key}, json=body)


async def test_repeated_key_returns_the_first_answer_without_acting(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    first = await _generate(api, account, content, "k-1")
    again = await _generate(api, account, content, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers and "X-RateLimit-Remaining" in again.headers
    assert len(await sim_admin.ledger(kind="generate")) == 1 and len(await sim_admin.ledger(kind="charge")) == 1
    replay = (await sim_admin.ledger(kind="idempotent_replay"))[0]
    assert replay["details"] == {"key": "k-1", "method": "POST", "path": "/api/v1/generate", "status": 201}
    assert replay["email"] == account.email
    # Another key is another request.
    other = await _generate(api, account, content, "k-2")
    assert other.status_code == 201 and other.json() != first.json()
    assert len(await sim_admin.ledger(kind="generate")) == 2


async def test_retry_after_a_lost_answer_gets_what_was_committed(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(lost_response_rate=1.0, path_pattern="/v1/generate$", max_faults=1)
    lost = await _generate(api, account, content, "retry-me")
    assert lost.status_code == 502
    retried = await _generate(api, account, content, "retry-me")
    generated = await sim_admin.ledger(kind="generate")
    assert retried.status_code == 201 and len(generated) == 1
    assert retried.json() == {"generated_post_id": generated[0]["generated_post_id"]}


async def test_a_late_commit_after_the_retry_replays_instead_of_acting(
    simulator: SimulatorServer,
    api: httpx.AsyncClient,
    onboard: Onboard,
    synced_persona: SyncedPersona,
    sim_admin: SimulatorAdmin,
    keys_on: None,
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": 1.0}, path_pattern="generate$", max_faults=1)
    async with httpx.AsyncClient(base_url=simulator.base_url, timeout=0.3) as impatient:
        with pytest.raises(httpx.TimeoutException):
            await _generate(impatient, account, content, "slow-proxy")
    retried = await _generate(api, account, content, "slow-proxy")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    await asyncio.sleep(1.2)
    assert len(await sim_admin.ledger(kind="generate")) == 1
    assert len(await sim_admin.ledger(kind="idempotent_replay")) == 1
    late = (await sim_admin.ledger(kind="fault"))[0]["details"]
    assert late["code"] == "LATE_COMMIT" and late["client_gone"] is True and late["handler_status"] == 201


async def test_the_first_answer_is_kept_even_when_it_is_an_error(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    account = await onboard()
    content = await synced_persona(account)
    short = await _generate(api, account, content, "poor")
    assert short.status_code == 402
    await sim_admin.topup(account.email, 1000)
    still = await _generate(api, account, content, "poor")
    assert still.status_code == 402 and still.json() == short.json()
    assert await sim_admin.ledger(kind="generate") == []
    assert (await _generate(api, account, content, "rich")).status_code == 201


async def test_key_reused_for_another_request_is_refused(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    assert (await _generate(api, account, content, "same", "image")).status_code == 201
    reused = await _generate(api, account, content, "same", "video")
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in reused.json()["error"]["message"]
    too_long = await _generate(api, account, content, "x" * 256, "video")
    assert too_long.status_code == 400 and "Idempotency-Key" in too_long.json()["error"]["message"]
    assert len(await sim_admin.ledger(kind="generate")) == 1


async def test_keys_are_per_caller(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    alice, bob = await onboard("alice@example.com", topup=1000), await onboard("bob@example.com", topup=1000)
    alice_content, bob_content = await synced_persona(alice), await synced_persona(bob)
    assert (await _generate(api, alice, alice_content, "shared")).status_code == 201
    bob_answer = await _generate(api, bob, bob_content, "shared")
    assert bob_answer.status_code == 201 and "Idempotent-Replayed" not in bob_answer.headers
    assert len(await sim_admin.ledger(kind="generate")) == 2


async def test_signup_without_a_token_is_keyed_by_client_ip(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    body = {"email": "once@example.com", "password": PASSWORD}
    first = await api.post("/v1/auth/signup", json=body, headers={"Idempotency-Key": "signup-1"})
    again = await api.post("/v1/auth/signup", json=body, headers={"Idempotency-Key": "signup-1"})
    assert first.status_code == again.status_code == 201 and again.content == first.content
    assert len(await sim_admin.ledger(kind="signup")) == 1 and len(await sim_admin.mailbox("once@example.com")) == 1


async def test_concurrent_duplicates_act_once(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin, keys_on: None
) -> None:
    account = await onboard()
    headers = {**account.headers, "Idempotency-Key": "card-1"}
    answers = await asyncio.gather(*(api.post("/v1/billing/setup-intent", headers=headers) for _ in range(4)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["client_secret"] for answer in answers}) == 1
    assert len(await sim_admin.ledger(kind="setup_intent")) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 3


async def test_a_duplicate_in_flight_waits_for_the_first() -> None:
    store = IdempotencyStore()
    release = asyncio.Event()
    calls: list[str] = []

    async def slow() -> StoredAnswer:
        calls.append("first")
        await release.wait()
        return StoredAnswer(201, b'{"id": "1"}', "application/json")

    async def never() -> StoredAnswer:
        raise AssertionError("a duplicate must not act")

    first = asyncio.create_task(store.run("me", "k", "fp", slow))
    await asyncio.sleep(0.01)
    duplicate = asyncio.create_task(store.run("me", "k", "fp", never))
    await asyncio.sleep(0.05)
    assert not duplicate.done() and calls == ["first"]
    release.set()
    assert await first == (StoredAnswer(201, b'{"id": "1"}', "application/json"), False)
    assert await duplicate == (StoredAnswer(201, b'{"id": "1"}', "application/json"), True)
    with pytest.raises(KeyReused):
        await store.run("me", "k", "another request", never)


async def test_a_duplicate_acts_itself_when_the_first_was_cancelled() -> None:
    store = IdempotencyStore()

    async def stuck() -> StoredAnswer:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def quick() -> StoredAnswer:
        return StoredAnswer(200, b"{}", "application/json")

    first = asyncio.create_task(store.run("me", "k", "fp", stuck))
    await asyncio.sleep(0.01)
    duplicate = asyncio.create_task(store.run("me", "k", "fp", quick))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await duplicate == (StoredAnswer(200, b"{}", "application/json"), False)


async def test_header_is_ignored_when_off(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    assert (await sim_admin.config())["idempotency_keys"] is False
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    first = await _generate(api, account, content, "k-1")
    again = await _generate(api, account, content, "k-1")
    assert first.status_code == again.status_code == 201 and first.json() != again.json()
    assert "Idempotent-Replayed" not in again.headers
    assert len(await sim_admin.ledger(kind="generate")) == 2 and len(await sim_admin.ledger(kind="charge")) == 2
    assert (await _generate(api, account, content, "x" * 300)).status_code == 201
