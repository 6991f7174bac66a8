"""Pacing headers: X-RateLimit-* in both Reset forms, the clamp of absurd resets, Retry-After."""

from __future__ import annotations

import email.utils

import pytest

from reelmirror.ratelimit import MAX_RESET_SECONDS, RateLimitInfo, parse_rate_limit, parse_retry_after

NOW = 1_750_000_000.0


def test_rate_limit_headers_unix_reset() -> None:
    info = parse_rate_limit(
        {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)},
        now=NOW,
    )
    assert info == RateLimitInfo(
        limit=120, remaining=0, reset_raw=str(int(NOW) + 42), reset_after_seconds=42.0, reset_kind="unix"
    )
    assert info.exhausted and not info.reset_clamped


def test_rate_limit_headers_seconds_reset() -> None:
    info = parse_rate_limit({"x-ratelimit-reset": "17"}, now=NOW)
    assert info is not None
    assert (info.reset_after_seconds, info.reset_kind) == (17.0, "seconds")
    assert info.limit is None and info.remaining is None and not info.exhausted


def test_remaining_and_limit_are_typed() -> None:
    info = parse_rate_limit({"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "119.0"}, now=NOW)
    assert info is not None
    assert (info.limit, info.remaining, info.reset_raw, info.reset_after_seconds) == (120, 119, None, None)


def test_rate_limit_reset_in_the_past_clamps_to_zero() -> None:
    info = parse_rate_limit({"x-ratelimit-reset": str(int(NOW) - 30)}, now=NOW)
    assert info is not None and info.reset_after_seconds == 0.0 and not info.reset_clamped


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (str(int(NOW * 1000) + 5000), "unix"),  # milliseconds since the epoch: the year 57000 as seconds
        (str(int(NOW) + 7 * 24 * 3600), "unix"),  # a week away
        ("86400", "seconds"),  # a day to wait
    ],
    ids=["epoch-milliseconds", "unix-far-future", "seconds-far-future"],
)
def test_absurd_reset_is_clamped_and_flagged(raw: str, kind: str) -> None:
    info = parse_rate_limit({"x-ratelimit-reset": raw}, now=NOW)
    assert info is not None
    assert (info.reset_after_seconds, info.reset_kind, info.reset_clamped, info.reset_raw) == (
        MAX_RESET_SECONDS,
        kind,
        True,
        raw,
    )


def test_reset_at_the_maximum_is_not_flagged() -> None:
    info = parse_rate_limit({"x-ratelimit-reset": str(int(MAX_RESET_SECONDS))}, now=NOW)
    assert info is not None and info.reset_after_seconds == MAX_RESET_SECONDS and not info.reset_clamped


def test_rate_limit_absent_or_garbage() -> None:
    assert parse_rate_limit({}, now=NOW) is None
    info = parse_rate_limit(
        {"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "nan", "x-ratelimit-reset": "soon"}, now=NOW
    )
    assert info is not None
    assert info.limit is None and info.remaining is None and info.reset_after_seconds is None
    assert info.reset_raw == "soon" and info.reset_kind is None
    info = parse_rate_limit({"x-ratelimit-reset": "inf"}, now=NOW)
    assert info is not None and info.reset_after_seconds is None


def test_retry_after_delta_and_http_date() -> None:
    assert parse_retry_after("7", now=NOW) == 7.0
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_retry_after(date, now=NOW) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(NOW - 90, usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("-5", now=NOW) == 0.0
    assert parse_retry_after("whenever", now=NOW) is None
    assert parse_retry_after("nan", now=NOW) is None
    assert parse_retry_after("", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None
