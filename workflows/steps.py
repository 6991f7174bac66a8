"""`Steps`: how every workflow runs its activities, parks, and shows where it is.

One object per workflow run, so the three workflows share one rule for each of these:

* an activity is called by reference with typed options (`ActivityOptions`);
* park, don't die: a 402 or a 401/403/missing key (the error vocabulary's park rows) is not a reason to
  fail a persona or a post. The workflow shows why it waits (stage "parked", the reason, the STAGE
  search attribute) and sleeps on a durable condition until the operator's signal (`topped_up` /
  `credentials_updated`) arrives, or a slow periodic `get_balance` shows the problem gone; then it
  retries the very step that failed;
* a stage change reaches the status, the STAGE search attribute and the Web UI's current details
  together, and (for a post) its persona.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.error_types import ErrorType
    from activities.models import AccountRef, BalanceView
    from activities.reelmirror import ReelMirrorActivities
    from observability import metrics
    from workflows import policies
    from workflows.failures import ParkKind, error_message, error_type, park_kind
    from workflows.policies import ActivityOptions, Timing
    from workflows.search_attributes import STAGE

__all__ = [
    "ALL_PARK_KINDS",
    "BALANCE_REASON",
    "CREDENTIALS_REASON",
    "OPERATOR_REASON",
    "ParkState",
    "RestRequested",
    "StepFailed",
    "Steps",
]

S = TypeVar("S", bound=str)
A = TypeVar("A")
R = TypeVar("R")

BALANCE_REASON = "insufficient balance: top up, then send topped_up"
CREDENTIALS_REASON = (
    "credentials rejected ({code}): fix the account's API key or its scopes, then send credentials_updated"
)
OPERATOR_REASON = "{message}; after an upgrade or a vendor fix, send retry"
ALL_PARK_KINDS: frozenset[ParkKind] = frozenset({"balance", "credentials", "operator"})


#: A parked workflow's re-checks back off to this many times their first interval: a week parked on an
#: empty balance costs a few hundred events, not thousands.
RECHECK_BACKOFF_CAP = 8


class RestRequested(Exception):
    """Raised out of a park's wait when the workflow should continue as new before waiting on."""


class StepFailed(Exception):
    """A step failed for a reason no operator signal fixes (404, 400, a poll that gave up): the persona
    reports it in `last_error` and goes on without that step's result."""

    def __init__(self, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ParkState:
    """Why a workflow waits: shown in its status, details and STAGE search attribute."""

    kind: ParkKind
    reason: str
    error_type: str | None
    message: str
    what: str
    since: datetime


class Steps(Generic[S]):
    """Runs one workflow's activities and keeps its stage, search attribute and details in step.

    Operator flags (`notify_topped_up`, `notify_credentials_updated`) are set by signals and consumed when
    a wait ends. A flag that arrived before the step failed (a `topped_up` sent a moment too early) is not
    lost: it ends the next wait at once, and if the retry fails again the workflow simply parks again.
    """

    def __init__(
        self,
        *,
        account_ref: str,
        timing: Timing,
        stage: S,
        parked_stage: S,
        details: Callable[[], str],
        after_stage: Callable[[], Awaitable[None]] | None = None,
        upsert_unchanged: bool = True,
        recheck_cents: int = 1,
        parks_on: frozenset[ParkKind] = ALL_PARK_KINDS,
        should_rest: Callable[[], bool] | None = None,
    ) -> None:
        """`upsert_unchanged`: upsert STAGE on every `set_stage`, or only on a change (recorded histories
        depend on which: posts and onboarding upsert on every entry, the persona on change).
        `recheck_cents`: the balance that makes a periodic re-check end a balance wait by default.
        `parks_on`: the kinds of failure `run` parks on; others propagate to the workflow.
        `should_rest`: asked between a park's re-checks; True raises `RestRequested` so the workflow can
        continue as new (its history stays bounded however long the park lasts)."""
        self.account_ref = account_ref
        self.timing = timing
        self.stage: S = stage
        self.park: ParkState | None = None
        self.topped_up = False
        self.credentials_updated = False
        self.retry_requested = False
        self._parks_on = parks_on
        self._parked_stage = parked_stage
        self._stage_before_park: S = stage
        self._details = details
        self._after_stage = after_stage
        self._upsert_unchanged = upsert_unchanged
        self._recheck_cents = recheck_cents
        self._should_rest = should_rest

    # --- activities ----------------------------------------------------------------------------------

    async def call(self, method: MethodAsyncSingleParam[Any, A, R], arg: A, options: ActivityOptions) -> R:
        """One activity, by reference, with its options; failures propagate as they are."""
        return await workflow.execute_activity_method(method, arg, **options.config())

    async def run(
        self,
        method: MethodAsyncSingleParam[Any, A, R],
        arg: A,
        options: ActivityOptions,
        *,
        what: str | None = None,
        needed_cents: int | None = None,
    ) -> R:
        """One activity until it succeeds: parking failures park and retry it, others propagate unchanged.

        `what` names the step in logs (the options' summary by default); `needed_cents` is the balance
        that makes a periodic re-check end a balance wait."""
        step = what or options.summary or method.__name__
        while True:
            try:
                return await self.call(method, arg, options)
            except ActivityError as err:
                kind = park_kind(err)
                if kind is None or kind not in self._parks_on:
                    raise
                await self._park_on(kind, err, step, self._recheck_cents if needed_cents is None else needed_cents)

    async def attempt(self, method: MethodAsyncSingleParam[Any, A, R], arg: A, options: ActivityOptions) -> R:
        """`run`, with any other failure raised as `StepFailed` naming the step (the options' summary)."""
        try:
            return await self.run(method, arg, options)
        except ActivityError as err:
            step = options.summary or method.__name__
            raise StepFailed(f"{step}: {error_message(err)}", error_type(err)) from err

    # --- stage and visibility -------------------------------------------------------------------------

    async def set_stage(self, stage: S) -> None:
        """Record a stage everywhere an operator looks: status, STAGE search attribute, details (persona)."""
        changed = stage != self.stage
        self.stage = stage
        if changed or self._upsert_unchanged:
            workflow.upsert_search_attributes([STAGE.value_set(stage)])
        self.refresh_details()
        if self._after_stage is not None:
            await self._after_stage()

    def refresh_details(self) -> None:
        workflow.set_current_details(self._details())

    @property
    def parked_reason(self) -> str | None:
        return self.park.reason if self.park else None

    # --- parking ----------------------------------------------------------------------------------------

    def notify_topped_up(self) -> None:
        """The `topped_up` signal: the operator says credits were added."""
        self.topped_up = True

    def notify_credentials_updated(self) -> None:
        """The `credentials_updated` signal: the operator says the stored key (or setup) was fixed."""
        self.credentials_updated = True

    def notify_retry(self) -> None:
        """The `retry` signal: the operator says what made the work park was fixed (an upgrade, a vendor fix)."""
        self.retry_requested = True

    async def wait_for_operator(self, reason: str, *, what: str) -> None:
        """Park on a failure no retry fixes: `credentials_updated`, `retry` (or the slow re-check period)
        ends it."""

        async def wait() -> None:
            await _condition_or_timeout(
                lambda: self.credentials_updated or self.retry_requested,
                self.timing.scaled(self.timing.credentials_recheck_minutes * 60),
                "re-check setup",
            )
            self.credentials_updated = self.retry_requested = False

        state = ParkState("operator", reason, None, reason, what, workflow.now())
        await self._park(state, wait)

    async def _park_on(self, kind: ParkKind, err: ActivityError, what: str, needed_cents: int) -> None:
        code = error_type(err) or ErrorType.UNAUTHORIZED
        message = error_message(err)
        if kind == "balance":
            state = ParkState(kind, BALANCE_REASON, code, message, what, workflow.now())
            await self._park(state, lambda: self._wait_for_balance(needed_cents))
        elif kind == "credentials":
            state = ParkState(kind, CREDENTIALS_REASON.format(code=code), code, message, what, workflow.now())
            await self._park(state, self._wait_for_credentials)
        else:
            reason = OPERATOR_REASON.format(message=f"{what}: {message}")
            await self._park(ParkState(kind, reason, code, message, what, workflow.now()), self._wait_for_retry)

    async def _park(self, state: ParkState, wait: Callable[[], Awaitable[None]]) -> None:
        self.park = state
        self._stage_before_park = self.stage
        metrics.parked(state.kind)
        await self.set_stage(self._parked_stage)
        workflow.logger.warning("Parked while trying to %s: %s", state.what, state.reason)
        try:
            await wait()
        finally:
            # Cleared even on cancellation, so a status query never shows a stale reason.
            self.park = None
        await self.set_stage(self._stage_before_park)
        workflow.logger.info("Resuming: retrying the step to %s", state.what)

    async def _wait_for_balance(self, needed_cents: int) -> None:
        first = self.timing.scaled(self.timing.balance_recheck_minutes * 60)
        for interval in _backing_off(first):
            if await _condition_or_timeout(lambda: self.topped_up, interval, "next balance re-check while parked"):
                self.topped_up = False
                return
            balance = await self._recheck("re-check the balance while parked")
            # an answer without an amount cannot say "still short": retrying the step is the only test
            if balance is not None and (balance.balance_cents is None or balance.balance_cents >= needed_cents):
                return
            self._rest_if_asked()

    async def _wait_for_credentials(self) -> None:
        first = self.timing.scaled(self.timing.credentials_recheck_minutes * 60)
        for interval in _backing_off(first):
            if await _condition_or_timeout(
                lambda: self.credentials_updated, interval, "next API key re-check while parked"
            ):
                self.credentials_updated = False
                return
            if await self._recheck("re-check the API key while parked") is not None:
                return
            self._rest_if_asked()

    def _rest_if_asked(self) -> None:
        if self._should_rest is not None and self._should_rest():
            raise RestRequested

    async def _wait_for_retry(self) -> None:
        """No timer: only the operator knows when the cause is gone."""
        await workflow.wait_condition(lambda: self.retry_requested)
        self.retry_requested = False

    async def _recheck(self, summary: str) -> BalanceView | None:
        """One `get_balance`: a view when the key works, None when the problem is still there."""
        try:
            return await self.call(
                ReelMirrorActivities.get_balance, AccountRef(account_ref=self.account_ref), policies.api_call(summary)
            )
        except ActivityError as err:
            workflow.logger.info("Still parked: %s", error_message(err))
            return None


def _backing_off(first: timedelta) -> Iterator[timedelta]:
    """first, 2x, 4x ... up to RECHECK_BACKOFF_CAP times first, then that for ever."""
    factor = 1
    while True:
        yield first * factor
        factor = min(factor * 2, RECHECK_BACKOFF_CAP)


async def _condition_or_timeout(condition: Callable[[], bool], limit: timedelta, summary: str) -> bool:
    """A durable wait: True when `condition` became true, False when `limit` passed first."""
    try:
        await workflow.wait_condition(condition, timeout=limit, timeout_summary=summary)
    except TimeoutError:
        return False
    return True
