"""The admin API: health, clock, config, creators, state, reset, mailbox, and the typed client."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sim_helpers import Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin, SimulatorAdminError
from simulator.server import SimulatorServer


async def test_health_and_clock_advance(sim_admin: SimulatorAdmin, simulator: SimulatorServer) -> None:
    health = await sim_admin.health()
    assert health["status"] == "ok" and health["time_scale"] == 0.01 and health["seed"] == 1234
    before = datetime.fromisoformat(health["sim_now"])
    after = datetime.fromisoformat(await sim_admin.advance_clock(3600))
    assert (after - before).total_seconds() >= 3600
    assert simulator.admin_url == f"{simulator.origin}/_sim" and simulator.base_url == f"{simulator.origin}/api"


async def test_config_patch_and_validation(sim_admin: SimulatorAdmin) -> None:
    config = await sim_admin.config()
    assert config["costs_cents"] == {"image": 25, "video": 100}
    assert config["durations_seconds"]["video"] == [60, 300]
    assert config["sync_cooldown_seconds"] == 900 and config["signup_limit"] == 5
    assert config["rate_limit"] == {"limit": 120, "window_seconds": 60, "reset_format": "unix", "retry_after": True}
    patched = await sim_admin.patch_config({"costs_cents": {"video": 150}, "durations_seconds": {"image": [5, 6]}})
    assert patched["costs_cents"] == {"image": 25, "video": 150}
    assert patched["durations_seconds"]["image"] == [5, 6] and patched["durations_seconds"]["video"] == [60, 300]
    for invalid in (
        {"media_failure_rate": 1.5},
        {"durations_seconds": {"sync": [10, 1]}},
        {"no_such_knob": 1},
        {"rate_limit": {"reset_format": "iso"}},
    ):
        with pytest.raises(SimulatorAdminError) as error:
            await sim_admin.patch_config(invalid)
        assert error.value.status == 400
    assert (await sim_admin.config())["costs_cents"]["video"] == 150


async def test_costs_follow_config(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.patch_config({"costs_cents": {"image": 10}})
    carousel = content.post_of("carousel")
    await api.post(
        "/v1/generate",
        headers=account.headers,
        json={"source_post_id": carousel["id"], "persona_id": content.persona_id},
    )
    charge = (await sim_admin.ledger(kind="charge"))[0]
    assert charge["amount_cents"] == 30
    assert charge["persona_id"] == content.persona_id and charge["source_post_id"] == carousel["id"]


async def test_creator_posts_appear_after_next_sync(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    content = await synced_persona(account, username="growing")
    added = await sim_admin.add_creator_posts("instagram", "growing", count=4)
    assert [post["media_type"] for post in added] == ["image", "carousel", "video", "image"]
    videos = await sim_admin.add_creator_posts("instagram", "growing", count=2, media_type="video")
    assert {post["media_type"] for post in videos} == {"video"}
    visible = await api.get(f"/v1/personas/{content.persona_id}/source-posts", headers=account.headers)
    assert len(visible.json()["data"]) == 6
    await sim_admin.advance_clock(900)
    await api.post(f"/v1/personas/{content.persona_id}/sync", headers=account.headers)
    await sim_admin.advance_clock(300)
    visible = await api.get(f"/v1/personas/{content.persona_id}/source-posts", headers=account.headers)
    assert len(visible.json()["data"]) == 12
    with pytest.raises(SimulatorAdminError):
        await sim_admin.add_creator_posts("myspace", "x", count=1)


async def test_unknown_user_is_not_found(sim_admin: SimulatorAdmin) -> None:
    with pytest.raises(SimulatorAdminError) as error:
        await sim_admin.connect_account("nobody@example.com", "x", "me")
    assert error.value.status == 404 and error.value.code == "NOT_FOUND"
    assert await sim_admin.mailbox("nobody@example.com") == []


async def test_state_has_no_secrets(onboard: Onboard, sim_admin: SimulatorAdmin) -> None:
    account = await onboard(card=True)
    state = await sim_admin.state()
    assert [user["email"] for user in state["users"]] == [account.email]
    assert state["users"][0]["balance_cents"] == 500
    text = str(state)
    assert account.key not in text and "password" not in text and "key_hash" not in text


async def test_reset_empties_state_and_keeps_config(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.patch_config({"signup_limit": 9})
    await sim_admin.set_chaos(latency_ms=(0, 1))
    await sim_admin.reset()
    state = await sim_admin.state()
    assert state["users"] == [] and state["personas"] == []
    assert await sim_admin.ledger() == []
    assert (await sim_admin.stats())["requests"] == 0
    assert (await sim_admin.config())["signup_limit"] == 9
    assert (await sim_admin.chaos()).latency_ms == (0, 1)
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 401
    await sim_admin.reset(config=True, chaos=True)
    assert (await sim_admin.config())["signup_limit"] == 5
    assert (await sim_admin.chaos()).latency_ms is None


async def test_same_seed_same_backlog(
    onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    first = await synced_persona(await onboard("one@example.com"), username="seeded")
    captions = [post["caption"] for post in first.posts]
    await sim_admin.reset()
    second = await synced_persona(await onboard("two@example.com"), username="seeded")
    assert [post["caption"] for post in second.posts] == captions
    assert [post["id"] for post in second.posts] == [post["id"] for post in first.posts]
