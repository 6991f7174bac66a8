"""ReelMirrorClient against the real simulator: every method, every error row, the guide's loop.

Each test gets a fresh simulator (``simulator``/``sim_admin`` fixtures of ``tests/conftest.py``) on
a free loopback port, with the shared localstripe behind it. Waits are polls bounded by a deadline;
instead of sleeping through simulated durations, polls advance the simulator's clock.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr
from reelmirror_fakes import make_api_key

from reelmirror.client import ReelMirrorClient
from reelmirror.errors import (
    ConfirmationLinkError,
    ConflictError,
    ForbiddenError,
    InsufficientBalanceError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    TransportError,
    UnauthorizedError,
    UpstreamError,
    ValidationFailedError,
)
from reelmirror.models import ALL_SCOPES, SYNC_TERMINAL, GeneratedPost, Persona, SourcePost
from reelmirror.stripe_setup import confirm_setup_intent
from reelmirror.supabase import AuthSession, follow_confirmation_link

pytestmark = [
    pytest.mark.integration,
    # stripe's HTTPXClient uploads its form body with httpx's deprecated ``data=<str>``; not ours.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

T = TypeVar("T")

PUBLISHABLE_KEY = "pk_test_x"
FUNDS_CENTS = 50_000


async def eventually(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    what: str,
    sim_admin: Any = None,
    advance_seconds: float = 0.0,
    within: float = 20.0,
) -> T:
    """Poll ``fetch`` until ``done``; between polls advance simulated time (if asked) and nap briefly."""
    deadline = time.monotonic() + within
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not reached within {within} s; last value {value!r}")
        if advance_seconds and sim_admin is not None:
            await sim_admin.advance_clock(advance_seconds)
        await asyncio.sleep(0.05)


@dataclass
class Account:
    email: str
    user_id: str
    session: AuthSession
    api: ReelMirrorClient


@pytest.fixture
async def anon(simulator: Any) -> AsyncIterator[ReelMirrorClient]:
    """An unauthenticated client on the simulator; ``with_token`` copies share its pool."""
    async with ReelMirrorClient(simulator.base_url, timeout=10.0) as client:
        yield client


def new_email(tag: str = "agent") -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.com"


async def onboard(
    anon: ReelMirrorClient, sim_admin: Any, *, scopes: tuple[str, ...] | list[str] = ALL_SCOPES
) -> Account:
    """The guide's steps 1-3: sign up, follow the mailed link, trade the JWT for an rm_ key."""
    email = new_email()
    signup = await anon.signup(email, SecretStr(secrets.token_urlsafe(16)))
    link = await eventually(lambda: sim_admin.confirmation_link(email), bool, what="confirmation mail")
    session = await follow_confirmation_link(link)
    assert session.user_id == signup.user_id
    key = await anon.create_api_key(session.access_token, "it-key", scopes)
    return Account(email=email, user_id=signup.user_id, session=session, api=anon.with_token(key.key))


async def synced_persona(
    account: Account, sim_admin: Any, sources: list[tuple[str, str, str]]
) -> tuple[Persona, list[SourcePost]]:
    """A persona with ``(platform, username, mode)`` sources, synced to completion."""
    api = account.api
    persona = await api.create_persona("Synced", "Plain")
    for platform, username, mode in sources:
        await api.add_source(persona.id, platform, username, mode)
    started = await api.sync_persona(persona.id)
    assert len(started.job_ids) == len(sources)
    for job_id in started.job_ids:
        job = await eventually(
            lambda job_id=job_id: api.get_sync_job(job_id),
            lambda j: j.is_terminal,
            what="sync job",
            sim_admin=sim_admin,
            advance_seconds=60,
        )
        assert job.status == "completed"
    return persona, await api.list_source_posts(persona.id)


async def ready_post(api: ReelMirrorClient, sim_admin: Any, persona: Persona, source_post: SourcePost) -> GeneratedPost:
    """Generate from ``source_post`` and poll until every media item is completed."""
    result = await api.generate(source_post.id, persona.id)
    post = await eventually(
        lambda: api.get_generated_post(result.generated_post_id),
        lambda p: p.media_terminal,
        what="generated media",
        sim_admin=sim_admin,
        advance_seconds=60,
    )
    assert post.all_media_completed and post.status == "ready", post
    return post


# -- the guide's loop ------------------------------------------------------------------------------


async def test_guide_loop_end_to_end(anon: ReelMirrorClient, sim_admin: Any, localstripe: str) -> None:
    # Steps 1-3: signup (a repeat is 409), confirmation link (single use), API key.
    email = new_email("loop")
    password = SecretStr(secrets.token_urlsafe(16))
    signup = await anon.signup(email, password)
    assert signup.status == "pending_confirmation"
    with pytest.raises(ConflictError):
        await anon.signup(email, password)
    link = await eventually(lambda: sim_admin.confirmation_link(email), bool, what="confirmation mail")
    session = await follow_confirmation_link(link)
    assert (session.user_id, session.email) == (signup.user_id, email)
    assert session.refresh_token is not None and session.expires_at is not None
    with pytest.raises(ConfirmationLinkError) as reused:
        await follow_confirmation_link(link)
    assert reused.value.error_code == "otp_expired"
    key = await anon.create_api_key(session.access_token, "agent-key", ALL_SCOPES)
    assert key.key.get_secret_value().startswith("rm_") and sorted(key.scopes) == sorted(ALL_SCOPES)
    api = anon.with_token(key.key)

    # Step 4: $0 until a card is attached; auto-reload needs one; the bonus comes exactly once.
    balance = await api.get_balance()
    assert (balance.balance_cents, balance.has_payment_method, balance.auto_reload) == (0, False, False)
    with pytest.raises(ValidationFailedError):
        await api.update_balance(True, 500, 2500)
    setup = await api.create_setup_intent()
    assert setup.intent_id.startswith("seti_")
    confirmed = await confirm_setup_intent(setup.client_secret, "pm_card_visa", PUBLISHABLE_KEY, api_base=localstripe)
    assert (confirmed.id, confirmed.status) == (setup.intent_id, "succeeded")
    balance = await eventually(api.get_balance, lambda b: b.balance_cents == 500, what="welcome bonus")
    assert balance.has_payment_method
    for _ in range(3):  # more billing calls reconcile again; the bonus must not be granted twice
        await api.get_balance()
        await asyncio.sleep(0.25)
    assert (await api.get_balance()).balance_cents == 500
    bonus = await sim_admin.ledger(kind="bonus", email=email)
    assert [entry["amount_cents"] for entry in bonus] == [500]

    # Step 5: auto-reload on and off again (now allowed), and a human top-up through checkout.
    reloading = await api.update_balance(True, 500, 2500)
    assert (reloading.auto_reload, reloading.reload_threshold_cents, reloading.reload_amount_cents) == (
        True,
        500,
        2500,
    )
    assert (await api.update_balance(False)).auto_reload is False
    topup = await api.create_topup(FUNDS_CENTS)
    assert "/_sim/checkout/" in topup.url
    await sim_admin.complete_checkout(topup.url)
    assert (await api.get_balance()).balance_cents == 500 + FUNDS_CENTS

    # Loop step 1-2: persona, sources in each automation mode (a duplicate is 409), mode changes.
    persona = await api.create_persona("My Creator", "Casual, energetic, uses emojis")
    assert persona.id in [p.id for p in await api.list_personas()]
    assert (await api.get_persona(persona.id)).writing_style == "Casual, energetic, uses emojis"
    manual = await api.add_source(persona.id, "instagram", "manual_creator")
    clone = await api.add_source(persona.id, "tiktok", "clone_creator", "auto_clone")
    publish = await api.add_source(persona.id, "youtube", "publish_creator", "auto_publish")
    assert [s.automation_mode for s in (manual, clone, publish)] == ["sync_only", "auto_clone", "auto_publish"]
    with pytest.raises(ConflictError):
        await api.add_source(persona.id, "instagram", "manual_creator")
    flipped = await api.update_source(persona.id, manual.id, "auto_clone")
    assert flipped.automation_mode == "auto_clone"
    assert (await api.update_source(persona.id, manual.id, "sync_only")).automation_mode == "sync_only"
    listed = await api.list_sources(persona.id)
    assert {s.id for s in listed} == {manual.id, clone.id, publish.id}
    assert all(s.last_synced_at is None for s in listed)

    # Step 2b: a human connects an account; the bot links it as a publishing target (twice is 409).
    account = await sim_admin.connect_account(email, "tiktok", "my_tiktok")
    accounts = await api.list_publishing_accounts()
    assert [(a.id, a.platform, a.username) for a in accounts] == [(account["id"], "tiktok", "my_tiktok")]
    target = await api.add_publishing_target(persona.id, account["id"])
    assert (target.persona_id, target.connected_account_id) == (persona.id, account["id"])
    with pytest.raises(ConflictError):
        await api.add_publishing_target(persona.id, account["id"])
    assert [t.id for t in await api.list_publishing_targets(persona.id)] == [target.id]

    # Step 3: sync and poll each job; a second sync within 15 minutes is skipped at once.
    started = await api.sync_persona(persona.id)
    assert len(started.job_ids) == 3
    for job_id in started.job_ids:
        job = await eventually(
            lambda job_id=job_id: api.get_sync_job(job_id),
            lambda j: j.is_terminal,
            what="sync job",
            sim_admin=sim_admin,
            advance_seconds=60,
        )
        assert job.status == "completed" and job.status in SYNC_TERMINAL
    again = await api.sync_persona(persona.id)
    skipped = [await api.get_sync_job(job_id) for job_id in again.job_ids]
    assert [j.status for j in skipped] == ["skipped"] * 3
    assert all(s.last_synced_at is not None for s in await api.list_sources(persona.id))

    # Step 4: browse source posts (unique on creator/platform/platform id).
    posts = await api.list_source_posts(persona.id)
    assert len(posts) == 3 * 6
    assert len({(p.creator_id, p.platform, p.platform_post_id) for p in posts}) == len(posts)
    manual_posts = [p for p in posts if p.creator_id == manual.creator_id]
    assert len(manual_posts) == 6

    # Server-side automation: auto_clone posts are generated, auto_publish ones also published.
    def server_made(generated: list[GeneratedPost]) -> bool:
        clones = [g for g in generated if g.origin == "auto_clone"]
        published = [g for g in generated if g.origin == "auto_publish" and g.status == "published"]
        return len(clones) == 6 and len(published) == 6

    generated = await eventually(
        lambda: api.list_generated_posts(persona.id),
        server_made,
        what="server-side auto_clone/auto_publish",
        sim_admin=sim_admin,
        advance_seconds=60,
    )
    clone_ids = {p.id for p in posts if p.creator_id == clone.creator_id}
    assert {g.source_post_id for g in generated if g.origin == "auto_clone"} == clone_ids
    auto_published = [g for g in generated if g.origin == "auto_publish"]
    assert all(g.outgoing_post_id for g in auto_published)
    outgoing = await api.get_publishing_post(auto_published[0].outgoing_post_id or "")
    assert outgoing.all_terminal and [d.connected_account_id for d in outgoing.deliveries] == [account["id"]]
    assert not [g for g in generated if g.source_post_id in {p.id for p in manual_posts}]

    # Steps 4-6 by the bot: check first, generate, poll media, approve (twice is 409), poll deliveries.
    chosen = manual_posts[0]
    assert await api.list_generated_posts(persona.id, source_post_id=chosen.id) == []
    post = await ready_post(api, sim_admin, persona, chosen)
    assert [g.id for g in await api.list_generated_posts(persona.id, source_post_id=chosen.id)] == [post.id]
    assert post.origin == "api"
    approved = await api.approve(post.id)
    assert approved.status == "publishing"
    with pytest.raises(ConflictError):
        await api.approve(post.id)
    delivered = await eventually(
        lambda: api.get_publishing_post(approved.outgoing_post_id),
        lambda o: o.all_terminal,
        what="deliveries",
        sim_admin=sim_admin,
        advance_seconds=30,
    )
    assert [(d.platform, d.status) for d in delivered.deliveries] == [("tiktok", "published")]
    assert (await api.get_generated_post(post.id)).outgoing_post_id == approved.outgoing_post_id

    # Reject one, send another to the composer.
    to_reject = await ready_post(api, sim_admin, persona, manual_posts[1])
    rejected = await api.reject(to_reject.id, "off-brand")
    assert (rejected.status, rejected.rejection_reason) == ("rejected", "off-brand")
    to_compose = await ready_post(api, sim_admin, persona, manual_posts[2])
    assert (await api.send_to_compose(to_compose.id)).status == "composing"

    # The ledger agrees: three client generations, each charged once.
    client_generates = [e for e in await sim_admin.ledger(kind="generate", email=email) if e["by"] == "client"]
    assert sorted(e["generated_post_id"] for e in client_generates) == sorted([post.id, to_reject.id, to_compose.id])
    charges = await sim_admin.ledger(kind="charge", email=email)
    for generated_id in (post.id, to_reject.id, to_compose.id):
        assert len([c for c in charges if c["generated_post_id"] == generated_id]) == 1


# -- every error row, produced by the simulator ----------------------------------------------------


async def test_unauthorized_and_forbidden(anon: ReelMirrorClient, sim_admin: Any) -> None:
    with pytest.raises(UnauthorizedError) as missing:
        await anon.list_personas()
    assert missing.value.status == 401
    bogus_key = make_api_key()
    with pytest.raises(UnauthorizedError) as bogus:
        await anon.with_token(bogus_key).get_balance()
    assert bogus_key not in str(bogus.value)

    reader = await onboard(anon, sim_admin, scopes=["personas:read"])
    assert await reader.api.list_personas() == []
    with pytest.raises(ForbiddenError) as forbidden:
        await reader.api.create_persona("x", "y")
    assert (forbidden.value.status, forbidden.value.code) == (403, "FORBIDDEN")

    # POST /v1/api-keys takes only the Supabase JWT: an rm_ key there is 401.
    with pytest.raises(UnauthorizedError):
        await anon.create_api_key(make_api_key(), "k", ["personas:read"])


async def test_not_found_conflict_and_validation(anon: ReelMirrorClient, sim_admin: Any) -> None:
    account = await onboard(anon, sim_admin)
    api = account.api
    for call in (
        lambda: api.get_persona("no-such-persona"),
        lambda: api.get_sync_job("no-such-job"),
        lambda: api.get_generated_post("no-such-post"),
        lambda: api.get_publishing_post("no-such-outgoing"),
        lambda: api.list_sources("no-such-persona"),
    ):
        with pytest.raises(NotFoundError) as caught:
            await call()
        assert caught.value.status == 404
    persona = await api.create_persona("Errors", "Terse")
    await api.add_source(persona.id, "x", "someone")
    with pytest.raises(ConflictError) as duplicate:
        await api.add_source(persona.id, "x", "someone")
    assert duplicate.value.status == 409
    with pytest.raises(ValidationFailedError) as invalid_platform:
        await api.add_source(persona.id, "myspace", "someone")
    assert invalid_platform.value.status == 400
    with pytest.raises(ValidationFailedError):
        await api.add_source(persona.id, "x", "other", "auto_everything")


async def test_insufficient_balance_then_approve_without_targets(anon: ReelMirrorClient, sim_admin: Any) -> None:
    account = await onboard(anon, sim_admin)
    persona, posts = await synced_persona(account, sim_admin, [("instagram", "poor_creator", "sync_only")])
    with pytest.raises(InsufficientBalanceError) as broke:
        await account.api.generate(posts[0].id, persona.id)
    assert (broke.value.status, broke.value.code) == (402, "INSUFFICIENT_BALANCE")
    assert await account.api.list_generated_posts(persona.id) == []

    await sim_admin.topup(account.email, FUNDS_CENTS)
    post = await ready_post(account.api, sim_admin, persona, posts[0])
    with pytest.raises(ValidationFailedError) as no_targets:
        await account.api.approve(post.id)
    assert "target" in no_targets.value.message.lower()
    assert (await account.api.send_to_compose(post.id)).status == "composing"


async def test_rate_limit_in_both_reset_forms(anon: ReelMirrorClient, sim_admin: Any) -> None:
    account = await onboard(anon, sim_admin)
    await sim_admin.patch_config(
        {"rate_limit": {"limit": 3, "window_seconds": 60, "reset_format": "unix", "retry_after": True}}
    )
    with pytest.raises(RateLimitedError) as unix_form:
        for _ in range(10):
            await account.api.list_personas()
    err = unix_form.value
    assert err.rate_limit is not None
    assert (err.rate_limit.limit, err.rate_limit.remaining) == (3, 0)
    assert float(err.rate_limit.reset_raw or 0) > 1e9
    assert err.retry_after_seconds is not None and 0 < err.retry_after_seconds <= 61
    assert account.api.last_rate_limit is not None and account.api.last_rate_limit.limit == 3

    await sim_admin.patch_config({"rate_limit": {"reset_format": "seconds", "retry_after": False}})
    with pytest.raises(RateLimitedError) as seconds_form:
        await account.api.list_personas()
    err = seconds_form.value
    assert err.rate_limit is not None and float(err.rate_limit.reset_raw or 0) <= 61
    assert err.retry_after_seconds is not None and 0 < err.retry_after_seconds <= 61


async def test_injected_502_503_and_lost_responses(anon: ReelMirrorClient, sim_admin: Any) -> None:
    account = await onboard(anon, sim_admin)
    api = account.api
    for status, cls in (("502", UpstreamError), ("503", ServiceUnavailableError), ("429", RateLimitedError)):
        await sim_admin.set_chaos(error_rates={status: 1.0}, path_pattern=r"/v1/personas$")
        with pytest.raises(cls) as caught:
            await api.list_personas()
        assert caught.value.status == int(status)
    await sim_admin.set_chaos()
    assert await api.list_personas() == []

    # A dropped connection after the commit: a transport error that may have committed (it did).
    await sim_admin.set_chaos(
        lost_response_rate=1.0, lost_response_mode="drop", path_pattern=r"/v1/personas$", methods=["POST"]
    )
    with pytest.raises(TransportError) as dropped:
        await api.create_persona("Dropped", "Lost")
    assert (dropped.value.kind, dropped.value.may_have_committed) == ("dropped", True)
    await sim_admin.set_chaos(lost_response_rate=1.0, lost_response_mode="502", path_pattern=r"/v1/personas$")
    with pytest.raises(UpstreamError):
        await api.create_persona("Lost 502", "Lost")
    await sim_admin.set_chaos()
    assert sorted(p.name for p in await api.list_personas()) == ["Dropped", "Lost 502"]


async def test_sixth_signup_from_one_ip_is_refused(anon: ReelMirrorClient, sim_admin: Any) -> None:
    for _ in range(5):
        await anon.signup(new_email("limit"), secrets.token_urlsafe(16))
    refused_email = new_email("sixth")
    with pytest.raises(RateLimitedError) as refused:
        await anon.signup(refused_email, secrets.token_urlsafe(16))
    assert refused.value.status == 429
    assert refused.value.retry_after_seconds is not None and refused.value.retry_after_seconds > 0
    assert "signup" in refused.value.message
    assert len(await sim_admin.ledger(kind="signup")) == 5
    assert [e["email"] for e in await sim_admin.ledger(kind="signup_refused")] == [refused_email]
    assert await sim_admin.confirmation_link(refused_email) is None


@pytest.mark.parametrize(("mode", "error"), [("502", UpstreamError), ("drop", TransportError)])
async def test_lost_response_on_generate_leaves_post_and_charge(
    anon: ReelMirrorClient, sim_admin: Any, mode: str, error: type[Exception]
) -> None:
    account = await onboard(anon, sim_admin)
    await sim_admin.topup(account.email, FUNDS_CENTS)
    persona, posts = await synced_persona(account, sim_admin, [("instagram", "lossy_creator", "sync_only")])
    chosen = posts[0]
    await sim_admin.set_chaos(lost_response_rate=1.0, lost_response_mode=mode, path_pattern=r"/v1/generate$")
    with pytest.raises(error):
        await account.api.generate(chosen.id, persona.id)
    await sim_admin.set_chaos()

    # The committed post is visible to the check-before-generate the guide asks for...
    existing = await account.api.list_generated_posts(persona.id, source_post_id=chosen.id)
    assert len(existing) == 1
    # ...and the ledger holds exactly one generation, one charge and the lost-response fault.
    generates = await sim_admin.ledger(kind="generate", email=account.email)
    assert [(g["source_post_id"], g["generated_post_id"]) for g in generates] == [(chosen.id, existing[0].id)]
    charges = await sim_admin.ledger(kind="charge", email=account.email)
    assert [c["generated_post_id"] for c in charges] == [existing[0].id]
    assert charges[0]["amount_cents"] is not None and charges[0]["amount_cents"] > 0
    faults = [f for f in await sim_admin.ledger(kind="fault") if f["details"].get("lost")]
    assert len(faults) == 1 and "/v1/generate" in faults[0]["details"]["path"]
    balance = await account.api.get_balance()
    assert balance.balance_cents == FUNDS_CENTS - charges[0]["amount_cents"]
