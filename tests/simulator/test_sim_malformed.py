"""Malformed answers on demand: HTML error pages, truncated JSON, missing fields, unknown statuses.

Each kind is applied after the handler ran, so the side effect is committed and only the answer is
unusable; the tests check the wire (status, content type, body) and the ground truth (ledger, stats).
"""

from __future__ import annotations

import json

import httpx
import pytest
from sim_helpers import Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin
from simulator.malformed import HTML_502_PAGE, corrupt, has_status, strip_required, with_status
from simulator.server import SimulatorServer


async def test_html_502_page_replaces_a_committed_answer(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(malformed_rates={"html_502": 1.0}, path_pattern="/v1/personas$", methods=["POST"])
    answer = await api.post("/v1/personas", headers=account.headers, json={"name": "Hidden", "writing_style": "x"})
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in answer.text
    assert "X-RateLimit-Remaining" not in answer.headers  # a proxy's page, not the API's answer
    await sim_admin.set_chaos()
    listed = (await api.get("/v1/personas", headers=account.headers)).json()["data"]
    assert [persona["name"] for persona in listed] == ["Hidden"]  # committed before the answer was replaced
    fault = (await sim_admin.ledger(kind="fault"))[0]
    assert fault["details"] == {
        "code": "MALFORMED_RESPONSE",
        "status": 502,
        "lost": False,
        "path": "/api/v1/personas",
        "method": "POST",
        "malformed": "html_502",
        "handler_status": 201,
    }
    stats = await sim_admin.stats()
    assert stats["faults"]["html_502"] == 1 and stats["by_status"]["502"] == 1


async def test_html_200_page_on_generate_still_charges(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(malformed_rates={"html_200": 1.0}, path_pattern="/v1/generate$")
    image = content.post_of("image")
    answer = await api.post(
        "/v1/generate", headers=account.headers, json={"source_post_id": image["id"], "persona_id": content.persona_id}
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()
    assert len(await sim_admin.ledger(kind="generate")) == 1
    assert len(await sim_admin.ledger(kind="charge")) == 1
    assert (await sim_admin.stats())["faults"]["html_200"] == 1


async def test_truncated_json_keeps_status_and_rate_limit_headers(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(malformed_rates={"invalid_json": 1.0})
    answer = await api.get("/v1/billing/balance", headers=account.headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert "X-RateLimit-Remaining" in answer.headers
    assert answer.content.startswith(b'{"data"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert (await sim_admin.stats())["faults"]["invalid_json"] == 1


async def test_missing_fields_in_bare_enveloped_and_empty_answers(
    api: httpx.AsyncClient, onboard: Onboard, synced_persona: SyncedPersona, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard(topup=1000)
    content = await synced_persona(account)
    await sim_admin.set_chaos(malformed_rates={"missing_fields": 1.0})
    body = {"source_post_id": content.post_of("image")["id"], "persona_id": content.persona_id}
    generated = await api.post("/v1/generate", headers=account.headers, json=body)
    assert generated.status_code == 201 and "generated_post_id" not in generated.json()
    listed = (await api.get(f"/v1/personas/{content.persona_id}/generated-posts", headers=account.headers)).json()
    assert "id" not in listed["data"][0] and "status" not in listed["data"][0]
    assert listed["data"][0]["source_post_id"] == body["source_post_id"]
    empty = await api.get(f"/v1/personas/{content.persona_id}/publishing-targets", headers=account.headers)
    assert empty.status_code == 200 and empty.json() == {}
    assert (await sim_admin.stats())["faults"]["missing_fields"] == 3
    assert len(await sim_admin.ledger(kind="charge")) == 1


async def test_unknown_status_rewrites_every_status_and_skips_answers_without_one(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    persona = await api.post("/v1/personas", headers=account.headers, json={"name": "P", "writing_style": "x"})
    persona_id = persona.json()["data"]["id"]
    await api.post(
        f"/v1/personas/{persona_id}/sources",
        headers=account.headers,
        json={"platform": "instagram", "username": "creator_one"},
    )
    job_id = (await api.post(f"/v1/personas/{persona_id}/sync", headers=account.headers)).json()["job_ids"][0]
    await sim_admin.advance_clock(301)
    await sim_admin.set_chaos(malformed_rates={"unknown_status": 1.0}, max_faults=1)
    # No status field in a persona: the kind does not apply, nothing is injected, the budget is kept.
    plain = await api.get(f"/v1/personas/{persona_id}", headers=account.headers)
    assert plain.json()["data"]["name"] == "P"
    job = (await api.get(f"/v1/sync-jobs/{job_id}", headers=account.headers)).json()["data"]
    assert job["status"] == "exploded" and job["new_posts"] == 6
    again = (await api.get(f"/v1/sync-jobs/{job_id}", headers=account.headers)).json()["data"]
    assert again["status"] == "completed"  # max_faults=1: spent by the sync job, not by the persona
    await sim_admin.set_chaos(malformed_rates={"unknown_status": 1.0}, unknown_status_value="on_fire")
    job = (await api.get(f"/v1/sync-jobs/{job_id}", headers=account.headers)).json()["data"]
    assert job["status"] == "on_fire"
    faults = await sim_admin.ledger(kind="fault")
    assert [f["details"]["malformed"] for f in faults] == ["unknown_status", "unknown_status"]
    assert (await sim_admin.stats())["faults"]["unknown_status"] == 2


async def test_success_kinds_leave_error_answers_alone(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(malformed_rates={"html_200": 0.5, "invalid_json": 0.5})
    missing = await api.get("/v1/personas/no-such-persona", headers=account.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert await sim_admin.ledger(kind="fault") == []


async def test_filters_and_lost_responses_take_precedence(
    api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin
) -> None:
    account = await onboard()
    await sim_admin.set_chaos(malformed_rates={"html_502": 1.0}, path_pattern="/v1/personas$", methods=["POST"])
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200
    assert (await api.get("/v1/billing/balance", headers=account.headers)).status_code == 200
    await sim_admin.set_chaos(lost_response_rate=1.0, malformed_rates={"invalid_json": 1.0})
    lost = await api.get("/v1/personas", headers=account.headers)
    assert lost.status_code == 502 and lost.json()["error"]["code"] == "UPSTREAM_ERROR"
    stats = await sim_admin.stats()
    assert stats["faults"]["lost"] == 1 and stats["faults"]["invalid_json"] == 0


async def test_malformed_config_is_validated(simulator: SimulatorServer, api: httpx.AsyncClient) -> None:
    for invalid in (
        {"malformed_rates": {"html_502": 0.6, "invalid_json": 0.6}},
        {"malformed_rates": {"garbled": 0.1}},
        {"unknown_status_value": ""},
    ):
        response = await api.put(f"{simulator.admin_url}/chaos", json=invalid)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_strip_required_always_leaves_the_client_without_a_promised_field() -> None:
    assert strip_required({"generated_post_id": "g1"}) == {}
    assert strip_required({"job_ids": ["j"], "jobs": []}) == {"jobs": []}
    assert strip_required({"data": {"id": "p", "name": "n"}}) == {"data": {"name": "n"}}
    assert strip_required({"data": {"name": "n"}}) == {"data": {}}
    assert strip_required({"data": [{"id": "a", "x": 1}, {"id": "b"}]}) == {"data": [{"x": 1}, {"id": "b"}]}
    assert strip_required({"data": []}) == {}
    # a publishing post loses its promised deliveries, a generated post its promised media items
    assert strip_required({"post": {"id": "o", "deliveries": [], "x": 1}}) == {"post": {"x": 1}}
    rendered = {"data": {"media_items": [{"status": "completed"}], "caption": "c"}}
    assert strip_required(rendered) == {"data": {"caption": "c"}}
    # Bare lists (guide answers): the first item loses its id; an empty one is not a list any more.
    assert strip_required([{"id": "a"}, {"id": "b"}]) == [{}, {"id": "b"}]
    assert strip_required([]) == {}


def test_status_rewrite_reaches_nested_items() -> None:
    post = {"data": {"status": "ready", "media_items": [{"status": "completed"}], "outgoing_post_id": None}}
    assert has_status(post) and not has_status({"data": [{"name": "x"}]})
    rewritten = with_status(post, "exploded")
    assert rewritten["data"]["status"] == "exploded"
    assert rewritten["data"]["media_items"][0]["status"] == "exploded"
    assert post["data"]["status"] == "ready"  # a copy


def test_corrupt_applies_only_where_it_can() -> None:
    body = json.dumps({"data": {"id": "x", "status": "ok"}}).encode()
    page = corrupt("html_502", 404, None, None, "exploded")
    assert page is not None and page.status == 502 and page.body == HTML_502_PAGE.encode()
    assert corrupt("html_200", 404, body, "application/json", "exploded") is None
    assert corrupt("invalid_json", 200, b"\x89PNG", "image/png", "exploded") is None
    assert corrupt("unknown_status", 200, b'{"data": []}', "application/json", "exploded") is None
    truncated = corrupt("invalid_json", 201, body, "application/json", "exploded")
    assert truncated is not None and truncated.status == 201 and truncated.keep_api_headers
    with pytest.raises(ValueError):
        json.loads(truncated.body)
