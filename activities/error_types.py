"""The error vocabulary: every `ApplicationError.type` an activity raises, and what it means to a workflow.

One table (`VOCABULARY`) holds, per type, the vendor's HTTP status, the rule a workflow follows (retry,
park until an operator acts, or report it as final) and the delay rule for the next retry; the
non-retryable list of the retry policies and the parking sets are derived from it, so no two lists can
disagree. Pure data on purpose: workflows import it inside the sandbox.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BOUNDED_ERROR_TYPES",
    "NON_RETRYABLE_ERROR_TYPES",
    "PARK_FOR_BALANCE",
    "PARK_FOR_CREDENTIALS",
    "PARK_FOR_OPERATOR",
    "VOCABULARY",
    "Delay",
    "ErrorKind",
    "ErrorType",
    "Rule",
]


class ErrorType(enum.StrEnum):
    """`ApplicationError.type` values raised by activities: the vendor's codes, plus ours."""

    NOT_READY = "NotReady"  # a polled job is not terminal yet: benign, retried on the poll schedule
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    TRANSPORT_ERROR = "TRANSPORT_ERROR"
    MALFORMED_RESPONSE = "MALFORMED_RESPONSE"
    UNEXPECTED_STATUS = "UNEXPECTED_STATUS"
    CONFIRMATION_LINK = "CONFIRMATION_LINK"  # expired or reused verify link
    CARD_DECLINED = "CARD_DECLINED"
    MISSING_SECRET = "MISSING_SECRET"  # the worker's secret store lacks a credential the call needs
    MAILBOX_AUTH = "MAILBOX_AUTH"  # the worker's inbox refused its login: an operator must fix it
    UNUSABLE_ANSWER = "UNUSABLE_ANSWER"  # answers stayed unusable past the retry budget: an operator must look
    UNTRUSTED_LINK = "UNTRUSTED_LINK"  # a confirmation link that does not point at the auth origin: not followed
    SIGN_IN_REFUSED = "SIGN_IN_REFUSED"  # Supabase refused the stored password
    SESSION_EXPIRED = "SESSION_EXPIRED"  # the Supabase session could not be refreshed, nor replaced by a login
    EMAIL_NOT_CONFIRMED = "EMAIL_NOT_CONFIRMED"  # Supabase knows the account but its e-mail is not confirmed
    SIGNUP_UNCERTAIN = "SIGNUP_UNCERTAIN"  # signup answers were lost and nothing shows whether the account exists
    CARD_NEEDS_ACTION = "CARD_NEEDS_ACTION"  # the card asks for a step only a human can take (3-D Secure)


class Rule(enum.Enum):
    """What a workflow does when an activity fails with a type."""

    RETRY = "retry"  # Temporal retries the activity on its policy
    PARK_BALANCE = "park_balance"  # wait for `topped_up` or a balance re-check, then retry the step
    PARK_CREDENTIALS = "park_credentials"  # wait for `credentials_updated` or a key re-check, then retry
    PARK_OPERATOR = "park_operator"  # wait for the operator's `retry` (after an upgrade or a vendor fix)
    FINAL = "final"  # not retried: the workflow reports it (or handles it, e.g. 404 ends one post)


class Delay(enum.Enum):
    """Which rule sets the delay before the next attempt of a retried type."""

    POLICY = "policy"  # the activity's retry policy (exponential backoff, or the poll schedule)
    SERVER_RESET = "server_reset"  # the reset the server announced on a 429
    SERVICE_UNAVAILABLE = "service_unavailable"  # the configured wait after a 503 (the guide's 60 s)


@dataclass(frozen=True)
class ErrorKind:
    http_status: int | None
    rule: Rule
    meaning: str
    delay: Delay = Delay.POLICY
    # retried only for a bounded time: an answer that stays this way becomes UNUSABLE_ANSWER (parks)
    bounded: bool = False

    @property
    def retryable(self) -> bool:
        return self.rule is Rule.RETRY


#: The vendor's error table (the first nine rows, in its order) and our own types after it.
VOCABULARY: Mapping[ErrorType, ErrorKind] = {
    ErrorType.UNAUTHORIZED: ErrorKind(401, Rule.PARK_CREDENTIALS, "missing or invalid token"),
    ErrorType.FORBIDDEN: ErrorKind(403, Rule.PARK_CREDENTIALS, "the key lacks a scope"),
    ErrorType.INSUFFICIENT_BALANCE: ErrorKind(402, Rule.PARK_BALANCE, "not enough credits"),
    ErrorType.NOT_FOUND: ErrorKind(404, Rule.FINAL, "no such resource"),
    ErrorType.CONFLICT: ErrorKind(409, Rule.FINAL, "duplicate (activities turn it into 'already exists')"),
    ErrorType.VALIDATION_ERROR: ErrorKind(400, Rule.FINAL, "invalid request body"),
    ErrorType.RATE_LIMITED: ErrorKind(429, Rule.RETRY, "too many requests", Delay.SERVER_RESET),
    ErrorType.UPSTREAM_ERROR: ErrorKind(502, Rule.RETRY, "a platform's API failed: exponential backoff"),
    ErrorType.SERVICE_UNAVAILABLE: ErrorKind(503, Rule.RETRY, "ReelMirror is down", Delay.SERVICE_UNAVAILABLE),
    ErrorType.NOT_READY: ErrorKind(None, Rule.RETRY, "a polled job is not finished yet"),
    ErrorType.TRANSPORT_ERROR: ErrorKind(None, Rule.RETRY, "network error or timeout"),
    ErrorType.MALFORMED_RESPONSE: ErrorKind(None, Rule.RETRY, "an answer the client cannot read", bounded=True),
    ErrorType.UNEXPECTED_STATUS: ErrorKind(
        None, Rule.RETRY, "an HTTP status outside the vendor's table (a 500)", bounded=True
    ),
    ErrorType.CONFIRMATION_LINK: ErrorKind(None, Rule.FINAL, "an expired or reused confirmation link"),
    ErrorType.CARD_DECLINED: ErrorKind(None, Rule.FINAL, "Stripe declined the payment method"),
    ErrorType.MISSING_SECRET: ErrorKind(None, Rule.PARK_CREDENTIALS, "the secret store lacks a credential"),
    ErrorType.MAILBOX_AUTH: ErrorKind(None, Rule.PARK_OPERATOR, "the worker's IMAP inbox refused the login"),
    ErrorType.UNUSABLE_ANSWER: ErrorKind(None, Rule.PARK_OPERATOR, "answers stayed unusable past the budget"),
    ErrorType.UNTRUSTED_LINK: ErrorKind(None, Rule.FINAL, "a confirmation link outside the configured auth origin"),
    ErrorType.SIGN_IN_REFUSED: ErrorKind(None, Rule.PARK_OPERATOR, "Supabase refused the stored password"),
    ErrorType.SESSION_EXPIRED: ErrorKind(None, Rule.PARK_OPERATOR, "the Supabase session cannot be renewed"),
    ErrorType.EMAIL_NOT_CONFIRMED: ErrorKind(None, Rule.PARK_OPERATOR, "the account's e-mail is not confirmed"),
    ErrorType.SIGNUP_UNCERTAIN: ErrorKind(None, Rule.PARK_OPERATOR, "lost signup answers: the account may not exist"),
    ErrorType.CARD_NEEDS_ACTION: ErrorKind(None, Rule.FINAL, "the card needs a human step (3-D Secure)"),
}

#: Never retried by Temporal: a human, the workflow or a code change must act.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = tuple(
    str(t) for t, kind in VOCABULARY.items() if not kind.retryable
)
#: Failures that park a workflow until credits arrive.
PARK_FOR_BALANCE: frozenset[str] = frozenset(str(t) for t, k in VOCABULARY.items() if k.rule is Rule.PARK_BALANCE)
#: Failures that park a workflow until the operator says to retry.
PARK_FOR_OPERATOR: frozenset[str] = frozenset(str(t) for t, k in VOCABULARY.items() if k.rule is Rule.PARK_OPERATOR)
#: Types retried only for a bounded time before they become UNUSABLE_ANSWER.
BOUNDED_ERROR_TYPES: frozenset[str] = frozenset(str(t) for t, k in VOCABULARY.items() if k.bounded)
#: Failures that park a workflow until the key is fixed.
PARK_FOR_CREDENTIALS: frozenset[str] = frozenset(
    str(t) for t, k in VOCABULARY.items() if k.rule is Rule.PARK_CREDENTIALS
)
