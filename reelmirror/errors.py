"""Typed errors of this package: one class per row of the vendor's error table, plus the failures
around it (no response, an unreadable answer, Supabase auth, Stripe).

Why a class per row: the activities map each row to one retry decision (stop, wait for the reset,
back off, treat as "already exists"), and `except ConflictError` reads better and is harder to get
wrong than comparing status codes at every call site.

Three promises hold for every exception here:

* ``str(exc)`` is ``"<CODE> (<status>): <message>"`` and never contains a secret: every message is
  passed through :func:`reelmirror.redaction.redact`, which masks API keys, JWTs, Stripe secrets and
  bearer tokens, plus any explicit secret values the raiser hands in.
* Exceptions pickle and unpickle with all their attributes (``__reduce__``), so they can cross
  process boundaries (worker pools, multiprocessing) without a ``TypeError`` on the way back.
* A response the client cannot read (an HTML 502 page from a proxy, truncated JSON) becomes a typed
  error, never a ``JSONDecodeError`` escaping from deep inside the client.

Secret scrubbing lives in :mod:`reelmirror.redaction`, header parsing in :mod:`reelmirror.ratelimit`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from reelmirror.ratelimit import RateLimitInfo, lowercase_headers, parse_rate_limit, parse_retry_after
from reelmirror.redaction import redact

__all__ = [
    "ERROR_CLASSES",
    "MAX_MESSAGE_CHARS",
    "STATUS_CLASSES",
    "ConfirmationLinkError",
    "ConflictError",
    "EmailNotConfirmedError",
    "ForbiddenError",
    "InsufficientBalanceError",
    "InvalidCredentialsError",
    "InvalidRefreshTokenError",
    "MalformedResponseError",
    "NotFoundError",
    "RateLimitedError",
    "ReelMirrorError",
    "ServiceUnavailableError",
    "StripeConfirmationError",
    "SupabaseAuthError",
    "TransportError",
    "UnauthorizedError",
    "UnexpectedStatusError",
    "UntrustedLinkError",
    "UpstreamError",
    "ValidationFailedError",
    "error_from_response",
]

#: Server-supplied messages are cut to this length so a proxy's whole HTML page never lands in a log.
MAX_MESSAGE_CHARS = 500


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
    """No complete HTTP response: connect error, the total deadline, a connection dropped mid-request.

    ``kind`` is ``"connect"``, ``"timeout"``, ``"dropped"`` or ``"network"``. ``phase`` is where the
    exchange was when it failed, when the transport reported it: ``"connect"`` (nothing sent yet),
    ``"send"`` (request going out), ``"wait"`` (request sent, no answer yet) or ``"receive"`` (answer
    arriving); ``None`` when unknown. ``may_have_committed`` tells whether the server could have run a
    side effect: ``False`` when nothing was sent, or for a call that has no side effect (a GET of
    the API); after any other failure a non-idempotent call must be checked before it is repeated.
    """

    default_code = "TRANSPORT_ERROR"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "network",
        may_have_committed: bool = True,
        phase: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.kind = kind
        self.may_have_committed = may_have_committed
        self.phase = phase

    def _state(self) -> dict[str, Any]:
        return {
            **super()._state(),
            "kind": self.kind,
            "may_have_committed": self.may_have_committed,
            "phase": self.phase,
        }


class SupabaseAuthError(ReelMirrorError):
    """Supabase Auth refused or failed a session call (token endpoint, confirmation link).

    ``error_code`` is Supabase's own code when it gave one (``invalid_grant``, ``otp_expired``,
    ``email_not_confirmed``, ...); ``description`` its human text, redacted. The subclasses are the
    answers a bot acts on differently; this class itself is any other refusal (a 429, a 5xx, a code
    nobody mapped), with ``status`` and ``retry_after_seconds`` to decide on a retry.
    """

    default_code = "SUPABASE_AUTH_ERROR"

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
        self.description = None if description is None else redact(description, secret_list)[:MAX_MESSAGE_CHARS]

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "error_code": self.error_code, "description": self.description}


class InvalidCredentialsError(SupabaseAuthError):
    """A password login was refused (``invalid_grant``, "Invalid login credentials"): do not retry as is."""

    default_code = "INVALID_CREDENTIALS"


class EmailNotConfirmedError(SupabaseAuthError):
    """The account exists but its e-mail is not confirmed yet: follow the confirmation link first."""

    default_code = "EMAIL_NOT_CONFIRMED"


class InvalidRefreshTokenError(SupabaseAuthError):
    """The refresh token is unknown, revoked or already used: log in with the password instead."""

    default_code = "INVALID_REFRESH_TOKEN"


class ConfirmationLinkError(SupabaseAuthError):
    """The Supabase confirmation link failed: expired/reused token, or no session in the redirect.

    ``error_code`` is Supabase's (e.g. ``otp_expired``); ``description`` its human text.
    """

    default_code = "CONFIRMATION_LINK_ERROR"


class UntrustedLinkError(ConfirmationLinkError):
    """A confirmation link that does not point at the configured auth origin, so it was not followed.

    A mailbox holds whatever a stranger chose to send there: only the auth server's own links are
    trusted with a request (and, for PKCE, with the code exchange).
    """

    default_code = "UNTRUSTED_LINK"


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
    headers = lowercase_headers(headers)
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
