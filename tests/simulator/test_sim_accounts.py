"""Signup, the confirmation link, sessions, API keys and authentication of calls."""

from __future__ import annotations

import httpx
import jwt as pyjwt
from sim_helpers import PASSWORD, Onboard, fragment_of

from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer


async def signup(api: httpx.AsyncClient, email: str) -> httpx.Response:
    return await api.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})


async def test_signup_envelope_and_mail(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    response = await signup(api, "Agent@Example.com")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending_confirmation"
    assert body["user_id"]
    mails = await sim_admin.mailbox("agent@example.com")
    assert len(mails) == 1
    link = mails[0]["links"][0]
    assert "/auth/v1/verify?token=" in link and "type=signup" in link and "redirect_to=" in link
    assert [e["kind"] for e in await sim_admin.ledger(email="agent@example.com")] == ["signup"]


async def test_repeated_signup_is_conflict(api: httpx.AsyncClient) -> None:
    assert (await signup(api, "a@example.com")).status_code == 201
    again = await signup(api, "A@example.com")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"


async def test_signup_invalid_body(api: httpx.AsyncClient) -> None:
    bad_email = await api.post("/v1/auth/signup", json={"email": "nope", "password": PASSWORD})
    short_password = await api.post("/v1/auth/signup", json={"email": "a@example.com", "password": "x"})
    not_json = await api.post("/v1/auth/signup", content=b"{", headers={"Content-Type": "application/json"})
    for response in (bad_email, short_password, not_json):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_sixth_signup_from_one_ip_is_refused(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    for index in range(5):
        assert (await signup(api, f"user{index}@example.com")).status_code == 201
    refused = await signup(api, "user5@example.com")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(await sim_admin.ledger(kind="signup_refused")) == 1
    assert await sim_admin.mailbox("user5@example.com") == []
    # 24 simulated hours later the window has moved on.
    await sim_admin.advance_clock(86_400)
    assert (await signup(api, "user5@example.com")).status_code == 201


async def test_verify_link_yields_session_once(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    user_id = (await signup(api, "v@example.com")).json()["user_id"]
    link = await sim_admin.confirmation_link("v@example.com")
    assert link is not None
    first = await api.get(link, follow_redirects=False)
    assert first.status_code == 303
    location = first.headers["Location"]
    assert location.startswith(f"{simulator.origin}/auth/callback#")
    session = fragment_of(location)
    assert session["token_type"] == "bearer" and session["type"] == "signup" and session["expires_in"] == "3600"
    assert session["refresh_token"]
    claims = pyjwt.decode(session["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["email"] == "v@example.com"
    assert claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600 and int(session["expires_at"]) == claims["exp"]
    reused = await api.get(link, follow_redirects=False)
    assert reused.status_code == 303
    assert fragment_of(reused.headers["Location"])["error_code"] == "otp_expired"
    assert len(await sim_admin.ledger(kind="email_confirmed")) == 1
    callback = await api.get(location.split("#")[0])
    assert callback.status_code == 200 and "text/html" in callback.headers["Content-Type"]


async def test_verify_link_expires(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    await signup(api, "late@example.com")
    link = await sim_admin.confirmation_link("late@example.com")
    assert link is not None
    await sim_admin.advance_clock(86_400 + 1)
    response = await api.get(link, follow_redirects=False)
    error = fragment_of(response.headers["Location"])
    assert response.status_code == 303
    assert error == {
        "error": "access_denied",
        "error_code": "otp_expired",
        "error_description": "Email link is invalid or has expired",
    }


async def test_unknown_verify_token_redirects_with_error(api: httpx.AsyncClient, simulator: SimulatorServer) -> None:
    response = await api.get(f"{simulator.origin}/auth/v1/verify?token=nope&type=signup", follow_redirects=False)
    assert response.status_code == 303
    assert fragment_of(response.headers["Location"])["error_code"] == "otp_expired"


async def test_api_key_needs_session_jwt(api: httpx.AsyncClient, onboard: Onboard, sim_admin: SimulatorAdmin) -> None:
    account = await onboard()
    assert account.key.startswith("rm_") and len(account.key) == 35
    with_key = await api.post("/v1/api-keys", headers=account.headers, json={"name": "x", "scopes": ["personas:read"]})
    assert with_key.status_code == 401
    without = await api.post("/v1/api-keys", json={"name": "x", "scopes": ["personas:read"]})
    assert without.status_code == 401
    garbage = await api.post(
        "/v1/api-keys", headers={"Authorization": "Bearer not.a.jwt"}, json={"name": "x", "scopes": []}
    )
    assert garbage.status_code == 401 and garbage.json()["error"]["code"] == "UNAUTHORIZED"
    entries = await sim_admin.ledger(kind="api_key")
    assert len(entries) == 1 and "key" not in entries[0]["details"]


async def test_api_key_envelope_and_scope_validation(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    await signup(api, "k@example.com")
    link = await sim_admin.confirmation_link("k@example.com")
    assert link is not None
    token = fragment_of((await api.get(link, follow_redirects=False)).headers["Location"])["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = await api.post("/v1/api-keys", headers=headers, json={"name": "agent-key", "scopes": ["content:read"]})
    assert created.status_code == 201
    body = created.json()
    assert body["id"] and body["key"].startswith("rm_") and body["scopes"] == ["content:read"]
    unknown = await api.post("/v1/api-keys", headers=headers, json={"name": "x", "scopes": ["root"]})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_session_expires_after_an_hour(api: httpx.AsyncClient, sim_admin: SimulatorAdmin) -> None:
    await signup(api, "slow@example.com")
    link = await sim_admin.confirmation_link("slow@example.com")
    assert link is not None
    session = fragment_of((await api.get(link, follow_redirects=False)).headers["Location"])
    await sim_admin.advance_clock(3601)
    expired = await api.post(
        "/v1/api-keys",
        headers={"Authorization": f"Bearer {session['access_token']}"},
        json={"name": "x", "scopes": ["personas:read"]},
    )
    assert expired.status_code == 401


async def test_refresh_and_password_grants(
    api: httpx.AsyncClient, simulator: SimulatorServer, onboard: Onboard
) -> None:
    await onboard("grant@example.com")
    token_url = f"{simulator.origin}/auth/v1/token"
    login = await api.post(
        token_url, params={"grant_type": "password"}, json={"email": "grant@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    refresh_token = login.json()["refresh_token"]
    refreshed = await api.post(token_url, params={"grant_type": "refresh_token"}, json={"refresh_token": refresh_token})
    assert refreshed.status_code == 200 and refreshed.json()["access_token"]
    reused = await api.post(token_url, params={"grant_type": "refresh_token"}, json={"refresh_token": refresh_token})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    wrong = await api.post(
        token_url, params={"grant_type": "password"}, json={"email": "grant@example.com", "password": "wrong-one"}
    )
    assert wrong.status_code == 400


async def test_password_login_before_confirmation_says_email_not_confirmed(
    api: httpx.AsyncClient, simulator: SimulatorServer
) -> None:
    """Supabase's answer to the right password of an unconfirmed account, which tells a bot that lost its
    signup answer that the account exists; a wrong password or an unknown address stays invalid_grant."""
    assert (await signup(api, "early@example.com")).status_code == 201
    token_url = f"{simulator.origin}/auth/v1/token"

    async def login(email: str, password: str) -> httpx.Response:
        return await api.post(token_url, params={"grant_type": "password"}, json={"email": email, "password": password})

    early = await login("Early@example.com", PASSWORD)
    assert early.status_code == 400
    assert early.json() == {"code": 400, "error_code": "email_not_confirmed", "msg": "Email not confirmed"}
    for email, password in (("early@example.com", "wrong-one"), ("nobody@example.com", PASSWORD)):
        refused = await login(email, password)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_missing_and_invalid_key_are_unauthorized(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard()
    missing = await api.get("/v1/personas")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "UNAUTHORIZED"
    forged = await api.get("/v1/personas", headers={"Authorization": "Bearer rm_" + "x" * 32})
    assert forged.status_code == 401
    assert (await api.get("/v1/personas", headers=account.headers)).status_code == 200


async def test_missing_scope_is_forbidden(api: httpx.AsyncClient, onboard: Onboard) -> None:
    account = await onboard(scopes=("personas:read",))
    listed = await api.get("/v1/personas", headers=account.headers)
    assert listed.status_code == 200 and listed.json() == {"data": []}
    denied = await api.post("/v1/personas", headers=account.headers, json={"name": "x", "writing_style": "y"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "FORBIDDEN"
    assert "personas:write" in denied.json()["error"]["message"]
    assert (await api.get("/v1/billing/balance", headers=account.headers)).status_code == 403
