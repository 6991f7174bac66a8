"""Park, don't die: wait out a condition a human must fix, then retry the step that hit it.

Why a helper: a 402 (no credits) or a 401/403/missing key is not a reason to fail a persona or a post
(DESIGN.md principle 3). The activity reports it as a non-retryable `ApplicationError`; the workflow
then shows why it waits (stage "parked", the reason, a search attribute) and sleeps on a durable
condition until the operator's signal (`topped_up` / `credentials_updated`) arrives, or a slow periodic
`get_balance` shows the problem gone. Then it retries the very step that failed. Both the persona loop
and every post use the same class, so the rule lives in one place.

Usage inside a workflow::

    self._parking = Parking(inp.account_ref, inp.timing, on_change=self._on_parking_change)
    outcome = await self._parking.call(
        lambda: workflow.execute_activity("generate_post", ..., result_type=GenerateOutcome, ...),
        what="generate the post",
        needed_cents=cost,
    )

and the workflow's `topped_up` / `credentials_updated` signal handlers call `notify_topped_up()` /
`notify_credentials_updated()`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TimeoutError_

with workflow.unsafe.imports_passed_through():
    from activities.models import PARK_FOR_BALANCE, PARK_FOR_CREDENTIALS, AccountRef, BalanceView, ErrorType
    from workflows import policies
    from workflows.models import Timing

T = TypeVar("T")

ParkKind = Literal["balance", "credentials"]

BALANCE_REASON = "insufficient balance: top up, then send topped_up"
CREDENTIALS_REASON = (
    "credentials rejected ({code}): fix the account's API key or its scopes, then send credentials_updated"
)


@dataclass(frozen=True)
class ParkState:
    """Why a workflow waits: shown in its status, details and STAGE search attribute."""

    kind: ParkKind
    reason: str
    error_type: str
    message: str
    what: str
    since: datetime


# Called with the new state on parking, and with None when the wait is over (sync or async).
ParkCallback = Callable[[ParkState | None], Awaitable[None] | None]


def error_type(err: BaseException) -> str | None:
    """The `ApplicationError.type` an activity raised (None for timeouts, cancellations and others)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type
    return None


def error_message(err: BaseException) -> str:
    """The activity's own message (already redacted by the activities), for reports and status."""
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    return str(cause) or type(cause).__name__


def is_timeout(err: BaseException) -> bool:
    """A polling activity gave up: its schedule-to-close passed while the job was still not ready.

    The server reports that as the last attempt's NotReady error with retry state TIMEOUT (or as a
    timeout failure when an attempt itself was cut off), never as a plain error of the vendor's.
    """
    if not isinstance(err, ActivityError):
        return False
    return (
        isinstance(err.cause, TimeoutError_)
        or err.retry_state == RetryState.TIMEOUT
        or error_type(err) == ErrorType.NOT_READY
    )


def park_kind(err: BaseException) -> ParkKind | None:
    """Which operator action a failure waits for, or None when it is not a parking failure."""
    kind = error_type(err) if isinstance(err, ActivityError) else None
    if kind in PARK_FOR_BALANCE:
        return "balance"
    if kind in PARK_FOR_CREDENTIALS:
        return "credentials"
    return None


class Parking:
    """Holds the operator flags and the current parked state of one workflow; `call` runs a parkable step.

    Flags are set by signals and consumed when a wait ends. A flag that arrived before the step failed
    (e.g. a `topped_up` sent a moment too early) is not lost: it ends the next wait at once, and if the
    retry fails again the workflow simply parks again.
    """

    def __init__(self, account_ref: str, timing: Timing, on_change: ParkCallback | None = None) -> None:
        self.account_ref = account_ref
        self.timing = timing
        self.on_change = on_change
        self.topped_up = False
        self.credentials_updated = False
        self.state: ParkState | None = None
        self.parked_count = 0

    @property
    def parked(self) -> bool:
        return self.state is not None

    @property
    def parked_reason(self) -> str | None:
        return self.state.reason if self.state else None

    def notify_topped_up(self) -> None:
        """The `topped_up` signal: the operator says credits were added."""
        self.topped_up = True

    def notify_credentials_updated(self) -> None:
        """The `credentials_updated` signal: the operator says the stored key was fixed."""
        self.credentials_updated = True

    async def call(self, step: Callable[[], Awaitable[T]], *, what: str, needed_cents: int = 1) -> T:
        """Run `step` (a factory: each attempt needs a fresh activity call) until it succeeds.

        Parking failures wait and retry; every other exception propagates to the caller unchanged.
        `needed_cents` is the balance that makes a periodic re-check end a balance wait.
        """
        while True:
            try:
                return await step()
            except ActivityError as err:
                kind = park_kind(err)
                if kind is None:
                    raise
                await self._park(kind, err, what, needed_cents)

    async def _park(self, kind: ParkKind, err: ActivityError, what: str, needed_cents: int) -> None:
        code = error_type(err) or ErrorType.UNAUTHORIZED
        reason = BALANCE_REASON if kind == "balance" else CREDENTIALS_REASON.format(code=code)
        self.parked_count += 1
        await self._set_state(
            ParkState(
                kind=kind, reason=reason, error_type=code, message=error_message(err), what=what, since=workflow.now()
            )
        )
        workflow.logger.warning("Parked while trying to %s: %s", what, reason)
        try:
            if kind == "balance":
                await self._wait_for_balance(needed_cents)
            else:
                await self._wait_for_credentials()
        finally:
            # Cleared even on cancellation, so a status query never shows a stale reason.
            self.state = None
        await self._notify(None)
        workflow.logger.info("Resuming: retrying the step to %s", what)

    async def _wait_for_balance(self, needed_cents: int) -> None:
        interval = self.timing.scaled(self.timing.balance_recheck_minutes * 60)
        while True:
            if await _condition_or_timeout(lambda: self.topped_up, interval, "next balance re-check while parked"):
                self.topped_up = False
                return
            balance = await self._recheck("re-check the balance while parked")
            if balance is not None and balance.balance_cents >= needed_cents:
                return

    async def _wait_for_credentials(self) -> None:
        interval = self.timing.scaled(self.timing.credentials_recheck_minutes * 60)
        while True:
            if await _condition_or_timeout(
                lambda: self.credentials_updated, interval, "next API key re-check while parked"
            ):
                self.credentials_updated = False
                return
            if await self._recheck("re-check the API key while parked") is not None:
                return

    async def _recheck(self, summary: str) -> BalanceView | None:
        """One `get_balance`: a view when the key works, None when the problem is still there."""
        try:
            return await workflow.execute_activity(
                "get_balance",
                AccountRef(account_ref=self.account_ref),
                result_type=BalanceView,
                **policies.api_call(summary),
            )
        except ActivityError as err:
            workflow.logger.info("Still parked: %s", error_message(err))
            return None

    async def _set_state(self, state: ParkState) -> None:
        self.state = state
        await self._notify(state)

    async def _notify(self, state: ParkState | None) -> None:
        if self.on_change is None:
            return
        result = self.on_change(state)
        if inspect.isawaitable(result):
            await result


async def _condition_or_timeout(condition: Callable[[], bool], limit: timedelta, summary: str) -> bool:
    """A durable wait: True when `condition` became true, False when `limit` passed first."""
    try:
        await workflow.wait_condition(condition, timeout=limit, timeout_summary=summary)
    except TimeoutError:
        return False
    return True
