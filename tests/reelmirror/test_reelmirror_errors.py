"""The error table, the wait a response asks for, secrets in messages and pickling of reelmirror.errors."""

from __future__ import annotations

import email.utils
import json
import pickle
import secrets

import pytest

from reelmirror.errors import (
    ERROR_CLASSES,
    STATUS_CLASSES,
    ConfirmationLinkError,
    ConflictError,
    EmailNotConfirmedError,
    ForbiddenError,
    InsufficientBalanceError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ReelMirrorError,
    ServiceUnavailableError,
    StripeConfirmationError,
    SupabaseAuthError,
    TransportError,
    UnauthorizedError,
    UnexpectedStatusError,
    UntrustedLinkError,
    UpstreamError,
    ValidationFailedError,
    error_from_response,
)
from reelmirror.ratelimit import MAX_RESET_SECONDS

NOW = 1_750_000_000.0

TABLE = [
    ("UNAUTHORIZED", 401, UnauthorizedError),
    ("FORBIDDEN", 403, ForbiddenError),
    ("INSUFFICIENT_BALANCE", 402, InsufficientBalanceError),
    ("NOT_FOUND", 404, NotFoundError),
    ("CONFLICT", 409, ConflictError),
    ("VALIDATION_ERROR", 400, ValidationFailedError),
    ("RATE_LIMITED", 429, RateLimitedError),
    ("UPSTREAM_ERROR", 502, UpstreamError),
    ("SERVICE_UNAVAILABLE", 503, ServiceUnavailableError),
]


def body(code: str, message: str = "human text") -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def test_table_is_complete() -> None:
    assert {code: cls for code, _, cls in TABLE} == ERROR_CLASSES
    assert {status: cls for _, status, cls in TABLE} == STATUS_CLASSES


@pytest.mark.parametrize(("code", "status", "cls"), TABLE)
def test_each_row_maps_by_code(code: str, status: int, cls: type[ReelMirrorError]) -> None:
    err = error_from_response(status, {}, body(code, "it went wrong"), now=NOW)
    assert type(err) is cls
    assert (err.status, err.code, err.message) == (status, code, "it went wrong")
    assert str(err) == f"{code} ({status}): it went wrong"


@pytest.mark.parametrize(("code", "status", "cls"), TABLE)
def test_each_row_maps_by_status_without_code(code: str, status: int, cls: type[ReelMirrorError]) -> None:
    err = error_from_response(status, {}, b'{"detail": "no envelope"}', now=NOW)
    assert type(err) is cls
    assert err.code == code
    assert err.message == "response carried no error message"


def test_known_code_wins_over_status() -> None:
    err = error_from_response(400, {}, body("CONFLICT"), now=NOW)
    assert type(err) is ConflictError
    assert err.status == 400


def test_unknown_code_falls_back_to_status_and_stays_visible() -> None:
    err = error_from_response(404, {}, body("GONE_FISHING", "nope"), now=NOW)
    assert type(err) is NotFoundError
    assert err.code == "NOT_FOUND"
    assert "GONE_FISHING" in err.message


def test_status_outside_table_is_unexpected() -> None:
    err = error_from_response(500, {}, body("INTERNAL", "boom"), now=NOW)
    assert type(err) is UnexpectedStatusError
    assert err.status == 500
    assert err.code == "UNEXPECTED_STATUS"
    assert "500" in err.message and "boom" in err.message


def test_html_502_is_upstream_error_saying_body_was_not_json() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    err = error_from_response(502, {"content-type": "text/html"}, page, now=NOW)
    assert type(err) is UpstreamError
    assert err.status == 502
    assert "not JSON" in err.message and "text/html" in err.message
    assert "nginx" not in err.message


def test_truncated_json_error_body_is_typed() -> None:
    err = error_from_response(503, {"content-type": "application/json"}, b'{"error": {"code": "SERV', now=NOW)
    assert type(err) is ServiceUnavailableError
    assert "not JSON" in err.message


def test_empty_error_body() -> None:
    err = error_from_response(401, {}, b"", now=NOW)
    assert type(err) is UnauthorizedError
    assert err.message == "empty response body"


def test_long_server_message_is_cut() -> None:
    err = error_from_response(400, {}, body("VALIDATION_ERROR", "x" * 5000), now=NOW)
    assert len(err.message) <= 503


# -- rate limits -----------------------------------------------------------------------------


def test_header_names_are_case_insensitive() -> None:
    err = error_from_response(429, {"Retry-After": "8", "X-RateLimit-Limit": "5"}, body("RATE_LIMITED"), now=NOW)
    assert err.retry_after_seconds == 8.0
    assert err.rate_limit is not None and err.rate_limit.limit == 5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-reset": str(int(NOW) + 30)}, 30.0),
        ({"x-ratelimit-reset": "12"}, 12.0),
        ({"retry-after": "9"}, 9.0),
        ({"retry-after": email.utils.formatdate(NOW + 20, usegmt=True)}, 20.0),
        ({"x-ratelimit-reset": "12", "retry-after": "40"}, 40.0),
        ({"x-ratelimit-reset": str(int(NOW) + 50), "retry-after": "5"}, 50.0),
        ({}, None),
    ],
)
def test_429_waits_for_the_later_of_reset_and_retry_after(headers: dict[str, str], expected: float | None) -> None:
    err = error_from_response(429, headers, body("RATE_LIMITED"), now=NOW)
    assert isinstance(err, RateLimitedError)
    assert err.retry_after_seconds == (pytest.approx(expected) if expected is not None else None)


def test_non_429_ignores_rate_limit_reset_but_honours_retry_after() -> None:
    headers = {"x-ratelimit-reset": "45", "x-ratelimit-remaining": "3"}
    err = error_from_response(503, headers, body("SERVICE_UNAVAILABLE"), now=NOW)
    assert err.retry_after_seconds is None
    assert err.rate_limit is not None and err.rate_limit.remaining == 3
    err = error_from_response(503, {**headers, "retry-after": "60"}, body("SERVICE_UNAVAILABLE"), now=NOW)
    assert err.retry_after_seconds == 60.0


def test_429_with_an_absurd_reset_waits_the_clamped_maximum() -> None:
    millis = str(int(NOW * 1000) + 30_000)
    err = error_from_response(429, {"x-ratelimit-reset": millis}, body("RATE_LIMITED"), now=NOW)
    assert err.rate_limit is not None and err.rate_limit.reset_clamped
    assert err.retry_after_seconds == MAX_RESET_SECONDS


# -- secrets and pickling --------------------------------------------------------------------


def test_exception_message_never_contains_a_secret() -> None:
    key = "rm_" + secrets.token_hex(16)
    err = error_from_response(401, {}, body("UNAUTHORIZED", f"invalid key {key}"), now=NOW)
    assert key not in str(err) and key not in repr(err) and key not in str(err.args)
    opaque = secrets.token_hex(10)
    err = error_from_response(401, {}, body("UNAUTHORIZED", f"bad {opaque}"), now=NOW, secrets=[opaque])
    assert opaque not in str(err)


@pytest.mark.parametrize(
    "err",
    [
        *(cls("msg", status=status, retry_after_seconds=1.5) for _, status, cls in TABLE),
        error_from_response(429, {"x-ratelimit-reset": "3", "x-ratelimit-limit": "5"}, body("RATE_LIMITED"), now=NOW),
        UnexpectedStatusError("odd", status=500),
        MalformedResponseError("bad body", status=200),
        TransportError("dropped", kind="dropped", may_have_committed=True),
        TransportError("deadline", kind="timeout", may_have_committed=False, phase="connect"),
        ConfirmationLinkError("expired", error_code="otp_expired", description="Email link is invalid"),
        UntrustedLinkError("elsewhere", error_code="untrusted_origin"),
        SupabaseAuthError("busy", status=429, error_code="over_request_rate_limit", retry_after_seconds=3.0),
        InvalidCredentialsError("refused", status=400, error_code="invalid_grant", description="Invalid login"),
        EmailNotConfirmedError("refused", status=400, error_code="email_not_confirmed"),
        InvalidRefreshTokenError("refused", status=400, error_code="refresh_token_not_found"),
        StripeConfirmationError("declined", status=402, decline_code="card_declined"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle_with_all_attributes(err: ReelMirrorError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.args == err.args
    assert vars(copy) == vars(err)


def test_transport_error_str_without_status() -> None:
    err = TransportError("GET /v1/x: ConnectError", kind="connect", may_have_committed=False)
    assert str(err) == "TRANSPORT_ERROR (no response): GET /v1/x: ConnectError"
    assert err.status is None and not err.may_have_committed


def test_supabase_errors_share_a_base_and_redact_descriptions() -> None:
    token = secrets.token_urlsafe(16)
    err = InvalidRefreshTokenError("refused", error_code="invalid_grant", description=f"bad {token}", secrets=[token])
    assert isinstance(err, SupabaseAuthError) and isinstance(err, ReelMirrorError)
    assert err.description is not None and token not in err.description
    assert issubclass(UntrustedLinkError, ConfirmationLinkError) and issubclass(
        ConfirmationLinkError, SupabaseAuthError
    )
    assert err.code == "INVALID_REFRESH_TOKEN"
