"""Typed errors for the ReelMirror API, one class per row of the vendor's error table.

Why a class per row: the activities map each row to one retry decision (stop, wait for the reset,
back off, treat as "already exists"), and `except ConflictError` reads better and is harder to get
wrong than comparing status codes at every call site.

Three promises hold for every exception here:

* ``str(exc)`` is ``"<CODE> (<status>): <message>"`` and never contains a secret: every message is
  passed through :func:`redact`, which masks API keys, JWTs, Stripe secrets and bearer tokens, plus
  any explicit secret values the raiser hands in.
* Exceptions pickle and unpickle with all their attributes (``__reduce__``), so they can cross
  process boundaries (worker pools, multiprocessing) without a ``TypeError`` on the way back.
* A response the client cannot read (an HTML 502 page from a proxy, truncated JSON) becomes a typed
  error, never a ``JSONDecodeError`` escaping from deep inside the client.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "ERROR_CLASSES",
    "STATUS_CLASSES",
    "ConfirmationLinkError",
    "ConflictError",
    "ForbiddenError",
    "InsufficientBalanceError",
    "MalformedResponseError",
    "NotFoundError",
    "RateLimitInfo",
    "RateLimitedError",
    "ReelMirrorError",
    "ServiceUnavailableError",
    "StripeConfirmationError",
    "TransportError",
    "UnauthorizedError",
    "UnexpectedStatusError",
    "UpstreamError",
    "ValidationFailedError",
    "error_from_response",
    "parse_rate_limit",
    "parse_retry_after",
    "redact",
]

#: A ``X-RateLimit-Reset`` value above this is a Unix time in seconds; at or below it, seconds to wait.
#: 10^9 seconds is 2001-09-09: no "seconds to wait" is that large, and no Unix time that small is current.
UNIX_TIME_THRESHOLD = 1_000_000_000

#: Server-supplied messages are cut to this length so a proxy's whole HTML page never lands in a log.
MAX_MESSAGE_CHARS = 500

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"\brm_[A-Za-z0-9_-]{6,}"), "rm_[redacted]"),
    (re.compile(r"\b((?:seti|pi)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), r"\1_secret_[redacted]"),
    (re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+"), r"\1_\2_[redacted]"),
    (re.compile(r"(?i)(access_token|refresh_token|password|client_secret|token)=[^&\s#]+"), r"\1=[redacted]"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask anything that looks like a credential, and every value in ``secrets``.

    Why both: the patterns catch the project's known secret shapes even when the raiser did not know
    a value was secret (a server echoing a key back in a 401 message); the explicit values catch the
    shapes no pattern knows (a password, an opaque refresh token).
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``X-RateLimit-*`` headers of one response, as sent plus one derived value.

    ``reset_raw`` keeps the header text because the contract does not say whether it is a Unix
    time or a number of seconds; ``reset_after_seconds`` is the interpretation (above 10^9 a Unix
    time, else seconds to wait), computed against the clock when the response was parsed.
    """

    limit: int | None
    remaining: int | None
    reset_raw: str | None
    reset_after_seconds: float | None = None


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _reset_after_seconds(reset_raw: str | None, now: float) -> float | None:
    if reset_raw is None:
        return None
    try:
        value = float(reset_raw.strip())
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite: unusable.
        return None
    seconds = value - now if value > UNIX_TIME_THRESHOLD else value
    return max(0.0, seconds)


def _lowercase(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; a plain dict is not, so normalise before looking up."""
    return {name.lower(): value for name, value in headers.items()}


def parse_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimitInfo | None:
    """Read the rate-limit headers; ``None`` when the response carries none of them.

    ``headers`` may be any mapping: names are matched without regard to case.
    """
    headers = _lowercase(headers)
    limit_raw = headers.get("x-ratelimit-limit")
    remaining_raw = headers.get("x-ratelimit-remaining")
    reset_raw = headers.get("x-ratelimit-reset")
    if limit_raw is None and remaining_raw is None and reset_raw is None:
        return None
    current = time.time() if now is None else now
    return RateLimitInfo(
        limit=_to_int(limit_raw),
        remaining=_to_int(remaining_raw),
        reset_raw=reset_raw,
        reset_after_seconds=_reset_after_seconds(reset_raw, current),
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` in both RFC 9110 forms: delta-seconds or an HTTP-date.

    Returns seconds to wait from ``now`` (clamped at 0), or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means the zone was "-0000".
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _rebuild(cls: type[ReelMirrorError], state: dict[str, Any]) -> ReelMirrorError:
    """Unpickle helper: rebuild an error from its constructor keywords (see ``__reduce__``)."""
    return cls(**state)


class ReelMirrorError(Exception):
    """Base class: anything the ReelMirror client raises on purpose.

    Attributes: ``status`` (HTTP status, ``None`` when no response came), ``code`` (the contract's
    error code, or this package's own code for non-table errors), ``message`` (redacted, human text),
    ``retry_after_seconds`` (how long the server asked us to wait, clamped at 0; ``None`` if it did
    not say) and ``rate_limit`` (the response's ``X-RateLimit-*`` headers).
    """

    default_code: ClassVar[str] = "REELMIRROR_ERROR"
    default_status: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after_seconds: float | None = None,
        rate_limit: RateLimitInfo | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        clean = redact(message, secrets)
        if len(clean) > MAX_MESSAGE_CHARS:
            clean = clean[:MAX_MESSAGE_CHARS] + "..."
        self.message = clean
        self.status = self.default_status if status is None else status
        self.code = code or self.default_code
        self.retry_after_seconds = None if retry_after_seconds is None else max(0.0, retry_after_seconds)
        self.rate_limit = rate_limit
        super().__init__(clean)

    def _state(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this error (already redacted, so no secrets needed)."""
        return {
            "message": self.message,
            "status": self.status,
            "code": self.code,
            "retry_after_seconds": self.retry_after_seconds,
            "rate_limit": self.rate_limit,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._state()))

    def __str__(self) -> str:
        status = "no response" if self.status is None else str(self.status)
        return f"{self.code} ({status}): {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class UnauthorizedError(ReelMirrorError):
    """401: the token is missing or invalid. Stop: a person must fix the key."""

    default_code = "UNAUTHORIZED"
    default_status = 401


class ForbiddenError(ReelMirrorError):
    """403: the key lacks a scope. Stop: the key needs that scope."""

    default_code = "FORBIDDEN"
    default_status = 403


class InsufficientBalanceError(ReelMirrorError):
    """402: not enough credits. Wait for a top-up, then go on."""

    default_code = "INSUFFICIENT_BALANCE"
    default_status = 402


class NotFoundError(ReelMirrorError):
    """404: no such resource. Stop that item; check the ids."""

    default_code = "NOT_FOUND"
    default_status = 404


class ConflictError(ReelMirrorError):
    """409: duplicate (source already added, e-mail already signed up). Means "already exists"."""

    default_code = "CONFLICT"
    default_status = 409


class ValidationFailedError(ReelMirrorError):
    """400: invalid request, including "approve with no publishing targets". Do not retry as is."""

    default_code = "VALIDATION_ERROR"
    default_status = 400


class RateLimitedError(ReelMirrorError):
    """429: too many requests. ``retry_after_seconds`` says how long the server asked us to wait."""

    default_code = "RATE_LIMITED"
    default_status = 429


class UpstreamError(ReelMirrorError):
    """502: a platform API (or a proxy) failed. Retry with exponential backoff.

    Careful: the server may have committed the side effect before the 502 (a lost response), so
    a non-idempotent call must be checked before it is repeated.
    """

    default_code = "UPSTREAM_ERROR"
    default_status = 502


class ServiceUnavailableError(ReelMirrorError):
    """503: ReelMirror is down. The guide says retry after 60 s."""

    default_code = "SERVICE_UNAVAILABLE"
    default_status = 503


class UnexpectedStatusError(ReelMirrorError):
    """A status outside the error table (500, 418, a stray redirect). Treat as a server bug."""

    default_code = "UNEXPECTED_STATUS"


class MalformedResponseError(ReelMirrorError):
    """A success status whose body is not JSON, is truncated, or lacks fields the contract promises.

    The side effect may well have happened; only the answer could not be read.
    """

    default_code = "MALFORMED_RESPONSE"


class TransportError(ReelMirrorError):
    """No HTTP response at all: connect error, timeout, connection dropped mid-request.

    ``kind`` is ``"connect"``, ``"timeout"``, ``"dropped"`` or ``"network"``. ``may_have_committed``
    tells whether the server could have run the request: ``False`` only when the connection was
    never made, so a non-idempotent call after any other kind must be checked before it is repeated.
    """

    default_code = "TRANSPORT_ERROR"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "network",
        may_have_committed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.kind = kind
        self.may_have_committed = may_have_committed

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "kind": self.kind, "may_have_committed": self.may_have_committed}


class ConfirmationLinkError(ReelMirrorError):
    """The Supabase confirmation link failed: expired/reused token, or no session in the redirect.

    ``error_code`` is Supabase's (e.g. ``otp_expired``); ``description`` its human text.
    """

    default_code = "CONFIRMATION_LINK_ERROR"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        description: str | None = None,
        secrets: Iterable[str | None] = (),
        **kwargs: Any,
    ) -> None:
        secret_list = list(secrets)
        super().__init__(message, secrets=secret_list, **kwargs)
        self.error_code = error_code
        self.description = None if description is None else redact(description, secret_list)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "error_code": self.error_code, "description": self.description}


class StripeConfirmationError(ReelMirrorError):
    """Confirming the SetupIntent with Stripe failed (card declined, authentication needed, ...).

    ``decline_code`` is Stripe's decline code when it gave one, else its error code
    (``card_declined``, ``authentication_required``, ...).
    """

    default_code = "STRIPE_CONFIRMATION_FAILED"

    def __init__(self, message: str, *, decline_code: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.decline_code = decline_code

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "decline_code": self.decline_code}


#: The contract's error codes and the class each one raises.
ERROR_CLASSES: dict[str, type[ReelMirrorError]] = {
    cls.default_code: cls
    for cls in (
        UnauthorizedError,
        ForbiddenError,
        InsufficientBalanceError,
        NotFoundError,
        ConflictError,
        ValidationFailedError,
        RateLimitedError,
        UpstreamError,
        ServiceUnavailableError,
    )
}

#: Fallback when the body carries no known code (a proxy's HTML page, an empty body).
STATUS_CLASSES: dict[int, type[ReelMirrorError]] = {
    cls.default_status: cls for cls in ERROR_CLASSES.values() if cls.default_status is not None
}


def _describe_body(body: bytes, content_type: str | None) -> str:
    kind = (content_type or "no content type").split(";")[0].strip() or "no content type"
    return f"response body was not JSON ({kind}, {len(body)} bytes)"


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    secrets: Iterable[str | None] = (),
) -> ReelMirrorError:
    """Turn one non-2xx response into the matching typed error (never raises while doing so).

    Class: by the body's ``error.code`` when it is a code of the table, else by status, else
    :class:`UnexpectedStatusError`. Wait time: for a 429 the larger of the ``X-RateLimit-Reset``
    interpretation and ``Retry-After`` (waiting for the later of two server hints satisfies both,
    and retrying before either only earns another 429); for any other status only ``Retry-After``,
    because the rate-limit window says nothing about when a 503'ing service comes back.
    """
    current = time.time() if now is None else now
    headers = _lowercase(headers)
    rate_limit = parse_rate_limit(headers, current)
    retry_after = parse_retry_after(headers.get("retry-after"), current)

    code: str | None = None
    message: str | None = None
    try:
        payload = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        message = _describe_body(body, headers.get("content-type"))
    else:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            raw_code = error.get("code")
            raw_message = error.get("message")
            code = raw_code if isinstance(raw_code, str) else None
            message = raw_message if isinstance(raw_message, str) else None
        elif isinstance(error, str):  # A bare {"error": "text"} is common enough to read kindly.
            message = error
        if message is None:
            message = "response carried no error message" if body else "empty response body"

    if code is not None and code not in ERROR_CLASSES:
        message = f"[{code}] {message}"  # Keep an unknown code visible; the class comes from status.
    cls = ERROR_CLASSES.get(code or "") or STATUS_CLASSES.get(status) or UnexpectedStatusError
    if cls is UnexpectedStatusError:
        message = f"unexpected HTTP status {status}: {message}"

    waits = [retry_after]
    if cls is RateLimitedError and rate_limit is not None:
        waits.append(rate_limit.reset_after_seconds)
    known = [w for w in waits if w is not None]
    return cls(
        message,
        status=status,
        code=code if code in ERROR_CLASSES else None,
        retry_after_seconds=max(known) if known else None,
        rate_limit=rate_limit,
        secrets=secrets,
    )
