"""Supabase sessions headlessly: the confirmation link (fragment, errors, PKCE, trusted origin), refresh,
password login, and when to refresh."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from pydantic import SecretStr
from reelmirror_fakes import FakeApi, json_response

from reelmirror.errors import (
    ConfirmationLinkError,
    EmailNotConfirmedError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    MalformedResponseError,
    SupabaseAuthError,
    TransportError,
    UntrustedLinkError,
)
from reelmirror.supabase import (
    AuthSession,
    decode_jwt_claims,
    follow_confirmation_link,
    link_origin_matches,
    password_login,
    refresh_session,
    session_from_redirect,
    session_needs_refresh,
)

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


# -- sessions that last: expiry, refresh, password login ---------------------------------------


def test_fragment_session_keeps_expires_in() -> None:
    access = make_jwt()
    session = session_from_redirect(f"{CALLBACK}#access_token={access}&expires_in=3600&refresh_token=r-123456")
    assert isinstance(session, AuthSession)
    assert session.expires_in == 3600
    assert session.refresh_token is not None and "r-123456" not in repr(session)


def token_answer(access: str, refresh: str, **extra: Any) -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": 1_800_000_000,
        "refresh_token": refresh,
        "user": {"id": "user-1", "email": "agent@example.com"},
        **extra,
    }


async def call_token(handler: Any, fn: Any, *args: Any, **kwargs: Any) -> tuple[AuthSession, FakeApi]:
    api = FakeApi(handler)
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        session = await fn(*args, auth_origin=ORIGIN + "/", http=http, **kwargs)
    return session, api


async def test_refresh_session_posts_the_refresh_token_and_returns_the_new_session() -> None:
    old_refresh, new_refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    access = make_jwt(sub="user-1")
    session, api = await call_token(
        lambda r: json_response(200, token_answer(access, new_refresh)),
        refresh_session,
        SecretStr(old_refresh),
        api_key="anon-key",
    )
    request = api.last
    assert (request.method, str(request.url)) == ("POST", f"{ORIGIN}/auth/v1/token?grant_type=refresh_token")
    assert json.loads(request.content) == {"refresh_token": old_refresh}
    assert request.headers["apikey"] == "anon-key"
    assert session.access_token.get_secret_value() == access
    assert session.refresh_token is not None and session.refresh_token.get_secret_value() == new_refresh
    assert (session.user_id, session.email, session.expires_in) == ("user-1", "agent@example.com", 3600)
    assert session.expires_at == datetime.fromtimestamp(1_800_000_000, tz=UTC)
    for text in (repr(session), str(session)):
        assert access not in text and new_refresh not in text


async def test_password_login_posts_email_and_password() -> None:
    password = secrets.token_urlsafe(16)
    access = make_jwt(sub="user-9")
    session, api = await call_token(
        lambda r: json_response(200, token_answer(access, "r-1", user={"id": "user-9"})),
        password_login,
        "agent@example.com",
        password,
    )
    assert str(api.last.url) == f"{ORIGIN}/auth/v1/token?grant_type=password"
    assert json.loads(api.last.content) == {"email": "agent@example.com", "password": password}
    assert "apikey" not in api.last.headers
    assert session.user_id == "user-9"


async def test_user_id_falls_back_to_the_answers_user() -> None:
    access = jwt.encode({"role": "authenticated", "exp": 1_900_000_000}, secrets.token_hex(32), algorithm="HS256")
    session, _ = await call_token(
        lambda r: json_response(200, {"access_token": access, "user": {"id": "from-user"}}),
        refresh_session,
        "r-123456",
    )
    assert session.user_id == "from-user"
    assert session.expires_at == datetime.fromtimestamp(1_900_000_000, tz=UTC)  # the JWT's exp
    assert session.refresh_token is None


@pytest.mark.parametrize(
    ("fn", "status", "body", "cls", "error_code"),
    [
        (
            "password",
            400,
            {"error": "invalid_grant", "error_description": "Invalid login credentials"},
            InvalidCredentialsError,
            "invalid_grant",
        ),
        (
            "password",
            400,
            {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"},
            InvalidCredentialsError,
            "invalid_credentials",
        ),
        (
            "password",
            400,
            {"code": 400, "error_code": "email_not_confirmed", "msg": "Email not confirmed"},
            EmailNotConfirmedError,
            "email_not_confirmed",
        ),
        (
            "password",
            400,
            {"error": "invalid_grant", "error_description": "Email not confirmed"},
            EmailNotConfirmedError,
            "invalid_grant",
        ),
        (
            "refresh",
            400,
            {"error": "invalid_grant", "error_description": "Invalid Refresh Token: Refresh Token Not Found"},
            InvalidRefreshTokenError,
            "invalid_grant",
        ),
        (
            "refresh",
            400,
            {"code": 400, "error_code": "refresh_token_already_used", "msg": "Invalid Refresh Token: Already Used"},
            InvalidRefreshTokenError,
            "refresh_token_already_used",
        ),
        ("refresh", 429, {"error_code": "over_request_rate_limit", "msg": "slow down"}, SupabaseAuthError, None),
        ("password", 500, None, SupabaseAuthError, "http_500"),
    ],
    ids=[
        "wrong-password",
        "wrong-password-new-style",
        "unconfirmed",
        "unconfirmed-old-style",
        "bad-refresh",
        "reused-refresh",
        "rate-limited",
        "server-error-html",
    ],
)
async def test_token_refusals_are_typed_and_leak_nothing(
    fn: str, status: int, body: Any, cls: type[SupabaseAuthError], error_code: str | None
) -> None:
    password = secrets.token_urlsafe(16)
    refresh = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, content=f"<html>{password} {refresh}</html>".encode())
        echoed = {**body, "echo": request.content.decode()}
        return json_response(status, echoed, {"retry-after": "7"} if status == 429 else None)

    with pytest.raises(SupabaseAuthError) as caught:
        if fn == "password":
            await call_token(handler, password_login, "agent@example.com", SecretStr(password))
        else:
            await call_token(handler, refresh_session, refresh)
    err = caught.value
    assert type(err) is cls
    assert err.status == status
    assert err.error_code == (error_code or "over_request_rate_limit")
    for text in (str(err), repr(err), str(err.args), err.description or ""):
        assert password not in text and refresh not in text
    if status == 429:
        assert err.retry_after_seconds == 7.0


async def test_a_token_answer_without_a_session_is_malformed() -> None:
    with pytest.raises(MalformedResponseError) as caught:
        await call_token(lambda r: json_response(200, {"token_type": "bearer"}), refresh_session, "r-123456")
    assert "no_session" in caught.value.message
    with pytest.raises(MalformedResponseError):
        await call_token(lambda r: json_response(200, ["not", "an", "object"]), refresh_session, "r-123456")


async def test_token_request_without_an_answer_is_a_transport_error() -> None:
    refresh = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    with pytest.raises(TransportError) as caught:
        await call_token(handler, refresh_session, refresh)
    assert (caught.value.kind, caught.value.may_have_committed) == ("dropped", True)
    assert refresh not in str(caught.value)


async def test_token_request_without_a_pool_opens_and_closes_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    access = make_jwt()
    api = FakeApi(lambda r: json_response(200, token_answer(access, "r-2")))
    made: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def factory(**kwargs: Any) -> httpx.AsyncClient:
        made.append(real(transport=httpx.MockTransport(api), **kwargs))
        return made[-1]

    monkeypatch.setattr(httpx, "AsyncClient", factory)
    session = await refresh_session("r-1", auth_origin=ORIGIN)
    assert session.refresh_token is not None and made and made[0].is_closed


@pytest.mark.parametrize(
    ("expires_in_seconds", "margin", "needed"),
    [(3600, 60, False), (30, 60, True), (-10, 0, True), (120, 60, False), (60, 60, True)],
)
def test_session_needs_refresh(expires_in_seconds: int, margin: int, needed: bool) -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    session = AuthSession(access_token=SecretStr("t"), expires_at=now + timedelta(seconds=expires_in_seconds))
    assert session_needs_refresh(session, now, timedelta(seconds=margin)) is needed


def test_session_needs_refresh_without_expiry_and_with_naive_now() -> None:
    assert session_needs_refresh(AuthSession(access_token=SecretStr("t")))
    far = AuthSession(access_token=SecretStr("t"), expires_at=datetime(2999, 1, 1, tzinfo=UTC))
    assert not session_needs_refresh(far, datetime(2025, 1, 1))
    assert not session_needs_refresh(far)


# -- only the configured auth origin's links are followed ---------------------------------------


@pytest.mark.parametrize(
    ("link", "origin", "matches"),
    [
        ("https://proj.supabase.co/auth/v1/verify?token=t", "https://proj.supabase.co", True),
        ("https://PROJ.supabase.co:443/auth/v1/verify", "https://proj.supabase.co/", True),
        ("http://auth.test/auth/v1/verify", "http://auth.test:80", True),
        ("http://127.0.0.1:8787/auth/v1/verify", "http://127.0.0.1:8787", True),
        ("https://proj.supabase.co./auth/v1/verify", "https://proj.supabase.co", True),
        ("http://proj.supabase.co/auth/v1/verify", "https://proj.supabase.co", False),
        ("https://proj.supabase.co:8443/auth/v1/verify", "https://proj.supabase.co", False),
        ("https://evil.example/auth/v1/verify", "https://proj.supabase.co", False),
        ("https://proj.supabase.co.evil.example/auth/v1/verify", "https://proj.supabase.co", False),
        ("https://proj.supabase.co@evil.example/auth/v1/verify", "https://proj.supabase.co", False),
        ("https://user@proj.supabase.co/auth/v1/verify", "https://proj.supabase.co", False),
        ("javascript:alert(1)", "https://proj.supabase.co", False),
        ("https://proj.supabase.co:notaport/", "https://proj.supabase.co", False),
        ("/auth/v1/verify", "https://proj.supabase.co", False),
    ],
)
def test_link_origin_matches(link: str, origin: str, matches: bool) -> None:
    assert link_origin_matches(link, origin) is matches


async def test_a_link_to_another_origin_is_never_requested() -> None:
    token = secrets.token_hex(8)
    api = FakeApi(lambda r: redirect(f"{CALLBACK}#access_token={make_jwt()}"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        with pytest.raises(UntrustedLinkError) as caught:
            await follow_confirmation_link(
                f"http://evil.test/auth/v1/verify?token={token}", auth_origin=ORIGIN, http=http
            )
    assert api.requests == []
    assert caught.value.error_code == "untrusted_origin"
    assert token not in str(caught.value) and "evil.test" in str(caught.value)
    assert isinstance(caught.value, ConfirmationLinkError)


async def test_a_link_to_the_configured_origin_is_followed() -> None:
    session, api = await follow(
        lambda r: redirect(f"{CALLBACK}#access_token={make_jwt()}"), verify_link("t"), auth_origin=ORIGIN
    )
    assert len(api.requests) == 1 and session.user_id == "user-1"


async def test_a_lost_answer_to_the_link_may_have_consumed_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(TransportError) as caught:
        await follow(handler, verify_link("t"))
    assert (caught.value.kind, caught.value.may_have_committed) == ("timeout", True)
