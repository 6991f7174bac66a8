"""Sessions that last: the JWT is renewed (refresh token, else the stored password) whenever the key step
runs, a spent link is replaced by a password login, and only links to the auth origin are followed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from activity_helpers import Runner

from activities.error_types import PARK_FOR_OPERATOR, ErrorType
from activities.models import CreateApiKeyInput, SignupInput, VerifyEmailInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import FileSecretStore, SecretStore, fingerprint
from activities.sessions import JWT, JWT_EXPIRES_AT, PASSWORD, REFRESH_TOKEN, Sessions
from activities.settings import ActivitySettings
from reelmirror.errors import UntrustedLinkError
from reelmirror.models import ALL_SCOPES
from reelmirror.supabase import follow_confirmation_link, refresh_session
from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer

TWO_DAYS = 2 * 24 * 3600
SCOPES = list(ALL_SCOPES)


async def confirmed(run: Runner, acts: ReelMirrorActivities, ref: str) -> str:
    email = f"{ref}@example.com"
    await run(acts.signup, SignupInput(account_ref=ref, email=email))
    await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=email))
    return email


async def test_the_key_step_two_days_after_the_confirmation_gets_its_key(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    """The hour-long JWT died long ago; the stored refresh token renews it before the key is asked for."""
    await confirmed(run, acts, "later")
    old_jwt = await store.get("later", JWT)
    await sim_admin.advance_clock(TWO_DAYS)

    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="later", name="bot", scopes=SCOPES))

    assert key.key_id and not key.reused and key.possibly_orphaned == []
    assert await store.get("later", JWT) != old_jwt  # renewed and kept
    assert len(await sim_admin.ledger(kind="api_key", email="later@example.com")) == 1


async def test_a_jwt_about_to_expire_is_renewed_before_it_is_used(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    await confirmed(run, acts, "soon")
    await store.update("soon", {JWT_EXPIRES_AT: str(int(time.time()) + 30)})  # inside the refresh margin
    before = (await sim_admin.stats())["by_status"].get("401", 0)

    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="soon", name="bot", scopes=SCOPES))

    assert key.key_id
    assert (await sim_admin.stats())["by_status"].get("401", 0) == before  # no refused attempt first
    expires_at = await store.get("soon", JWT_EXPIRES_AT)
    assert expires_at is not None and float(expires_at.get_secret_value()) > time.time() + 600


async def test_a_spent_refresh_token_falls_back_to_the_password(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    await confirmed(run, acts, "spent")
    refresh = await store.get("spent", REFRESH_TOKEN)
    assert refresh is not None
    await refresh_session(refresh, auth_origin=simulator.origin)  # someone else used it: Supabase rotates them
    await sim_admin.advance_clock(TWO_DAYS)

    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="spent", name="bot", scopes=SCOPES))

    assert key.key_id and await store.get("spent", REFRESH_TOKEN) != refresh


async def test_a_wrong_password_parks_with_what_to_do(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    await confirmed(run, acts, "wrongpw")
    await store.update("wrongpw", {REFRESH_TOKEN: None, PASSWORD: "not-the-password"})
    await sim_admin.advance_clock(TWO_DAYS)

    error = await run.failure(acts.create_api_key, CreateApiKeyInput(account_ref="wrongpw", name="bot", scopes=SCOPES))

    assert error.type == ErrorType.SIGN_IN_REFUSED and error.type in PARK_FOR_OPERATOR and error.non_retryable
    assert "password" in error.message and "send retry" in error.message
    assert "not-the-password" not in error.message
    assert not await sim_admin.ledger(kind="api_key", email="wrongpw@example.com")


async def test_no_refresh_token_and_no_password_parks_as_session_expired(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    await confirmed(run, acts, "nothing")
    await store.update("nothing", {REFRESH_TOKEN: "spent-long-ago", PASSWORD: None})
    await sim_admin.advance_clock(TWO_DAYS)

    error = await run.failure(acts.create_api_key, CreateApiKeyInput(account_ref="nothing", name="bot", scopes=SCOPES))

    assert error.type == ErrorType.SESSION_EXPIRED and error.type in PARK_FOR_OPERATOR and error.non_retryable
    assert "send retry" in error.message


async def test_a_link_followed_before_the_worker_died_is_replaced_by_the_password(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    """The first attempt consumed the single-use link and died before storing the session."""
    email = "killed@example.com"
    await run(acts.signup, SignupInput(account_ref="killed", email=email))
    link = await sim_admin.confirmation_link(email)
    assert link is not None
    lost = await follow_confirmation_link(link, auth_origin=simulator.origin)  # the dead worker's request

    verified = await run(acts.verify_email, VerifyEmailInput(account_ref="killed", email=email, link=link))

    jwt = await store.get("killed", JWT)
    assert jwt is not None and verified.jwt_fingerprint == fingerprint(jwt) != fingerprint(lost.access_token)
    assert verified.email == email and verified.user_id == lost.user_id
    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="killed", name="bot", scopes=SCOPES))
    assert key.key_id
    assert len(await sim_admin.ledger(kind="email_confirmed", email=email)) == 1


async def test_a_link_to_another_origin_is_never_requested(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin
) -> None:
    email = "phished@example.com"
    await run(acts.signup, SignupInput(account_ref="phished", email=email))
    link = await sim_admin.confirmation_link(email)
    assert link is not None
    evil = link.replace("http://127.0.0.1", "http://localhost")  # same server, another origin: not trusted

    error = await run.failure(acts.verify_email, VerifyEmailInput(account_ref="phished", email=email, link=evil))

    assert error.type == ErrorType.UNTRUSTED_LINK and error.non_retryable
    assert "token=" not in error.message and "REELMIRROR_AUTH_ORIGIN" in error.message
    assert not await sim_admin.ledger(kind="email_confirmed", email=email)


@pytest.mark.parametrize(
    ("link", "origin"),
    [
        ("https://abcd.supabase.co/auth/v1/verify?token=t&type=signup", "https://abcd.supabase.co"),
        ("https://ABCD.supabase.co:443/auth/v1/verify?token=t", "https://abcd.supabase.co"),
        ("http://abcd.supabase.co/auth/v1/verify?token=t", None),
        ("https://abcd.supabase.co.evil.example/auth/v1/verify", None),
        ("https://supabase.co/auth/v1/verify", None),
        ("https://a.b.supabase.co/auth/v1/verify", None),
        ("https://abcd.supabase.co@evil.example/auth/v1/verify", None),
        ("https://abcd.supabase.co:8443/auth/v1/verify", None),
        ("http://127.0.0.1:8787/auth/v1/verify?token=t", None),
    ],
)
def test_without_an_auth_origin_only_supabase_links_are_trusted(tmp_path: Path, link: str, origin: str | None) -> None:
    sessions = Sessions(ActivitySettings(), FileSecretStore(tmp_path), httpx.AsyncClient())
    if origin is None:
        with pytest.raises(UntrustedLinkError):
            sessions.trusted_origin(link)
    else:
        assert sessions.trusted_origin(link) == origin


def test_with_an_auth_origin_only_its_links_are_trusted(tmp_path: Path) -> None:
    settings = ActivitySettings(auth_origin="http://127.0.0.1:8787")
    sessions = Sessions(settings, FileSecretStore(tmp_path), httpx.AsyncClient())
    assert sessions.trusted_origin("http://127.0.0.1:8787/auth/v1/verify?token=t") == "http://127.0.0.1:8787"
    for link in ("https://abcd.supabase.co/auth/v1/verify?token=t", "http://127.0.0.1:8788/auth/v1/verify"):
        with pytest.raises(UntrustedLinkError) as info:
            sessions.trusted_origin(link)
        assert "token=" not in str(info.value)

