"""Every request of the fleet waits for its send time from the key's governor, and slows down when the
server says the window is nearly spent.

`FleetBudget` asks the key's `RateBudgetWorkflow` (by name: activities know no workflow code) for a send
time with one update-with-start, and sleeps until it; when the line is too long (or, for a poll, when paid
calls queue) the attempt ends with `BudgetBusyError`, which the error table retries like a 429. `BudgetedTransport`
puts that wait in front of every `rm_`-authenticated request of the worker's connection pool, so no
activity changes. After each answer it reads `X-RateLimit-Remaining`: with little left of the window
(another client of the same key, a governor configured too high) the worker holds that key's requests
until the window resets, rather than learning it from 429s. An absurd reset (a Unix time in milliseconds,
a date far away) is clamped to a few windows and logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.budget_rules import BudgetConfig, BudgetInput, PermitGrant, PermitRequest, budget_id
from reelmirror.ratelimit import parse_rate_limit

__all__ = ["POLL_ACTIVITIES", "BudgetBusyError", "BudgetedTransport", "FleetBudget"]

logger = logging.getLogger("reelmirror.fleet_budget")

GOVERNOR = "RateBudgetWorkflow"
#: Activities whose requests are status polls: they yield to paid calls.
POLL_ACTIVITIES = frozenset(
    {"poll_sync_job", "poll_generated_post", "poll_deliveries", "find_generated_post", "await_outgoing_post"}
)
#: The most a clamped or honest reset may hold a key, in windows.
MAX_HOLD_WINDOWS = 2.0


class BudgetBusyError(Exception):
    """The key's budget has no send time soon enough for this request: the attempt ends here and is
    retried after `retry_after_seconds`, like after a 429, without having spent a request."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"the account's request budget is busy: trying again in {retry_after_seconds:.1f} s")
        self.retry_after_seconds = retry_after_seconds


class _Line:
    """The requests of one worker waiting for send times from one governor (paid calls and polls apart)."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[datetime]] = []
        self.pump: asyncio.Task[None] | None = None


class FleetBudget:
    """The worker's side of the per-key budgets: send times from the governors, holds from the headers.

    Requests that wait at the same time ask together: one update for all of them, so a worker has at
    most two updates in flight per key (paid calls, polls), well under the server's limit per workflow."""

    def __init__(self, client: Client, task_queue: str, config: BudgetConfig) -> None:
        self._client = client
        self._task_queue = task_queue
        self.config = config
        self._hold_until: dict[str, float] = {}  # governor id -> monotonic time
        self._lines: dict[tuple[str, bool], _Line] = {}

    @property
    def reserve(self) -> int:
        """Requests left in a window below which the worker waits for the reset."""
        return max(2, math.ceil(self.config.limit * 0.05))

    def held_for(self, api_key: str) -> float:
        """Seconds this worker still holds the key's requests after an answer said the window was spent."""
        return max(0.0, self._hold_until.get(budget_id(api_key), 0.0) - time.monotonic())

    async def permit(self, api_key: str, *, polls: bool) -> None:
        """Wait until this request may be sent; `BudgetBusyError` when that would be too long."""
        governor = budget_id(api_key)
        held = self.held_for(api_key)
        if held > self.config.max_wait_seconds:
            raise BudgetBusyError(held)
        if held > 0:
            await asyncio.sleep(held)
        line = self._lines.setdefault((governor, polls), _Line())
        slot: asyncio.Future[datetime] = asyncio.get_running_loop().create_future()
        line.waiting.append(slot)
        if line.pump is None or line.pump.done():
            line.pump = asyncio.create_task(self._pump(governor, polls, line))
        delay = (await slot - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    def observe(self, api_key: str, response: httpx.Response) -> None:
        """Read the window's state from an answer: hold the key when little (or nothing) is left."""
        info = parse_rate_limit(response.headers)
        if info is None:
            return
        low = info.remaining is not None and info.remaining <= self.reserve
        if not low and response.status_code != 429:
            return
        longest = self.config.window_seconds * MAX_HOLD_WINDOWS
        wait = info.reset_after_seconds if info.reset_after_seconds is not None else self.config.window_seconds
        if info.reset_clamped or wait > longest:
            logger.warning(
                "X-RateLimit-Reset %r is %s away: waiting at most %.0f s instead",
                info.reset_raw,
                "absurdly far" if info.reset_clamped else f"{wait:.0f} s",
                longest,
            )
            wait = longest
        governor = budget_id(api_key)
        until = time.monotonic() + wait
        if until > self._hold_until.get(governor, 0.0):
            self._hold_until[governor] = until
            logger.info("%s of the window left: holding this key's requests %.1f s", info.remaining, wait)

    async def _pump(self, governor: str, polls: bool, line: _Line) -> None:
        """Ask for everyone waiting at once, hand the send times out in order, until nobody waits."""
        while line.waiting:
            batch = [slot for slot in line.waiting if not slot.done()]
            line.waiting = []
            if not batch:
                continue
            try:
                permit = await self._acquire(governor, polls, len(batch))
            except Exception as exc:
                for slot in batch:
                    if not slot.done():
                        slot.set_exception(exc)
                continue
            for slot, at in zip(batch, permit.slots, strict=False):
                if not slot.done():
                    slot.set_result(at)
            for slot in batch[len(permit.slots) :]:
                if not slot.done():
                    slot.set_exception(BudgetBusyError(permit.retry_after_seconds))

    async def _acquire(self, governor: str, polls: bool, count: int) -> PermitGrant:
        delay = 0.1
        while True:
            start = WithStartWorkflowOperation(
                GOVERNOR,
                BudgetInput(config=self.config),
                id=governor,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            try:
                return await self._client.execute_update_with_start_workflow(
                    "acquire",
                    PermitRequest(count=count, polls=polls),
                    start_workflow_operation=start,
                    result_type=PermitGrant,
                )
            except RPCError as exc:  # the governor continuing as new, a server restart: ask again shortly
                logger.info("rate budget %s unavailable (%s): asking again in %.1f s", governor, exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class BudgetedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that waits for the key's send time before each request and reads its answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, budget: FleetBudget) -> None:
        self._inner = inner
        self._budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = _api_key(request)
        if key is not None:
            polls = activity.in_activity() and activity.info().activity_type in POLL_ACTIVITIES
            await self._budget.permit(key, polls=polls)
        response = await self._inner.handle_async_request(request)
        if key is not None:
            self._budget.observe(key, response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _api_key(request: httpx.Request) -> str | None:
    """The request's `rm_` key: only those are limited per key (signup, the JWT call are not)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token.startswith("rm_") else None
