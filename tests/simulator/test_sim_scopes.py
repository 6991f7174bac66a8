"""Every authenticated route checks its scopes: the SPEC's table, and a 403 for each missing scope."""

from __future__ import annotations

import httpx
from sim_helpers import PASSWORD, fragment_of

from simulator.admin import SimulatorAdmin
from simulator.models import ALL_SCOPES
from simulator.web import routes_billing, routes_content, routes_personas

EXPECTED = {
    ("GET", "/v1/billing/balance"): ("billing:read",),
    ("PATCH", "/v1/billing/balance"): ("billing:write",),
    ("POST", "/v1/billing/setup-intent"): ("billing:write",),
    ("POST", "/v1/billing/topup"): ("billing:write",),
    ("POST", "/v1/personas"): ("personas:write",),
    ("GET", "/v1/personas"): ("personas:read",),
    ("GET", "/v1/personas/{persona_id}"): ("personas:read",),
    ("PATCH", "/v1/personas/{persona_id}"): ("personas:write",),
    ("POST", "/v1/personas/{persona_id}/sources"): ("sources:write",),
    ("GET", "/v1/personas/{persona_id}/sources"): ("sources:read",),
    ("PATCH", "/v1/personas/{persona_id}/sources/{source_id}"): ("sources:write",),
    ("POST", "/v1/personas/{persona_id}/publishing-targets"): ("publishing:write",),
    ("GET", "/v1/personas/{persona_id}/publishing-targets"): ("publishing:read",),
    ("POST", "/v1/personas/{persona_id}/sync"): ("sync:write",),
    ("GET", "/v1/sync-jobs/{job_id}"): ("sources:read",),
    ("GET", "/v1/personas/{persona_id}/source-posts"): ("content:read",),
    ("POST", "/v1/generate"): ("content:write",),
    ("GET", "/v1/generated-posts/{post_id}"): ("content:read",),
    ("GET", "/v1/personas/{persona_id}/generated-posts"): ("content:read",),
    ("POST", "/v1/generated-posts/{post_id}/approve"): ("content:write", "publishing:write"),
    ("POST", "/v1/generated-posts/{post_id}/reject"): ("content:write",),
    ("POST", "/v1/generated-posts/{post_id}/send-to-compose"): ("content:write",),
    ("GET", "/v1/publishing/accounts"): ("publishing:read",),
    ("GET", "/v1/publishing/posts/{outgoing_id}"): ("publishing:read",),
}


def _declared() -> dict[tuple[str, str], tuple[str, ...]]:
    declared: dict[tuple[str, str], tuple[str, ...]] = {}
    for module in (routes_billing, routes_personas, routes_content):
        declared.update(module.api.scopes)
    return declared


def test_scope_table_matches_the_spec() -> None:
    assert _declared() == EXPECTED


async def test_each_missing_scope_is_forbidden(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    await api.post("/v1/auth/signup", json={"email": "scopes@example.com", "password": PASSWORD})
    link = await sim_admin.confirmation_link("scopes@example.com")
    assert link is not None
    jwt = fragment_of((await api.get(link, follow_redirects=False)).headers["Location"])["access_token"]
    keys: dict[str, str] = {}
    for scope in ALL_SCOPES:
        others = [s for s in ALL_SCOPES if s != scope]
        created = await api.post(
            "/v1/api-keys", headers={"Authorization": f"Bearer {jwt}"}, json={"name": scope, "scopes": others}
        )
        keys[scope] = created.json()["key"]
    for (method, path), scopes in EXPECTED.items():
        url = path.format(persona_id="p", source_id="s", job_id="j", post_id="g", outgoing_id="o")
        for scope in scopes:
            response = await api.request(method, url, headers={"Authorization": f"Bearer {keys[scope]}"}, json={})
            assert response.status_code == 403, (method, path, scope)
            assert response.json()["error"]["code"] == "FORBIDDEN" and scope in response.json()["error"]["message"]
