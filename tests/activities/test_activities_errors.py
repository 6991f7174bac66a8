"""The error table, row by row: each client exception -> ApplicationError type, retryability, next delay."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.backoff import BACKOFF_INITIAL, backoff_delay
from activities.error_types import NON_RETRYABLE_ERROR_TYPES, PARK_FOR_OPERATOR, ErrorType
from activities.errors import ERROR_TABLE, MIN_RATE_LIMIT_DELAY, not_ready, row_for, to_application_error, translated
from activities.fleet_budget import BudgetBusyError
from activities.mailbox import MailboxAuthError, MailboxError
from activities.secrets import MissingSecretError, SecretStoreError, SecretStoreUnavailableError
from activities.settings import ActivitySettings
from activities.unusable import UnusableAnswers
from reelmirror import errors as rm

SETTINGS = ActivitySettings(service_unavailable_retry_seconds=7)
NOW = 1_700_000_000.0

# (exception, expected type, expected non_retryable, expected next_retry_delay: the first backoff failure
# of an activity waits BACKOFF_INITIAL)
ROWS = [
    (rm.UnauthorizedError("bad key"), ErrorType.UNAUTHORIZED, True, None),
    (rm.ForbiddenError("missing scope content:write"), ErrorType.FORBIDDEN, True, None),
    (rm.InsufficientBalanceError("balance 0"), ErrorType.INSUFFICIENT_BALANCE, True, None),
    (rm.NotFoundError("no such post"), ErrorType.NOT_FOUND, True, None),
    (rm.ConflictError("duplicate"), ErrorType.CONFLICT, True, None),
    (rm.ValidationFailedError("bad body"), ErrorType.VALIDATION_ERROR, True, None),
    (
        rm.RateLimitedError("slow down", retry_after_seconds=12.5),
        ErrorType.RATE_LIMITED,
        False,
        timedelta(seconds=12.5),
    ),
    (rm.UpstreamError("platform down"), ErrorType.UPSTREAM_ERROR, False, BACKOFF_INITIAL),
    (rm.ServiceUnavailableError("down"), ErrorType.SERVICE_UNAVAILABLE, False, timedelta(seconds=7)),
    (rm.TransportError("GET /x: ReadTimeout", kind="timeout"), ErrorType.TRANSPORT_ERROR, False, BACKOFF_INITIAL),
    (rm.MalformedResponseError("not JSON", status=200), ErrorType.MALFORMED_RESPONSE, False, BACKOFF_INITIAL),
    (rm.UnexpectedStatusError("500", status=500), ErrorType.UNEXPECTED_STATUS, False, BACKOFF_INITIAL),
    (rm.ConfirmationLinkError("otp_expired", error_code="otp_expired"), ErrorType.CONFIRMATION_LINK, True, None),
    (rm.StripeConfirmationError("declined", decline_code="card_declined"), ErrorType.CARD_DECLINED, True, None),
    (rm.UntrustedLinkError("link to evil.example", error_code="untrusted"), ErrorType.UNTRUSTED_LINK, True, None),
    (rm.InvalidCredentialsError("invalid_grant", error_code="invalid_grant"), ErrorType.SIGN_IN_REFUSED, True, None),
    (rm.InvalidRefreshTokenError("already used", error_code="invalid_grant"), ErrorType.SESSION_EXPIRED, True, None),
    (rm.EmailNotConfirmedError("email_not_confirmed"), ErrorType.EMAIL_NOT_CONFIRMED, True, None),
    (MissingSecretError("acct", "api_key"), ErrorType.MISSING_SECRET, True, None),
    (SecretStoreError("world-readable"), ErrorType.MISSING_SECRET, True, None),
    (SecretStoreUnavailableError("database restarting"), ErrorType.TRANSPORT_ERROR, False, BACKOFF_INITIAL),
    (MailboxError("unreachable"), ErrorType.TRANSPORT_ERROR, False, BACKOFF_INITIAL),
    (MailboxAuthError("login refused"), ErrorType.MAILBOX_AUTH, True, None),
    (BudgetBusyError(4.0), ErrorType.RATE_LIMITED, False, timedelta(seconds=4)),
]


@pytest.mark.parametrize(("exc", "type_", "non_retryable", "delay"), ROWS, ids=lambda v: type(v).__name__)
def test_each_row(exc: Exception, type_: str, non_retryable: bool, delay: timedelta | None) -> None:
    error = to_application_error(exc, SETTINGS)
    assert isinstance(error, ApplicationError)
    assert error.type == type_
    assert error.non_retryable is non_retryable
    assert error.next_retry_delay == delay
    assert error.category is ApplicationErrorCategory.UNSPECIFIED
    assert error.message == str(exc)


def test_every_table_class_is_exercised() -> None:
    assert {type(exc) for exc, *_ in ROWS} | {rm.ReelMirrorError} == set(ERROR_TABLE)


def test_supabase_refusals_park_until_the_operator_acts() -> None:
    """A wrong password or a dead refresh token is not retried blindly: the workflow parks with the reason."""
    for exc in (rm.InvalidCredentialsError("x"), rm.InvalidRefreshTokenError("x"), rm.EmailNotConfirmedError("x")):
        assert to_application_error(exc, SETTINGS).type in PARK_FOR_OPERATOR
    untrusted = to_application_error(rm.UntrustedLinkError("points at evil.example"), SETTINGS)
    assert untrusted.type not in PARK_FOR_OPERATOR and untrusted.non_retryable


def test_retryable_matches_the_policies_non_retryable_list() -> None:
    """A row and the retry policies' non_retryable_error_types must agree, or one of them lies."""
    for cls, row in ERROR_TABLE.items():
        assert row.retryable is (row.type not in NON_RETRYABLE_ERROR_TYPES), cls


def _rate_limited(headers: dict[str, str]) -> rm.ReelMirrorError:
    body = b'{"error": {"code": "RATE_LIMITED", "message": "too many requests"}}'
    return rm.error_from_response(429, headers, body, now=NOW)


def test_429_reset_as_unix_time() -> None:
    exc = _rate_limited({"x-ratelimit-limit": "120", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 42)})
    error = to_application_error(exc, SETTINGS)
    assert (error.type, error.non_retryable) == (ErrorType.RATE_LIMITED, False)
    assert error.next_retry_delay == timedelta(seconds=42)


def test_429_reset_as_seconds_to_wait() -> None:
    exc = _rate_limited({"x-ratelimit-limit": "120", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "17"})
    assert to_application_error(exc, SETTINGS).next_retry_delay == timedelta(seconds=17)


def test_429_retry_after_header() -> None:
    exc = _rate_limited({"retry-after": "9"})
    assert to_application_error(exc, SETTINGS).next_retry_delay == timedelta(seconds=9)


def test_429_reset_now_still_waits_a_second() -> None:
    exc = _rate_limited({"x-ratelimit-reset": str(NOW - 5)})
    assert to_application_error(exc, SETTINGS).next_retry_delay == MIN_RATE_LIMIT_DELAY


def test_429_without_any_hint_backs_off_like_a_502() -> None:
    exc = _rate_limited({})
    error = to_application_error(exc, SETTINGS)
    assert error.next_retry_delay == BACKOFF_INITIAL
    assert error.non_retryable is False


# --- the fault tail: a server-demanded wait never lengthens the backoff of a later 502 ------------------

UPSTREAM = rm.UpstreamError("platform down")
LIMITED = rm.RateLimitedError("slow down", retry_after_seconds=5)
DOWN = rm.ServiceUnavailableError("down")


@pytest.mark.parametrize(
    ("failures", "delays"),
    [
        # each attempt's failure -> the delay before the next attempt, across attempts of one activity
        ([UPSTREAM, UPSTREAM, UPSTREAM], [0.5, 1, 2]),
        ([LIMITED, DOWN, LIMITED, UPSTREAM], [5, 7, 5, 0.5]),  # the 502 after three demanded waits: 0.5 s
        # a demanded wait ends the streak
        ([UPSTREAM, UPSTREAM, LIMITED, DOWN, UPSTREAM, UPSTREAM], [0.5, 1, 5, 7, 0.5, 1]),
        (
            [rm.TransportError("reset", kind="dropped"), UPSTREAM, rm.MalformedResponseError("x", status=200)],
            [0.5, 1, 2],
        ),
        ([UPSTREAM] * 9, [0.5, 1, 2, 4, 8, 16, 30, 30, 30]),  # capped
    ],
)
async def test_the_backoff_counts_only_its_own_failures_across_attempts(
    failures: list[Exception], delays: list[float]
) -> None:
    """Attempts run like a worker runs them: the heartbeat details of one attempt reach the next."""
    details: list[object] = []
    seen: list[float] = []
    for attempt, failure in enumerate(failures, start=1):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=list(details[-1:]))
        env.on_heartbeat = lambda *d: details.extend(d)
        with pytest.raises(ApplicationError) as info:
            await env.run(_Translated(SETTINGS).fail, failure)
        assert info.value.next_retry_delay is not None
        seen.append(info.value.next_retry_delay.total_seconds())
    assert seen == delays


def test_backoff_delays_are_exponential_and_capped() -> None:
    assert [backoff_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 20)] == [0.5, 1, 2, 16, 30, 30]
    assert sum(backoff_delay(n).total_seconds() for n in range(1, 6)) < 30, "five 502s in a row: under 30 s"


class _Translated:
    def __init__(self, settings: ActivitySettings) -> None:
        self.settings = settings
        self.unusable = UnusableAnswers()

    @translated
    async def fail(self, exc: Exception) -> None:
        raise exc


def test_503_uses_the_configured_seconds() -> None:
    exc = rm.error_from_response(503, {"retry-after": "1"}, b"<html>down</html>", now=NOW)
    assert isinstance(exc, rm.ServiceUnavailableError)
    assert to_application_error(exc, ActivitySettings()).next_retry_delay == timedelta(seconds=60)
    assert to_application_error(exc, SETTINGS).next_retry_delay == timedelta(seconds=7)


def test_subclass_inherits_its_parents_row() -> None:
    class Renamed(rm.InsufficientBalanceError):
        pass

    assert row_for(Renamed("x")) == ERROR_TABLE[rm.InsufficientBalanceError]


def test_exception_outside_the_table_is_a_bug() -> None:
    with pytest.raises(LookupError):
        to_application_error(KeyError("x"), SETTINGS)


def test_not_ready_is_benign_and_retryable() -> None:
    error = not_ready("sync job j1 is running")
    assert error.type == ErrorType.NOT_READY
    assert error.category is ApplicationErrorCategory.BENIGN
    assert error.non_retryable is False
    assert error.message == "sync job j1 is running"


class _Host:
    settings = SETTINGS

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.unusable = UnusableAnswers()

    @translated
    async def act(self, value: int) -> int:
        raise self.exc


async def test_translated_turns_client_errors_into_application_errors() -> None:
    secret = "rm_" + "Q" * 30
    exc = rm.UnauthorizedError(f"key {secret} revoked", secrets=[secret])
    with pytest.raises(ApplicationError) as info:
        await _Host(exc).act(1)
    assert info.value.type == ErrorType.UNAUTHORIZED
    assert info.value.non_retryable
    assert secret not in info.value.message
    assert info.value.__cause__ is exc


async def test_translated_passes_deliberate_application_errors_through() -> None:
    original = not_ready("later")
    with pytest.raises(ApplicationError) as info:
        await _Host(original).act(1)
    assert info.value is original


async def test_translated_lets_bugs_propagate_unchanged() -> None:
    with pytest.raises(ZeroDivisionError):
        await _Host(ZeroDivisionError()).act(1)


async def test_translated_returns_values_and_keeps_the_signature() -> None:
    class Ok:
        settings = SETTINGS
        unusable = UnusableAnswers()

        @translated
        async def double(self, value: int) -> int:
            """Doubles."""
            return value * 2

    assert await Ok().double(21) == 42
    assert Ok.double.__doc__ == "Doubles."
    assert Ok.double.__name__ == "double"


def test_vocabulary_status_matches_the_client_exceptions() -> None:
    """The vocabulary's HTTP status for each vendor code is the status the client maps to that code."""
    for cls, row in ERROR_TABLE.items():
        status = getattr(cls, "default_status", None)
        if status is not None and row.type is not ErrorType.UNEXPECTED_STATUS:
            assert row.kind.http_status == status, cls


def test_parking_and_final_types_are_not_retried() -> None:
    from activities.error_types import PARK_FOR_BALANCE, PARK_FOR_CREDENTIALS, VOCABULARY, Rule

    assert PARK_FOR_BALANCE == {ErrorType.INSUFFICIENT_BALANCE}
    assert PARK_FOR_CREDENTIALS == {ErrorType.UNAUTHORIZED, ErrorType.FORBIDDEN, ErrorType.MISSING_SECRET}
    for type_, kind in VOCABULARY.items():
        assert (type_ in NON_RETRYABLE_ERROR_TYPES) is (kind.rule is not Rule.RETRY), type_


class _Flaky:
    """An activity host whose answers are unusable until `fixed` is set."""

    def __init__(self, budget_seconds: float) -> None:
        self.settings = ActivitySettings(unusable_answer_budget_seconds=budget_seconds)
        self.unusable = UnusableAnswers()
        self.fixed = False

    @translated
    async def read(self) -> str:
        if self.fixed:
            return "ok"
        raise rm.MalformedResponseError("GET /v1/billing/balance: answer is not JSON", status=200)


async def _attempt(env: ActivityEnvironment, host: _Flaky) -> ApplicationError | str:
    try:
        return await env.run(host.read)
    except ApplicationError as err:
        return err


async def test_unusable_answers_are_retried_within_the_budget_then_park_the_work() -> None:
    host, env = _Flaky(budget_seconds=0.2), ActivityEnvironment()
    first = await _attempt(env, host)
    assert isinstance(first, ApplicationError) and first.type == ErrorType.MALFORMED_RESPONSE
    assert not first.non_retryable
    await asyncio.sleep(0.25)
    late = await _attempt(env, host)
    assert isinstance(late, ApplicationError) and late.type == ErrorType.UNUSABLE_ANSWER and late.non_retryable
    assert "GET /v1/billing/balance" in late.message and "MALFORMED_RESPONSE" in late.message


async def test_a_usable_answer_ends_the_streak() -> None:
    host, env = _Flaky(budget_seconds=0.2), ActivityEnvironment()
    await _attempt(env, host)
    await asyncio.sleep(0.25)
    host.fixed = True
    assert await _attempt(env, host) == "ok"
    host.fixed = False
    again = await _attempt(env, host)
    assert isinstance(again, ApplicationError) and again.type == ErrorType.MALFORMED_RESPONSE


async def test_the_streak_travels_in_heartbeat_details_to_another_worker() -> None:
    """A fresh worker (empty memory) continues the count an earlier attempt wrote into its heartbeat."""
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.extend(details)
    await _attempt(env, _Flaky(budget_seconds=60))
    assert beats and isinstance(beats[-1], dict) and beats[-1]["unusable_since"]
    long_ago = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    env.info = dataclasses.replace(env.info, heartbeat_details=[{**beats[-1], "unusable_since": long_ago}])
    carried = await _attempt(env, _Flaky(budget_seconds=60))
    assert isinstance(carried, ApplicationError) and carried.type == ErrorType.UNUSABLE_ANSWER
