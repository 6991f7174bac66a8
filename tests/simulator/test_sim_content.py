"""The content loop on the wire: personas, sources, sync, source posts, generation, approval, delivery."""

from __future__ import annotations

from typing import Any

import httpx
from sim_helpers import Account, Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin


async def _generate(api: httpx.AsyncClient, account: Account, persona_id: str, source_post_id: object) -> str:
    response = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": source_post_id, "persona_id": persona_id}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["generated_post_id"])


async def _post(api: httpx.AsyncClient, account: Account, post_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/generated-posts/{post_id}", headers=account.headers)
    assert response.status_code == 200
    return dict(response.json()["data"])


async def test_persona_crud(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard()
    created = await api.post(
        "/v1/personas", headers=account.headers, json={"name": "My Creator", "writing_style": "Casual"}
    )
    assert created.status_code == 201
    persona = created.json()["data"]
    assert set(persona) == {"id", "name", "writing_style", "created_at"}
    assert (await api.get("/v1/personas", headers=account.headers)).json()["data"] == [persona]
    assert (await api.get(f"/v1/personas/{persona['id']}", headers=account.headers)).json()["data"] == persona
    patched = await api.patch(f"/v1/personas/{persona['id']}", headers=account.headers, json={"name": "Renamed"})
    assert patched.json()["data"]["name"] == "Renamed"
    missing = await api.get("/v1/personas/no-such-id", headers=account.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    invalid = await api.post("/v1/personas", headers=account.headers, json={"writing_style": "x"})
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_other_users_resources_are_not_found(api: httpx.AsyncClient, onboard: Onboard) -> None:
    owner = await onboard("owner@example.com")
    other = await onboard("other@example.com")
    persona = await api.post("/v1/personas", headers=owner.headers, json={"name": "Mine", "writing_style": ""})
    persona_id = persona.json()["data"]["id"]
    assert (await api.get(f"/v1/personas/{persona_id}", headers=other.headers)).status_code == 404
    assert (await api.get("/v1/personas", headers=other.headers)).json()["data"] == []


async def test_sources_and_duplicate_conflict(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard()
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["data"]["id"]
    path = f"/v1/personas/{persona_id}/sources"
    created = await api.post(
        path, headers=account.headers, json={"platform": "instagram", "username": "Target_Creator"}
    )
    assert created.status_code == 201
    source = created.json()["data"]
    assert source["automation_mode"] == "sync_only" and source["last_synced_at"] is None
    assert source["username"] == "Target_Creator"
    duplicate = await api.post(
        path, headers=account.headers, json={"platform": "instagram", "username": "@target_creator"}
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "CONFLICT"
    bad_platform = await api.post(path, headers=account.headers, json={"platform": "myspace", "username": "x"})
    assert bad_platform.status_code == 400
    patched = await api.patch(f"{path}/{source['id']}", headers=account.headers, json={"automation_mode": "auto_clone"})
    assert patched.json()["data"]["automation_mode"] == "auto_clone"
    bad_mode = await api.patch(f"{path}/{source['id']}", headers=account.headers, json={"automation_mode": "yolo"})
    assert bad_mode.status_code == 400
    listed = (await api.get(path, headers=account.headers)).json()["data"]
    assert [item["id"] for item in listed] == [source["id"]]


async def test_sync_job_lifecycle_and_cooldown(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["data"]["id"]
    for username in ("one", "two"):
        await api.post(
            f"/v1/personas/{persona_id}/sources",
            headers=account.headers,
            json={"platform": "tiktok", "username": username},
        )
    started = await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    job_ids = started.json()["job_ids"]
    assert len(job_ids) == 2
    first = (await api.get(f"/v1/sync-jobs/{job_ids[0]}", headers=account.headers)).json()["data"]
    assert first["status"] in ("pending", "running")
    assert (await api.get(f"/v1/personas/{persona_id}/source-posts", headers=account.headers)).json()["data"] == []
    await sim_admin.advance_clock(300)
    for job_id in job_ids:
        job = (await api.get(f"/v1/sync-jobs/{job_id}", headers=account.headers)).json()["data"]
        assert job["status"] == "completed" and job["new_posts"] == 6 and job["finished_at"]
    posts = (await api.get(f"/v1/personas/{persona_id}/source-posts", headers=account.headers)).json()["data"]
    assert len(posts) == 12
    assert {post["media_type"] for post in posts} == {"image", "carousel", "video"}
    assert len({(p["creator_id"], p["platform"], p["platform_post_id"]) for p in posts}) == 12
    # Within 15 minutes of the last sync: skipped at once.
    again = await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    skipped = (await api.get(f"/v1/sync-jobs/{again.json()['job_ids'][0]}", headers=account.headers)).json()["data"]
    assert skipped["status"] == "skipped"
    # After the cooldown it runs again, and only new posts count.
    await sim_admin.advance_clock(900)
    await sim_admin.add_creator_posts("tiktok", "one", posts=[{"media_type": "video", "caption": "fresh"}])
    later = await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)
    later_ids = later.json()["job_ids"]
    assert (await api.get(f"/v1/sync-jobs/{later_ids[0]}", headers=account.headers)).json()["data"][
        "status"
    ] != "skipped"
    await sim_admin.advance_clock(300)
    new_counts = [
        (await api.get(f"/v1/sync-jobs/{job_id}", headers=account.headers)).json()["data"]["new_posts"]
        for job_id in later_ids
    ]
    assert sorted(new_counts) == [0, 1]
    sources = (await api.get(f"/v1/personas/{persona_id}/sources", headers=account.headers)).json()["data"]
    assert all(source["last_synced_at"] for source in sources)
    assert (await api.get("/v1/sync-jobs/unknown", headers=account.headers)).status_code == 404


async def test_generate_poll_approve_deliver(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    carousel = content.post_of("carousel")
    post_id = await _generate(api, account, content.persona_id, carousel["id"])
    post = await _post(api, account, post_id)
    assert post["status"] == "generating" and post["source_post_id"] == carousel["id"] and post["origin"] == "api"
    items = post["media_items"]
    assert isinstance(items, list) and len(items) == 3
    assert {item["type"] for item in items} == {"image"}
    assert all(item["status"] in ("pending", "processing") for item in items)
    await sim_admin.advance_clock(90)
    post = await _post(api, account, post_id)
    assert post["status"] == "ready"
    assert all(item["status"] == "completed" and item["url"] for item in post["media_items"])
    media = await api.get(post["media_items"][0]["url"])
    assert media.status_code == 200 and media.headers["Content-Type"] == "image/png"
    # No publishing target yet: 400, and the post stays ready.
    refused = await api.post(f"/v1/generated-posts/{post_id}/approve", headers=account.headers)
    assert refused.status_code == 400 and "publishing targets" in refused.json()["error"]["message"]
    accounts = [await sim_admin.connect_account(account.email, platform, "me") for platform in ("tiktok", "x")]
    listed = (await api.get("/v1/publishing/accounts", headers=account.headers)).json()["data"]
    assert {item["id"] for item in listed} == {item["id"] for item in accounts}
    assert all(item["status"] == "connected" for item in listed)
    for connected in accounts:
        target = await api.post(
            f"/v1/personas/{content.persona_id}/publishing-targets",
            headers=account.headers,
            json={"connected_account_id": connected["id"]},
        )
        assert target.status_code == 201
    twice = await api.post(
        f"/v1/personas/{content.persona_id}/publishing-targets",
        headers=account.headers,
        json={"connected_account_id": accounts[0]["id"]},
    )
    assert twice.status_code == 409
    targets = await api.get(f"/v1/personas/{content.persona_id}/publishing-targets", headers=account.headers)
    assert len(targets.json()["data"]) == 2
    approved = await api.post(f"/v1/generated-posts/{post_id}/approve", headers=account.headers)
    assert approved.status_code == 200
    assert approved.json()["status"] == "publishing"
    outgoing_id = approved.json()["outgoing_post_id"]
    again = await api.post(f"/v1/generated-posts/{post_id}/approve", headers=account.headers)
    assert again.status_code == 409
    outgoing = (await api.get(f"/v1/publishing/posts/{outgoing_id}", headers=account.headers)).json()["post"]
    assert outgoing["id"] == outgoing_id and len(outgoing["deliveries"]) == 2
    assert all(d["status"] in ("pending", "publishing") for d in outgoing["deliveries"])
    await sim_admin.advance_clock(60)
    outgoing = (await api.get(f"/v1/publishing/posts/{outgoing_id}", headers=account.headers)).json()["post"]
    assert [d["status"] for d in outgoing["deliveries"]] == ["published", "published"]
    assert outgoing["status"] == "done"
    assert (await _post(api, account, post_id))["status"] == "published"
    assert len(await sim_admin.ledger(kind="delivery")) == 2
    assert (await api.get("/v1/publishing/posts/nope", headers=account.headers)).status_code == 404


async def test_generate_twice_makes_two_posts_and_two_charges(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    video = content.post_of("video")
    first = await _generate(api, account, content.persona_id, video["id"])
    second = await _generate(api, account, content.persona_id, video["id"])
    assert first != second
    listed = await api.get(
        f"/v1/personas/{content.persona_id}/generated-posts",
        headers=account.headers,
        params={"source_post_id": video["id"]},
    )
    assert {post["id"] for post in listed.json()["data"]} == {first, second}
    charges = await sim_admin.ledger(kind="charge")
    assert [entry["amount_cents"] for entry in charges] == [100, 100]
    assert {entry["generated_post_id"] for entry in charges} == {first, second}
    balance = (await api.get("/v1/billing/balance", headers=account.headers)).json()["data"]
    assert balance["balance_cents"] == 800


async def test_generate_unknown_or_unsynced_post_is_not_found(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    persona_id = (await api.post("/v1/personas", headers=account.headers, json={"name": "P"})).json()["data"]["id"]
    await api.post(
        f"/v1/personas/{persona_id}/sources", headers=account.headers, json={"platform": "x", "username": "who"}
    )
    # The creator exists (with a backlog) but this persona has not synced it yet.
    state = await sim_admin.state()
    unsynced = state["source_posts"][0]["id"]
    for source_post_id in (unsynced, "nope"):
        response = await api.post(
            "/v1/generate", headers=account.headers, json={"source_post_id": source_post_id, "persona_id": persona_id}
        )
        assert response.status_code == 404


async def test_reject_and_send_to_compose(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    image = content.post_of("image")
    to_reject = await _generate(api, account, content.persona_id, image["id"])
    to_compose = await _generate(api, account, content.persona_id, image["id"])
    early = await api.post(f"/v1/generated-posts/{to_compose}/send-to-compose", headers=account.headers)
    assert early.status_code == 400
    await sim_admin.advance_clock(90)
    rejected = await api.post(
        f"/v1/generated-posts/{to_reject}/reject", headers=account.headers, json={"reason": "off-brand"}
    )
    assert rejected.status_code == 200
    assert rejected.json()["data"]["status"] == "rejected"
    assert rejected.json()["data"]["rejection_reason"] == "off-brand"
    assert (await api.post(f"/v1/generated-posts/{to_reject}/reject", headers=account.headers)).status_code == 409
    approve_rejected = await api.post(f"/v1/generated-posts/{to_reject}/approve", headers=account.headers)
    assert approve_rejected.status_code == 400
    composed = await api.post(f"/v1/generated-posts/{to_compose}/send-to-compose", headers=account.headers)
    assert composed.status_code == 200 and composed.json()["data"]["status"] == "composing"
    kinds = [entry["kind"] for entry in await sim_admin.ledger(kind="reject,compose")]
    assert kinds == ["reject", "compose"]


async def test_media_and_delivery_failures(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.patch_config({"media_failure_rate": 1.0})
    failing = await _generate(api, account, content.persona_id, content.post_of("image")["id"])
    await sim_admin.advance_clock(90)
    post = await _post(api, account, failing)
    assert post["status"] == "failed"
    assert [item["status"] for item in post["media_items"]] == ["failed"]
    await sim_admin.patch_config({"media_failure_rate": 0.0, "delivery_failure_rate": 1.0})
    connected = await sim_admin.connect_account(account.email, "youtube", "me")
    await api.post(
        f"/v1/personas/{content.persona_id}/publishing-targets",
        headers=account.headers,
        json={"connected_account_id": connected["id"]},
    )
    ok = await _generate(api, account, content.persona_id, content.post_of("image")["id"])
    await sim_admin.advance_clock(90)
    outgoing_id = (await api.post(f"/v1/generated-posts/{ok}/approve", headers=account.headers)).json()[
        "outgoing_post_id"
    ]
    await sim_admin.advance_clock(60)
    deliveries = (await api.get(f"/v1/publishing/posts/{outgoing_id}", headers=account.headers)).json()["post"][
        "deliveries"
    ]
    assert deliveries[0]["status"] == "failed" and deliveries[0]["error"]


async def test_durations_follow_overrides(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.patch_config({"durations_seconds": {"video": [500, 500]}})
    post_id = await _generate(api, account, content.persona_id, content.post_of("video")["id"])
    # the clock also runs (100 simulated seconds per real one): leave room for a slow machine
    await sim_admin.advance_clock(400)
    assert (await _post(api, account, post_id))["status"] == "generating"
    await sim_admin.advance_clock(100)
    assert (await _post(api, account, post_id))["status"] == "ready"
