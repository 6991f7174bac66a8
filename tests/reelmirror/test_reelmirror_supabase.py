"""Following a Supabase confirmation link headlessly: fragment, error fragment, PKCE, broken redirects."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from reelmirror_fakes import FakeApi, json_response

from reelmirror.errors import ConfirmationLinkError, TransportError
from reelmirror.supabase import AuthSession, decode_jwt_claims, follow_confirmation_link, session_from_redirect

ORIGIN = "http://auth.test"
CALLBACK = "http://app.test/auth/callback"


def make_jwt(sub: str = "user-1", email: str = "agent@example.com", exp: int | None = None) -> str:
    now = int(time.time())
    claims = {
        "sub": sub,
        "email": email,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": exp if exp is not None else now + 3600,
    }
    return jwt.encode(claims, secrets.token_hex(32), algorithm="HS256")


def verify_link(token: str) -> str:
    return f"{ORIGIN}/auth/v1/verify?" + urlencode({"token": token, "type": "signup", "redirect_to": CALLBACK})


def redirect(location: str, status: int = 303) -> httpx.Response:
    return httpx.Response(status, headers={"location": location})


async def follow(handler: Any, link: str, **kwargs: Any) -> tuple[AuthSession, FakeApi]:
    api = FakeApi(handler)
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        session = await follow_confirmation_link(link, http=http, **kwargs)
    return session, api


async def test_fragment_session_and_claims() -> None:
    access = make_jwt(exp=1_900_000_000)
    refresh = secrets.token_urlsafe(12)
    fragment = urlencode(
        {
            "access_token": access,
            "expires_at": "1800000000",
            "expires_in": "3600",
            "refresh_token": refresh,
            "token_type": "bearer",
            "type": "signup",
        }
    )
    session, api = await follow(lambda r: redirect(f"{CALLBACK}#{fragment}"), verify_link("otp-1"))

    assert api.last.method == "GET" and api.last.url.params["token"] == "otp-1"
    assert len(api.requests) == 1  # the redirect was not followed
    assert session.access_token.get_secret_value() == access
    assert session.refresh_token is not None and session.refresh_token.get_secret_value() == refresh
    assert (session.user_id, session.email, session.token_type) == ("user-1", "agent@example.com", "bearer")
    assert session.expires_at == datetime.fromtimestamp(1_800_000_000, tz=UTC)
    for text in (repr(session), str(session)):
        assert access not in text and refresh not in text


async def test_expiry_falls_back_to_the_jwt_exp() -> None:
    access = make_jwt(exp=1_900_000_123)
    session, _ = await follow(lambda r: redirect(f"{CALLBACK}#access_token={access}"), verify_link("t"))
    assert session.expires_at == datetime.fromtimestamp(1_900_000_123, tz=UTC)
    assert session.refresh_token is None


async def test_relative_location_is_resolved() -> None:
    access = make_jwt()
    session, _ = await follow(lambda r: redirect(f"/auth/callback#access_token={access}", 302), verify_link("t"))
    assert session.user_id == "user-1"


async def test_error_fragment_raises_with_supabase_code() -> None:
    token = secrets.token_hex(8)
    location = (
        f"{CALLBACK}#error=access_denied&error_code=otp_expired&error_description=Email+link+is+invalid+or+has+expired"
    )
    with pytest.raises(ConfirmationLinkError) as caught:
        await follow(lambda r: redirect(location), verify_link(token))
    err = caught.value
    assert err.error_code == "otp_expired"
    assert err.description == "Email link is invalid or has expired"
    assert token not in str(err)


async def test_error_in_query_is_recognised_too() -> None:
    with pytest.raises(ConfirmationLinkError) as caught:
        await follow(lambda r: redirect(f"{CALLBACK}?error=server_error&error_description=boom"), verify_link("t"))
    assert caught.value.error_code == "server_error"


async def test_pkce_code_is_exchanged_at_the_link_origin() -> None:
    access = make_jwt(sub="user-pkce", email="pkce@example.com")
    code = secrets.token_hex(8)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/v1/verify":
            return redirect(f"{CALLBACK}?code={code}")
        assert request.url.path == "/auth/v1/token"
        return json_response(
            200,
            {
                "access_token": access,
                "refresh_token": "r1",
                "expires_in": 3600,
                "token_type": "bearer",
                "user": {"id": "user-pkce"},
            },
        )

    session, api = await follow(handler, verify_link("t"), code_verifier="verifier-1", api_key="anon")
    exchange = api.last
    assert exchange.method == "POST"
    assert str(exchange.url) == f"{ORIGIN}/auth/v1/token?grant_type=pkce"
    assert json.loads(exchange.content) == {"auth_code": code, "code_verifier": "verifier-1"}
    assert exchange.headers["apikey"] == "anon"
    assert (session.user_id, session.email) == ("user-pkce", "pkce@example.com")
    assert session.expires_at is not None


async def test_pkce_exchange_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/v1/verify":
            return redirect(f"{CALLBACK}?code=abc123")
        return json_response(400, {"error_code": "flow_state_not_found", "msg": "invalid flow state"})

    with pytest.raises(ConfirmationLinkError) as caught:
        await follow(handler, verify_link("t"))
    assert (caught.value.error_code, caught.value.status) == ("flow_state_not_found", 400)
    assert caught.value.description == "invalid flow state"


@pytest.mark.parametrize(
    ("response", "error_code"),
    [
        (redirect(f"{CALLBACK}"), "no_session"),
        (redirect(f"{CALLBACK}#type=signup"), "no_session"),
        (httpx.Response(303), "no_location"),
        (httpx.Response(200, content=b"<html>welcome</html>"), "http_200"),
        (redirect(f"{CALLBACK}#access_token=not-a-jwt"), "invalid_jwt"),
    ],
    ids=["no-fragment", "fragment-without-token", "no-location", "not-a-redirect", "garbage-token"],
)
async def test_links_without_a_session(response: httpx.Response, error_code: str) -> None:
    with pytest.raises(ConfirmationLinkError) as caught:
        await follow(lambda r: response, verify_link("t"))
    assert caught.value.error_code == error_code


async def test_unreachable_link_is_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    token = secrets.token_hex(8)
    with pytest.raises(TransportError) as caught:
        await follow(handler, verify_link(token))
    assert token not in str(caught.value)
    assert caught.value.kind == "connect"


def test_session_from_redirect_returns_the_pkce_code() -> None:
    assert session_from_redirect(f"{CALLBACK}?code=xyz") == "xyz"


def test_decode_jwt_claims_ignores_signature_and_expiry() -> None:
    claims = decode_jwt_claims(make_jwt(sub="old", exp=1_000_000_000))
    assert claims["sub"] == "old" and claims["exp"] == 1_000_000_000
