"""Client and worker exceptions -> Temporal `ApplicationError`s, through one table.

Why a table keyed by exception class: the vendor's error table becomes data that a test walks row by
row, instead of `if status == ...` scattered over twenty activities. Each row names a type of the error
vocabulary (`activities.error_types`), which says whether Temporal may retry it and which delay rule
overrides the retry policy's backoff for the next attempt:

* `POLICY`: exponential backoff for 502 and network errors, counted from those failures in a row
  (`activities.backoff`: a 429's or a 503's wait does not lengthen the next 502's);
* `SERVER_RESET`: a 429 waits for the reset the server announced, at least one second;
* `SERVICE_UNAVAILABLE`: a 503 waits the configured seconds (the guide's 60 s).

Every activity method is wrapped in `translated`, so nothing but an `ApplicationError` (or a bug) leaves
it. Messages are the client's, already redacted: no secret reaches workflow history. Being the one door
of every attempt, it also counts polls and translated errors (`observability.metrics`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.backoff import next_backoff, server_waited
from activities.error_types import VOCABULARY, Delay, ErrorKind, ErrorType
from activities.fleet_budget import BudgetBusyError
from activities.mailbox import MailboxAuthError, MailboxError
from activities.secrets import MissingSecretError, SecretStoreError, SecretStoreUnavailableError
from activities.settings import ActivitySettings
from activities.unusable import UnusableAnswers
from observability import metrics
from reelmirror.errors import (
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
    TransportError,
    UnauthorizedError,
    UnexpectedStatusError,
    UntrustedLinkError,
    UpstreamError,
    ValidationFailedError,
)

__all__ = [
    "ERROR_TABLE",
    "MIN_RATE_LIMIT_DELAY",
    "ErrorRow",
    "not_ready",
    "row_for",
    "to_application_error",
    "translated",
]

#: A 429 never retries sooner than this, even when the reset is "now" (clock skew, a reset of 0).
MIN_RATE_LIMIT_DELAY = timedelta(seconds=1)


@dataclass(frozen=True)
class ErrorRow:
    """One row as the activities apply it: the type, and its retry and delay rules from the vocabulary."""

    type: ErrorType

    @property
    def kind(self) -> ErrorKind:
        return VOCABULARY[self.type]

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    @property
    def delay(self) -> Delay:
        return self.kind.delay


#: Client and worker exceptions -> the vocabulary's type; subclasses inherit their parent's row.
ERROR_TABLE: dict[type[Exception], ErrorRow] = {
    UnauthorizedError: ErrorRow(ErrorType.UNAUTHORIZED),
    ForbiddenError: ErrorRow(ErrorType.FORBIDDEN),
    InsufficientBalanceError: ErrorRow(ErrorType.INSUFFICIENT_BALANCE),
    NotFoundError: ErrorRow(ErrorType.NOT_FOUND),
    # Where 409 means "already exists" the activity handles it before it gets here.
    ConflictError: ErrorRow(ErrorType.CONFLICT),
    ValidationFailedError: ErrorRow(ErrorType.VALIDATION_ERROR),
    RateLimitedError: ErrorRow(ErrorType.RATE_LIMITED),
    # The fleet's own budget for the key has no send time soon: retried like a 429, no request spent.
    BudgetBusyError: ErrorRow(ErrorType.RATE_LIMITED),
    UpstreamError: ErrorRow(ErrorType.UPSTREAM_ERROR),
    ServiceUnavailableError: ErrorRow(ErrorType.SERVICE_UNAVAILABLE),
    TransportError: ErrorRow(ErrorType.TRANSPORT_ERROR),
    MalformedResponseError: ErrorRow(ErrorType.MALFORMED_RESPONSE),
    UnexpectedStatusError: ErrorRow(ErrorType.UNEXPECTED_STATUS),
    ConfirmationLinkError: ErrorRow(ErrorType.CONFIRMATION_LINK),
    # A link to another host is never followed: a mailbox holds whatever a stranger sends it.
    UntrustedLinkError: ErrorRow(ErrorType.UNTRUSTED_LINK),
    # Supabase's refusals that no retry changes: the activities fall back (a refresh to a password login, a
    # login probe to "the account exists"); what still escapes parks with the reason until the operator acts.
    InvalidCredentialsError: ErrorRow(ErrorType.SIGN_IN_REFUSED),
    InvalidRefreshTokenError: ErrorRow(ErrorType.SESSION_EXPIRED),
    EmailNotConfirmedError: ErrorRow(ErrorType.EMAIL_NOT_CONFIRMED),
    StripeConfirmationError: ErrorRow(ErrorType.CARD_DECLINED),
    # The worker's own state: a missing or unsafe secret file needs an operator, like a bad key.
    MissingSecretError: ErrorRow(ErrorType.MISSING_SECRET),
    SecretStoreError: ErrorRow(ErrorType.MISSING_SECRET),
    # The shared store's database is down or failing over: retry with backoff, like the network.
    SecretStoreUnavailableError: ErrorRow(ErrorType.TRANSPORT_ERROR),
    # An unreachable mailbox is a transport problem of its own kind: retry with backoff.
    MailboxError: ErrorRow(ErrorType.TRANSPORT_ERROR),
    # A refused inbox login needs an operator (the password file), not another try.
    MailboxAuthError: ErrorRow(ErrorType.MAILBOX_AUTH),
    # Any other ReelMirrorError (a future subclass): treat like an unexpected status.
    ReelMirrorError: ErrorRow(ErrorType.UNEXPECTED_STATUS),
}


def row_for(exc: BaseException) -> ErrorRow | None:
    """The row of the most specific class of `exc` in the table (so subclasses inherit a row), or None."""
    for cls in type(exc).__mro__:
        row = ERROR_TABLE.get(cls)  # type: ignore[call-overload]
        if row is not None:
            return row
    return None


def _delay(row: ErrorRow, exc: BaseException, settings: ActivitySettings) -> timedelta | None:
    """The wait before the next attempt: the server's (429 reset, 503 minute), or our own backoff counted
    from this activity's backoff failures alone (`activities.backoff`); None for rows not retried."""
    if not row.retryable:
        return None
    if row.delay is Delay.SERVICE_UNAVAILABLE:
        server_waited()
        return timedelta(seconds=settings.service_unavailable_retry_seconds)
    if row.delay is Delay.SERVER_RESET:
        seconds = getattr(exc, "retry_after_seconds", None)
        if seconds is not None:
            server_waited()
            return max(timedelta(seconds=seconds), MIN_RATE_LIMIT_DELAY)
        # the server gave no hint: back off like after a 502
    return next_backoff()


def to_application_error(exc: BaseException, settings: ActivitySettings) -> ApplicationError:
    """Translate one exception through the table; raises LookupError for an exception outside it (a bug)."""
    row = row_for(exc)
    if row is None:
        raise LookupError(f"{type(exc).__name__} has no row in the error table")
    return ApplicationError(
        str(exc),
        type=row.type,
        non_retryable=not row.retryable,
        next_retry_delay=_delay(row, exc, settings),
    )


def not_ready(message: str, next_check: timedelta | None = None) -> ApplicationError:
    """A polled job is not finished: benign (no error log, no failed-attempt noise), retried on the poll
    schedule, or after `next_check` when the poll follows a plan (`activities.poll_plan`)."""
    return ApplicationError(
        message, type=ErrorType.NOT_READY, category=ApplicationErrorCategory.BENIGN, next_retry_delay=next_check
    )


class _HasSettings(Protocol):
    settings: ActivitySettings
    unusable: UnusableAnswers


S = TypeVar("S", bound=_HasSettings)
P = ParamSpec("P")
R = TypeVar("R")


def translated(
    fn: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Awaitable[R]]:
    """Wrap an activity method: exceptions of the table leave it as `ApplicationError`s.

    `ApplicationError`s raised on purpose (`not_ready`, a deliberate non-retryable) pass through as they
    are; anything outside the table is a bug and propagates unchanged for Temporal to report.
    """

    @functools.wraps(fn)
    async def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        metrics.poll()
        try:
            result = await fn(self, *args, **kwargs)
        except ApplicationError:
            self.unusable.clear()
            raise
        except Exception as exc:
            row = row_for(exc)
            if row is None:
                raise
            error = to_application_error(exc, self.settings)
            if row.kind.bounded and activity.in_activity():
                error = _bounded(error, self.unusable.seen(datetime.now(UTC)), self.settings)
            else:
                self.unusable.clear()
            _log(error)
            metrics.activity_error(error.type, not error.non_retryable)
            raise error from exc
        self.unusable.clear()
        return result

    return wrapper


def _bounded(error: ApplicationError, since: datetime, settings: ActivitySettings) -> ApplicationError:
    """The same error while the streak of unusable answers is young; UNUSABLE_ANSWER once it is too old."""
    unusable_for = datetime.now(UTC) - since
    if unusable_for.total_seconds() < settings.unusable_answer_budget_seconds:
        return error
    return ApplicationError(
        f"{error.message} (answers unusable for {int(unusable_for.total_seconds())} s since "
        f"{since:%Y-%m-%d %H:%M:%S} UTC: {error.type})",
        type=ErrorType.UNUSABLE_ANSWER,
        non_retryable=True,
    )


def _log(error: ApplicationError) -> None:
    if not activity.in_activity():
        return
    if error.non_retryable:
        activity.logger.warning("activity failed, not retried: %s: %s", error.type, error.message)
    else:
        activity.logger.info(
            "activity attempt failed, will retry: %s: %s (next delay %s)",
            error.type,
            error.message,
            error.next_retry_delay or "per policy",
        )
