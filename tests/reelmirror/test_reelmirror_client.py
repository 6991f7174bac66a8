"""ReelMirrorClient against scripted responses (httpx.MockTransport): requests, envelopes, errors."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from reelmirror_fakes import BASE_URL, FakeApi, json_response, make_api_key

from reelmirror.client import ReelMirrorClient
from reelmirror.errors import (
    ConflictError,
    ForbiddenError,
    InsufficientBalanceError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ReelMirrorError,
    ServiceUnavailableError,
    TransportError,
    UnauthorizedError,
    UnexpectedStatusError,
    UpstreamError,
    ValidationFailedError,
)
from reelmirror.models import ALL_SCOPES

PERSONA = {
    "id": "p1",
    "name": "My Creator",
    "writing_style": "Casual",
    "created_at": "2025-01-01T00:00:00Z",
    "avatar": "new-field",
}
SOURCE = {
    "id": "s1",
    "persona_id": "p1",
    "platform": "instagram",
    "username": "target_creator",
    "automation_mode": "auto_publish",
    "creator_id": "c1",
    "last_synced_at": None,
    "created_at": "2025-01-01T00:00:00Z",
    "unknown": [1, 2],
}
ACCOUNT = {"id": "a1", "platform": "tiktok", "username": "me", "status": "connected", "scopes_granted": "x"}
TARGET = {"id": "t1", "persona_id": "p1", "connected_account_id": "a1", "platform": "tiktok", "username": "me"}
BALANCE = {
    "balance_cents": 500,
    "auto_reload": True,
    "reload_threshold_cents": 500,
    "reload_amount_cents": 2500,
    "has_payment_method": True,
    "currency": "usd",
}
SYNC_JOB = {
    "id": "j1",
    "persona_id": "p1",
    "source_id": "s1",
    "status": "completed",
    "new_posts": 6,
    "created_at": "2025-01-01T00:00:00Z",
    "finished_at": "2025-01-01T00:01:00Z",
    "error": None,
}
SOURCE_POST = {
    "id": "sp1",
    "creator_id": "c1",
    "platform": "instagram",
    "platform_post_id": "ig_1",
    "media_type": "carousel",
    "caption": "hello",
    "posted_at": "2025-01-01T00:00:00Z",
    "likes": 9,
}
GENERATED = {
    "id": "g1",
    "persona_id": "p1",
    "source_post_id": "sp1",
    "status": "ready",
    "caption": "hi",
    "origin": "api",
    "media_items": [{"id": "m1", "type": "image", "status": "completed", "url": "u", "width": 1080}],
    "outgoing_post_id": None,
    "rejection_reason": None,
    "created_at": "2025-01-01T00:00:00Z",
}
OUTGOING = {
    "id": "o1",
    "generated_post_id": "g1",
    "status": "done",
    "deliveries": [
        {
            "id": "d1",
            "connected_account_id": "a1",
            "platform": "tiktok",
            "status": "published",
            "error": None,
            "permalink": "p",
        },
        {"id": "d2", "connected_account_id": "a2", "platform": "x", "status": "failed", "error": "platform said no"},
    ],
}


@dataclass
class Case:
    """One endpoint: the call, the request it must send, a canned answer and what must come back."""

    name: str
    call: Callable[[ReelMirrorClient], Awaitable[Any]]
    method: str
    path: str
    body: Any  # None: no body at all
    status: int
    answer: Any
    check: Callable[[Any], None]
    auth: str = "key"  # "key": the client's rm_ key; "jwt": the JWT passed in; "none": no header
    query: dict[str, str] | None = None


JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJ1c2VyLTEifQ" + ".c2ln"

CASES = [
    Case(
        "signup",
        lambda c: c.signup("agent@example.com", SecretStr("pw-123456")),
        "POST",
        "/v1/auth/signup",
        {"email": "agent@example.com", "password": "pw-123456"},
        201,
        {"status": "pending_confirmation", "user_id": "u1", "extra": True},
        lambda r: (r.status, r.user_id) == ("pending_confirmation", "u1"),
        auth="none",
    ),
    Case(
        "create_api_key",
        lambda c: c.create_api_key(SecretStr(JWT), "agent-key", ["personas:read"]),
        "POST",
        "/v1/api-keys",
        {"name": "agent-key", "scopes": ["personas:read"]},
        201,
        {"id": "k1", "key": "rm_" + "k" * 24, "scopes": ["personas:read"]},
        lambda r: (r.id, r.key.get_secret_value(), r.scopes) == ("k1", "rm_" + "k" * 24, ["personas:read"]),
        auth="jwt",
    ),
    Case(
        "create_setup_intent",
        lambda c: c.create_setup_intent(),
        "POST",
        "/v1/billing/setup-intent",
        None,
        200,
        {"client_secret": "seti_123_secret_abc"},
        lambda r: (r.intent_id, r.client_secret.get_secret_value()) == ("seti_123", "seti_123_secret_abc"),
    ),
    Case(
        "get_balance",
        lambda c: c.get_balance(),
        "GET",
        "/v1/billing/balance",
        None,
        200,
        {"data": BALANCE},
        lambda r: (r.balance_cents, r.auto_reload, r.has_payment_method) == (500, True, True),
    ),
    Case(
        "update_balance",
        lambda c: c.update_balance(True, 500, 2500),
        "PATCH",
        "/v1/billing/balance",
        {"auto_reload": True, "reload_threshold_cents": 500, "reload_amount_cents": 2500},
        200,
        {"data": BALANCE},
        lambda r: r.reload_amount_cents == 2500,
    ),
    Case(
        "update_balance_off",
        lambda c: c.update_balance(False),
        "PATCH",
        "/v1/billing/balance",
        {"auto_reload": False},
        200,
        {"data": {**BALANCE, "auto_reload": False}},
        lambda r: r.auto_reload is False,
    ),
    Case(
        "create_topup",
        lambda c: c.create_topup(2500),
        "POST",
        "/v1/billing/topup",
        {"amount_cents": 2500},
        200,
        {"url": "http://sim/_sim/checkout/cs_1"},
        lambda r: r.url == "http://sim/_sim/checkout/cs_1",
    ),
    Case(
        "create_persona",
        lambda c: c.create_persona("My Creator", "Casual"),
        "POST",
        "/v1/personas",
        {"name": "My Creator", "writing_style": "Casual"},
        201,
        {"data": PERSONA},
        lambda r: (r.id, r.name, r.created_at.year) == ("p1", "My Creator", 2025),
    ),
    Case(
        "list_personas",
        lambda c: c.list_personas(),
        "GET",
        "/v1/personas",
        None,
        200,
        {"data": [PERSONA, {**PERSONA, "id": "p2"}]},
        lambda r: [p.id for p in r] == ["p1", "p2"],
    ),
    Case(
        "get_persona",
        lambda c: c.get_persona("p1"),
        "GET",
        "/v1/personas/p1",
        None,
        200,
        {"data": PERSONA},
        lambda r: r.writing_style == "Casual",
    ),
    Case(
        "add_source",
        lambda c: c.add_source("p1", "instagram", "target_creator", "auto_publish"),
        "POST",
        "/v1/personas/p1/sources",
        {"platform": "instagram", "username": "target_creator", "automation_mode": "auto_publish"},
        201,
        {"data": SOURCE},
        lambda r: (r.id, r.automation_mode, r.last_synced_at) == ("s1", "auto_publish", None),
    ),
    Case(
        "add_source_default_mode",
        lambda c: c.add_source("p1", "tiktok", "u"),
        "POST",
        "/v1/personas/p1/sources",
        {"platform": "tiktok", "username": "u", "automation_mode": "sync_only"},
        201,
        {"data": {**SOURCE, "automation_mode": "sync_only"}},
        lambda r: r.automation_mode == "sync_only",
    ),
    Case(
        "update_source",
        lambda c: c.update_source("p1", "s1", "auto_clone"),
        "PATCH",
        "/v1/personas/p1/sources/s1",
        {"automation_mode": "auto_clone"},
        200,
        {"data": {**SOURCE, "automation_mode": "auto_clone"}},
        lambda r: r.automation_mode == "auto_clone",
    ),
    Case(
        "list_sources",
        lambda c: c.list_sources("p1"),
        "GET",
        "/v1/personas/p1/sources",
        None,
        200,
        {"data": [{**SOURCE, "last_synced_at": "2025-01-01T00:05:00Z"}]},
        lambda r: r[0].last_synced_at is not None and r[0].last_synced_at.minute == 5,
    ),
    Case(
        "list_publishing_accounts",
        lambda c: c.list_publishing_accounts(),
        "GET",
        "/v1/publishing/accounts",
        None,
        200,
        {"data": [ACCOUNT]},
        lambda r: [(a.id, a.platform) for a in r] == [("a1", "tiktok")],
    ),
    Case(
        "add_publishing_target",
        lambda c: c.add_publishing_target("p1", "a1"),
        "POST",
        "/v1/personas/p1/publishing-targets",
        {"connected_account_id": "a1"},
        201,
        {"data": TARGET},
        lambda r: (r.id, r.connected_account_id) == ("t1", "a1"),
    ),
    Case(
        "list_publishing_targets",
        lambda c: c.list_publishing_targets("p1"),
        "GET",
        "/v1/personas/p1/publishing-targets",
        None,
        200,
        {"data": [TARGET]},
        lambda r: r[0].persona_id == "p1",
    ),
    Case(
        "sync_persona",
        lambda c: c.sync_persona("p1"),
        "POST",
        "/v1/personas/p1/sync",
        None,
        200,
        {"job_ids": ["j1", "j2"], "message": "started"},
        lambda r: r.job_ids == ["j1", "j2"],
    ),
    Case(
        "get_sync_job",
        lambda c: c.get_sync_job("j1"),
        "GET",
        "/v1/sync-jobs/j1",
        None,
        200,
        {"data": SYNC_JOB},
        lambda r: (r.status, r.is_terminal, r.new_posts) == ("completed", True, 6),
    ),
    Case(
        "list_source_posts",
        lambda c: c.list_source_posts("p1"),
        "GET",
        "/v1/personas/p1/source-posts",
        None,
        200,
        {"data": [SOURCE_POST]},
        lambda r: (r[0].creator_id, r[0].platform, r[0].platform_post_id) == ("c1", "instagram", "ig_1"),
    ),
    Case(
        "generate",
        lambda c: c.generate("sp1", "p1"),
        "POST",
        "/v1/generate",
        {"source_post_id": "sp1", "persona_id": "p1"},
        201,
        {"generated_post_id": "g1", "cost_cents": 75},
        lambda r: r.generated_post_id == "g1",
    ),
    Case(
        "get_generated_post",
        lambda c: c.get_generated_post("g1"),
        "GET",
        "/v1/generated-posts/g1",
        None,
        200,
        {"data": GENERATED},
        lambda r: ([m.status for m in r.media_items], r.all_media_completed) == (["completed"], True),
    ),
    Case(
        "list_generated_posts",
        lambda c: c.list_generated_posts("p1"),
        "GET",
        "/v1/personas/p1/generated-posts",
        None,
        200,
        {"data": [GENERATED]},
        lambda r: [g.id for g in r] == ["g1"],
    ),
    Case(
        "list_generated_posts_filtered",
        lambda c: c.list_generated_posts("p1", source_post_id="sp1"),
        "GET",
        "/v1/personas/p1/generated-posts",
        None,
        200,
        {"data": []},
        lambda r: r == [],
        query={"source_post_id": "sp1"},
    ),
    Case(
        "approve",
        lambda c: c.approve("g1"),
        "POST",
        "/v1/generated-posts/g1/approve",
        None,
        200,
        {"status": "publishing", "outgoing_post_id": "o1"},
        lambda r: (r.status, r.outgoing_post_id) == ("publishing", "o1"),
    ),
    Case(
        "reject",
        lambda c: c.reject("g1", "off-brand"),
        "POST",
        "/v1/generated-posts/g1/reject",
        {"reason": "off-brand"},
        200,
        {"data": {**GENERATED, "status": "rejected", "rejection_reason": "off-brand"}},
        lambda r: (r.status, r.rejection_reason) == ("rejected", "off-brand"),
    ),
    Case(
        "reject_without_reason",
        lambda c: c.reject("g1"),
        "POST",
        "/v1/generated-posts/g1/reject",
        {},
        200,
        {"data": {**GENERATED, "status": "rejected"}},
        lambda r: r.status == "rejected",
    ),
    Case(
        "send_to_compose",
        lambda c: c.send_to_compose("g1"),
        "POST",
        "/v1/generated-posts/g1/send-to-compose",
        None,
        200,
        {"data": {**GENERATED, "status": "composing"}},
        lambda r: r.status == "composing",
    ),
    Case(
        "get_publishing_post",
        lambda c: c.get_publishing_post("o1"),
        "GET",
        "/v1/publishing/posts/o1",
        None,
        200,
        {"post": OUTGOING},
        lambda r: (
            ([d.status for d in r.deliveries], r.all_terminal, r.failed_deliveries[0].error)
            == (["published", "failed"], True, "platform said no")
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_endpoint_request_and_parsing(case: Case, fake_api: Any, api_key: str) -> None:
    client, api = fake_api(lambda request: json_response(case.status, case.answer))
    result = await case.call(client)

    request = api.last
    assert len(api.requests) == 1
    assert request.method == case.method
    assert request.url.path == "/api" + case.path
    assert dict(request.url.params) == (case.query or {})
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.body
    expected_auth = {"key": f"Bearer {api_key}", "jwt": f"Bearer {JWT}", "none": None}[case.auth]
    assert request.headers.get("authorization") == expected_auth
    assert request.headers["user-agent"].startswith("reelmirror-temporal/")
    assert case.check(result), result


def test_every_spec_method_has_a_case() -> None:
    spec_methods = {
        "signup",
        "create_api_key",
        "create_setup_intent",
        "get_balance",
        "update_balance",
        "create_topup",
        "create_persona",
        "list_personas",
        "get_persona",
        "add_source",
        "update_source",
        "list_sources",
        "list_publishing_accounts",
        "add_publishing_target",
        "list_publishing_targets",
        "sync_persona",
        "get_sync_job",
        "list_source_posts",
        "generate",
        "get_generated_post",
        "list_generated_posts",
        "approve",
        "reject",
        "send_to_compose",
        "get_publishing_post",
    }
    assert spec_methods <= {c.name for c in CASES}
    assert all(callable(getattr(ReelMirrorClient, name)) for name in spec_methods)


async def test_create_api_key_defaults_to_all_scopes(fake_api: Any) -> None:
    client, api = fake_api(lambda r: json_response(201, {"id": "k", "key": make_api_key(), "scopes": []}))
    await client.create_api_key(JWT, "agent-key")
    assert api.last_json() == {"name": "agent-key", "scopes": list(ALL_SCOPES)}


async def test_ids_are_quoted_into_one_path_segment(fake_api: Any) -> None:
    client, api = fake_api(lambda r: json_response(200, {"data": PERSONA}))
    await client.get_persona("../billing/balance?x=1")
    assert api.last.url.raw_path == b"/api/v1/personas/..%2Fbilling%2Fbalance%3Fx%3D1"


# -- error rows through the client -------------------------------------------------------------

ERROR_ROWS = [
    (401, "UNAUTHORIZED", UnauthorizedError),
    (403, "FORBIDDEN", ForbiddenError),
    (402, "INSUFFICIENT_BALANCE", InsufficientBalanceError),
    (404, "NOT_FOUND", NotFoundError),
    (409, "CONFLICT", ConflictError),
    (400, "VALIDATION_ERROR", ValidationFailedError),
    (429, "RATE_LIMITED", RateLimitedError),
    (502, "UPSTREAM_ERROR", UpstreamError),
    (503, "SERVICE_UNAVAILABLE", ServiceUnavailableError),
]


@pytest.mark.parametrize(("status", "code", "cls"), ERROR_ROWS)
async def test_error_rows(status: int, code: str, cls: type[ReelMirrorError], fake_api: Any) -> None:
    client, _ = fake_api(lambda r: json_response(status, {"error": {"code": code, "message": f"row {code}"}}))
    with pytest.raises(cls) as caught:
        await client.generate("sp1", "p1")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert str(caught.value) == f"{code} ({status}): row {code}"


async def test_429_with_unix_reset(fake_api: Any) -> None:
    import time

    reset = int(time.time()) + 40
    client, _ = fake_api(
        lambda r: json_response(
            429,
            {"error": {"code": "RATE_LIMITED", "message": "slow down"}},
            {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )
    )
    with pytest.raises(RateLimitedError) as caught:
        await client.list_personas()
    err = caught.value
    assert err.retry_after_seconds is not None and 35 <= err.retry_after_seconds <= 40
    assert err.rate_limit is not None
    assert (err.rate_limit.limit, err.rate_limit.remaining, err.rate_limit.reset_raw) == (120, 0, str(reset))


async def test_429_with_seconds_reset_and_retry_after(fake_api: Any) -> None:
    headers = {"x-ratelimit-reset": "12", "retry-after": "20"}
    client, _ = fake_api(lambda r: json_response(429, {"error": {"code": "RATE_LIMITED", "message": "x"}}, headers))
    with pytest.raises(RateLimitedError) as caught:
        await client.list_personas()
    assert caught.value.retry_after_seconds == 20.0


async def test_429_with_http_date_retry_after_only(fake_api: Any) -> None:
    import email.utils
    import time

    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    client, _ = fake_api(
        lambda r: json_response(429, {"error": {"code": "RATE_LIMITED", "message": "x"}}, {"retry-after": date})
    )
    with pytest.raises(RateLimitedError) as caught:
        await client.list_personas()
    assert caught.value.retry_after_seconds is not None and 25 <= caught.value.retry_after_seconds <= 30


async def test_html_502_from_a_proxy(fake_api: Any) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    client, _ = fake_api(lambda r: httpx.Response(502, content=page, headers={"content-type": "text/html"}))
    with pytest.raises(UpstreamError) as caught:
        await client.generate("sp1", "p1")
    assert caught.value.status == 502
    assert "not JSON" in caught.value.message


async def test_500_is_unexpected(fake_api: Any) -> None:
    client, _ = fake_api(lambda r: httpx.Response(500, content=b"Internal Server Error"))
    with pytest.raises(UnexpectedStatusError) as caught:
        await client.get_balance()
    assert caught.value.status == 500


async def test_redirect_is_not_followed(fake_api: Any) -> None:
    client, api = fake_api(lambda r: httpx.Response(302, headers={"location": "http://elsewhere/"}))
    with pytest.raises(UnexpectedStatusError):
        await client.get_balance()
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("status", "content", "call", "needle"),
    [
        (200, b'{"data": {"balance_cents": 5', lambda c: c.get_balance(), "not JSON"),
        (200, b"<html>maintenance</html>", lambda c: c.get_balance(), "not JSON"),
        (200, b"", lambda c: c.get_balance(), "not JSON"),
        (201, b"{}", lambda c: c.generate("sp1", "p1"), "generated_post_id"),
        (200, b'{"data": {"id": "x"}}', lambda c: c.get_generated_post("x"), "media_items"),
        (200, b'{"data": {"media_items": [{"id": "m1"}]}}', lambda c: c.get_generated_post("x"), "GeneratedPost"),
        (200, b'{"data": {"not": "a list"}}', lambda c: c.list_personas(), "not a list"),
        (200, b'{"personas": []}', lambda c: c.list_personas(), "not a list"),
        (200, b'[{"name": "no id"}]', lambda c: c.list_personas(), "item 0"),
        (200, b'{"data": {"id": "g1", "status": "x"}}', lambda c: c.get_publishing_post("o1"), "OutgoingPost"),
        (200, b'{"post": {"id": "o1"}}', lambda c: c.get_publishing_post("o1"), "deliveries"),
        (200, b'{"post": {"deliveries": [{"id": "d1"}]}}', lambda c: c.get_publishing_post("o1"), "status"),
        (200, b'{"data": {"id": "j1"}}', lambda c: c.get_sync_job("j1"), "SyncJob"),
        (200, b'{"job_ids": "j1"}', lambda c: c.sync_persona("p1"), "job_ids"),
        (200, b"[1, 2]", lambda c: c.approve("g1"), "ApproveResult"),
        (201, b'{"data": {"name": "no id"}}', lambda c: c.create_persona("n", "s"), "Persona"),
    ],
    ids=[
        "truncated",
        "html-200",
        "empty",
        "missing-field",
        "missing-media",
        "media-without-status",
        "not-list",
        "list-under-unknown-key",
        "list-item-without-id",
        "no-deliveries-in-data",
        "no-deliveries",
        "delivery-without-status",
        "sync-job-without-status",
        "wrong-type",
        "array",
        "created-without-id",
    ],
)
async def test_malformed_success_bodies(
    status: int, content: bytes, call: Callable[[ReelMirrorClient], Awaitable[Any]], needle: str, fake_api: Any
) -> None:
    client, _ = fake_api(lambda r: httpx.Response(status, content=content))
    with pytest.raises(MalformedResponseError) as caught:
        await call(client)
    assert caught.value.status == status
    assert needle in caught.value.message


async def test_malformed_message_never_echoes_input_values(fake_api: Any) -> None:
    key = make_api_key()
    client, _ = fake_api(lambda r: json_response(201, {"key": key, "scopes": "not-a-list"}))
    with pytest.raises(MalformedResponseError) as caught:
        await client.create_api_key(JWT, "k")
    assert key not in str(caught.value) and key[3:] not in str(caught.value)
    assert "id: missing" in caught.value.message


@pytest.mark.parametrize(
    ("exc", "kind", "committed"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connect", False),
        (httpx.ConnectTimeout("timed out"), "connect", False),
        (httpx.ReadTimeout("timed out"), "timeout", True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "dropped", True),
        (httpx.ReadError("connection reset"), "dropped", True),
    ],
    ids=["connect", "connect-timeout", "read-timeout", "dropped", "reset"],
)
async def test_transport_errors(exc: httpx.HTTPError, kind: str, committed: bool, fake_api: Any, api_key: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = fake_api(handler)
    with pytest.raises(TransportError) as caught:
        await client.generate("sp1", "p1")
    err = caught.value
    assert (err.kind, err.may_have_committed, err.status) == (kind, committed, None)
    assert type(exc).__name__ in err.message and "POST /v1/generate" in err.message
    assert api_key not in str(err)


async def test_no_retries_on_any_error(fake_api: Any) -> None:
    client, api = fake_api(lambda r: json_response(503, {"error": {"code": "SERVICE_UNAVAILABLE", "message": "x"}}))
    with pytest.raises(ServiceUnavailableError):
        await client.generate("sp1", "p1")
    assert len(api.requests) == 1


# -- secrets, logging, lifecycle ---------------------------------------------------------------


async def test_secrets_never_in_repr_errors_or_logs(fake_api: Any, caplog: pytest.LogCaptureFixture) -> None:
    key = make_api_key()
    password = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        # A careless server echoing the auth header and the request body back in its message.
        echo = f"bad token {request.headers.get('authorization', '')} for {request.content.decode()}"
        return json_response(401, {"error": {"code": "UNAUTHORIZED", "message": echo}})

    client, _ = fake_api(handler, token=key)
    assert key not in repr(client) and key not in str(client)
    assert "token=set" in repr(client)
    caplog.set_level(logging.DEBUG, logger="reelmirror.client")
    for call in (lambda: client.get_balance(), lambda: client.signup("a@b.c", password)):
        with pytest.raises(UnauthorizedError) as caught:
            await call()
        for text in (str(caught.value), repr(caught.value), str(caught.value.args)):
            assert key not in text and password not in text
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /v1/billing/balance -> 401" in log_text
    assert key not in log_text and password not in log_text


async def test_with_token_shares_the_pool_and_switches_the_token(fake_api: Any, api_key: str) -> None:
    client, api = fake_api(lambda r: json_response(200, {"data": BALANCE}), token=None)
    assert "token=none" in repr(client)
    keyed = client.with_token(SecretStr(api_key))
    await keyed.get_balance()
    await keyed.aclose()  # does not own the pool: the original keeps working
    await client.get_balance()
    assert [r.headers.get("authorization") for r in api.requests] == [f"Bearer {api_key}", None]
    assert keyed.has_token and not client.has_token


async def test_owned_pool_is_closed_by_the_context_manager() -> None:
    async with ReelMirrorClient(BASE_URL, token=make_api_key()) as client:
        child = client.with_token(None)
        assert not client._http.is_closed
    assert client._http.is_closed and child._http is client._http


async def test_external_pool_is_left_open(api_key: str) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: json_response(200, {"data": BALANCE})))
    async with ReelMirrorClient(BASE_URL, token=api_key, http=http) as client:
        await client.get_balance()
    assert not http.is_closed
    await http.aclose()


async def test_timeout_and_user_agent_are_configurable(api_key: str) -> None:
    api = FakeApi(lambda r: json_response(200, {"data": BALANCE}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        client = ReelMirrorClient(BASE_URL + "/", token=api_key, http=http, timeout=3.5, user_agent="bot/9")
        await client.get_balance()
    assert api.last.extensions["timeout"] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    assert api.last.headers["user-agent"] == "bot/9"
    assert str(api.last.url) == BASE_URL + "/v1/billing/balance"


async def test_last_rate_limit_tracks_successful_responses(fake_api: Any) -> None:
    client, _ = fake_api(
        lambda r: json_response(
            200,
            {"data": BALANCE},
            {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "119", "x-ratelimit-reset": "60"},
        )
    )
    assert client.last_rate_limit is None
    await client.get_balance()
    assert client.last_rate_limit is not None
    assert (client.last_rate_limit.remaining, client.last_rate_limit.reset_after_seconds) == (119, 60.0)
