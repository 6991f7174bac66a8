"""Reading the server's pacing hints: ``X-RateLimit-*`` and ``Retry-After``.

Why a module of its own: the hints are read on every response, successful or not, and they feed two
different users (the exception a 429 raises, and :attr:`ReelMirrorClient.last_rate_limit` that lets a
caller slow down before a 429). Header names are the common convention and only **assumed** by the
contract, which also leaves open whether ``X-RateLimit-Reset`` is a Unix time or a number of seconds:
both are accepted (above 10^9 a Unix time in seconds, otherwise seconds to wait).

A reset further away than :data:`MAX_RESET_SECONDS` is clamped to it and flagged
(``reset_clamped``): such a value is almost always a unit mistake (milliseconds since the epoch read
as seconds puts the reset in the year 57000), and obeying it would park a bot for centuries.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_RESET_SECONDS",
    "UNIX_TIME_THRESHOLD",
    "RateLimitInfo",
    "lowercase_headers",
    "parse_rate_limit",
    "parse_retry_after",
]

#: A ``X-RateLimit-Reset`` value above this is a Unix time in seconds; at or below it, seconds to wait.
#: 10^9 seconds is 2001-09-09: no "seconds to wait" is that large, and no Unix time that small is current.
UNIX_TIME_THRESHOLD = 1_000_000_000

#: The longest wait a reset may ask for; anything later is clamped to this and flagged. A rate-limit
#: window of more than an hour is not something this API's guide or any common convention describes.
MAX_RESET_SECONDS = 3600.0

ResetKind = Literal["unix", "seconds"]


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``X-RateLimit-*`` headers of one response, as sent plus their interpretation.

    ``limit`` and ``remaining`` are the header integers (``None`` when absent or unreadable);
    ``reset_raw`` keeps the header text as sent; ``reset_kind`` says how it was read and
    ``reset_after_seconds`` is the resulting wait, computed against the clock when the response was
    parsed, clamped to ``[0, MAX_RESET_SECONDS]``; ``reset_clamped`` is true when the server's value
    was further away than that.
    """

    limit: int | None
    remaining: int | None
    reset_raw: str | None
    reset_after_seconds: float | None = None
    reset_kind: ResetKind | None = None
    reset_clamped: bool = False

    @property
    def exhausted(self) -> bool:
        """The server said no request is left in this window (the next one will likely be a 429)."""
        return self.remaining is not None and self.remaining <= 0


def lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; a plain dict is not, so normalise before looking up."""
    return {name.lower(): value for name, value in headers.items()}


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


def _reset(reset_raw: str | None, now: float) -> tuple[float | None, ResetKind | None, bool]:
    if reset_raw is None:
        return None, None, False
    try:
        value = float(reset_raw.strip())
    except ValueError:
        return None, None, False
    if not math.isfinite(value):
        return None, None, False
    kind: ResetKind = "unix" if value > UNIX_TIME_THRESHOLD else "seconds"
    seconds = max(0.0, value - now if kind == "unix" else value)
    if seconds > MAX_RESET_SECONDS:
        return MAX_RESET_SECONDS, kind, True
    return seconds, kind, False


def parse_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimitInfo | None:
    """Read the rate-limit headers; ``None`` when the response carries none of them.

    ``headers`` may be any mapping: names are matched without regard to case.
    """
    headers = lowercase_headers(headers)
    limit_raw = headers.get("x-ratelimit-limit")
    remaining_raw = headers.get("x-ratelimit-remaining")
    reset_raw = headers.get("x-ratelimit-reset")
    if limit_raw is None and remaining_raw is None and reset_raw is None:
        return None
    seconds, kind, clamped = _reset(reset_raw, time.time() if now is None else now)
    return RateLimitInfo(
        limit=_to_int(limit_raw),
        remaining=_to_int(remaining_raw),
        reset_raw=reset_raw,
        reset_after_seconds=seconds,
        reset_kind=kind,
        reset_clamped=clamped,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` in both RFC 9110 forms: delta-seconds or an HTTP-date.

    Returns seconds to wait from ``now`` (clamped at 0), or ``None`` when absent or unreadable.
    Not clamped above: unlike the reset header, ``Retry-After`` is standard and unambiguous, and a
    long one (planned maintenance) is a real instruction.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means the zone was "-0000".
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
