"""The fleet at a glance: every persona and, under each, every post that needs a human.

What needs a human: a post waiting for a decision (how long, until when), work parked (why, since when,
the command that resumes it), an activity retrying (its last error and attempts, from the workflow's
description), and work that failed (the last day). It is gathered the cheap way first and the rich way
when possible:

* one visibility listing (the persona and stage search attributes) and one description per workflow
  (pending activities): both answered by the server, with or without a worker;
* one status query per persona, concurrent and bounded, only when a worker polls the task queue: that
  adds decision deadlines, park reasons, spending and the posts that ended badly;
* each account's balance through the worker, for the low-balance warning.

`StatusCollector` keeps what it learnt between calls, so `watch` lists once per refresh and only asks
again about workflows whose run or stage changed (or whose answer has grown old).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.common import TypedSearchAttributes

from activities.error_types import ErrorType
from control.account import run_account_request
from control.errors import OperatorError, explain, failure_text
from control.workers import Pollers, pollers
from workflows.content_post import ContentPostWorkflow
from workflows.models import AccountRequest, Counters, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.search_attributes import PERSONA, POST_ID, STAGE
from workflows.stages import PersonaStage, PostStage

__all__ = ["AccountLine", "FleetStatus", "PersonaLine", "Problem", "StatusCollector", "park_command"]

T = TypeVar("T")
ProblemKind = Literal["decision", "parked", "retrying", "failed"]

QUERY_TIMEOUT = timedelta(seconds=3)
CONCURRENCY = 16
FAILED_WINDOW = timedelta(hours=24)


class Problem(BaseModel):
    kind: ProblemKind
    workflow_id: str
    post_id: str | None = None  # the generated post id (or the source post id before there is one)
    since: datetime | None = None
    deadline: datetime | None = None  # a decision's default action
    reason: str | None = None
    attempts: int | None = None
    command: str | None = None  # what resolves it


class PersonaLine(BaseModel):
    workflow_id: str
    slug: str
    running: bool = True
    stage: str | None = None
    account_ref: str | None = None
    answered: bool = False  # the status query answered (else only the server's view is shown)
    paused: bool = False
    stopping: bool = False
    parked_reason: str | None = None
    last_error: str | None = None
    next_sync_at: datetime | None = None
    active_posts: int | None = None
    counters: Counters | None = None
    spent_today_cents: int | None = None
    daily_budget_cents: int | None = None
    next_cycle_max_cents: int = 0
    uncharged_cents: int = 0
    pending_changes: list[str] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)


class AccountLine(BaseModel):
    account_ref: str
    balance_cents: int | None = None
    auto_reload: bool | None = None
    reload_threshold_cents: int | None = None
    reload_amount_cents: int | None = None
    needed_cents: int = 0  # what its personas' posts in flight and next cycles may still spend
    warning: str | None = None
    error: str | None = None


class FleetStatus(BaseModel):
    at: datetime
    task_queue: str
    workers: int
    notes: list[str] = Field(default_factory=list)
    personas: list[PersonaLine] = Field(default_factory=list)
    accounts: list[AccountLine] = Field(default_factory=list)


def park_command(kind: str | None, slug: str, target: str, account_ref: str | None) -> str:
    """The command that resumes work parked for `kind` (`target`: the post or persona to retry)."""
    if kind == "balance":
        account = f" --account {account_ref}" if account_ref else ""
        return f"starter.py account topup AMOUNT{account}; after paying: starter.py topped-up {slug}"
    if kind == "credentials":
        return f"fix the account's key, then: starter.py credentials-updated {slug}"
    return f"after the fix: starter.py retry {target}"


def _sa(attributes: TypedSearchAttributes, key: object) -> str | None:
    value = attributes.get(key)  # type: ignore[call-overload]
    return str(value) if value is not None else None


def _slug_of(execution: WorkflowExecution) -> str:
    return _sa(execution.typed_search_attributes, PERSONA) or execution.id.removeprefix("persona-")


class _Cached:
    def __init__(self, key: object, value: object) -> None:
        self.key, self.value, self.at = key, value, time.monotonic()

    def fresh(self, key: object, ttl: float) -> bool:
        return self.key == key and time.monotonic() - self.at < ttl


class StatusCollector:
    """Gathers `FleetStatus`; keep one across calls (as `watch` does) to ask only about what changed.

    `query_ttl`, `describe_ttl`, `balance_ttl`: how long an answer about an unchanged workflow (or account)
    is reused, in seconds; 0 asks every time (a one-shot `status`)."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        persona: str | None = None,
        balances: bool = True,
        query_ttl: float = 0,
        describe_ttl: float = 0,
        balance_ttl: float = 0,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.persona = persona
        self.balances = balances
        self._ttl = {"query": query_ttl, "describe": describe_ttl, "balance": balance_ttl}
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def collect(self) -> FleetStatus:
        now = datetime.now(UTC)
        found, running = await asyncio.gather(pollers(self.client, self.task_queue), self._list(now))
        fleet = FleetStatus(at=now, task_queue=self.task_queue, workers=found.workflow)
        personas: dict[str, PersonaLine] = {}
        posts: dict[str, list[WorkflowExecution]] = {}
        failed: list[WorkflowExecution] = []
        for execution in running:
            slug = _slug_of(execution)
            if execution.status != WorkflowExecutionStatus.RUNNING:
                failed.append(execution)
            elif execution.workflow_type == PersonaLoopWorkflow.__name__:
                stage = _sa(execution.typed_search_attributes, STAGE)
                personas[slug] = PersonaLine(workflow_id=execution.id, slug=slug, stage=stage)
            else:
                posts.setdefault(slug, []).append(execution)
        for slug in set(posts) | {_slug_of(e) for e in failed}:
            personas.setdefault(slug, PersonaLine(workflow_id=f"persona-{slug}", slug=slug, running=False))
        statuses = await self._statuses(found, personas, posts, fleet)
        retrying = await self._retrying(running)
        for slug, line in personas.items():
            status = statuses.get(slug)
            if status is not None:
                _fill_from_status(line, status, now)
            else:
                _fill_from_search_attributes(line, posts.get(slug, []))
            line.problems += retrying.get(slug, [])
            line.problems += [_failed_workflow(e) for e in failed if _slug_of(e) == slug]
            line.problems.sort(key=lambda p: (_ORDER[p.kind], p.since or now))
        fleet.personas = sorted(personas.values(), key=lambda p: p.slug)
        if self.balances and found.any:
            fleet.accounts = await self._accounts(fleet.personas)
        return fleet

    # --- the server's view: no worker needed ---------------------------------------------------------

    async def _list(self, now: datetime) -> list[WorkflowExecution]:
        types = f"(WorkflowType = '{PersonaLoopWorkflow.__name__}' OR WorkflowType = '{ContentPostWorkflow.__name__}')"
        since = (now - FAILED_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = (
            f"{types} AND (ExecutionStatus = 'Running' OR (ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated')"
            f" AND CloseTime > '{since}'))"
        )
        if self.persona:
            query += f" AND {PERSONA.name} = '{self.persona}'"
        return [execution async for execution in self.client.list_workflows(query)]

    async def _retrying(self, executions: Iterable[WorkflowExecution]) -> dict[str, list[Problem]]:
        """Activities that failed and are being retried (polls answering "not ready" are not problems)."""
        running = [
            e
            for e in executions
            if e.status == WorkflowExecutionStatus.RUNNING
            and _sa(e.typed_search_attributes, STAGE) not in _IDLE_STAGES
        ]
        found = await asyncio.gather(*(self._describe(e) for e in running))
        by_persona: dict[str, list[Problem]] = {}
        for execution, problems in zip(running, found, strict=True):
            by_persona.setdefault(_slug_of(execution), []).extend(problems)
        return by_persona

    async def _describe(self, execution: WorkflowExecution) -> list[Problem]:
        key = (execution.run_id, _sa(execution.typed_search_attributes, STAGE))

        async def ask() -> list[Problem]:
            handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
            post_id = _sa(execution.typed_search_attributes, POST_ID)
            problems = []
            for activity in description.raw_description.pending_activities:
                failure = activity.last_failure
                if activity.attempt < 2 or not failure.ListFields():
                    continue
                if failure.application_failure_info.type == ErrorType.NOT_READY:
                    continue
                # the message may be encrypted (the codec encodes failures): decode it as the SDK would
                message = failure_text(await self.client.data_converter.decode_failure(failure))
                since = activity.scheduled_time  # the first attempt's
                problems.append(
                    Problem(
                        kind="retrying",
                        workflow_id=execution.id,
                        post_id=post_id,
                        since=since.ToDatetime().replace(tzinfo=UTC) if since.seconds else None,
                        reason=f"{activity.activity_type.name}: {message}",
                        attempts=activity.attempt - 1,
                    )
                )
            return problems

        return await self._cached("describe", execution.id, key, ask, default=[])

    # --- the workflows' view: needs a worker -------------------------------------------------------------

    async def _statuses(
        self,
        found: Pollers,
        personas: dict[str, PersonaLine],
        posts: dict[str, list[WorkflowExecution]],
        fleet: FleetStatus,
    ) -> dict[str, PersonaStatus]:
        running = {slug: line for slug, line in personas.items() if line.running}
        if not found.any:
            if running:
                fleet.notes.append(
                    f"{found.describe()}; shown from the server alone (decision deadlines, park reasons and "
                    "spending need a worker)"
                )
            return {}

        async def ask(slug: str, line: PersonaLine) -> PersonaStatus | None:
            post_keys = sorted((e.id, e.run_id, _sa(e.typed_search_attributes, STAGE)) for e in posts.get(slug, []))
            key = (line.stage, tuple(post_keys))
            handle = self.client.get_workflow_handle_for(PersonaLoopWorkflow.run, line.workflow_id)

            async def query() -> PersonaStatus:
                async with asyncio.timeout(QUERY_TIMEOUT.total_seconds()):
                    return await handle.query(PersonaLoopWorkflow.status, rpc_timeout=QUERY_TIMEOUT)

            return await self._cached("query", line.workflow_id, key, query, default=None)

        answers = await asyncio.gather(*(ask(slug, line) for slug, line in running.items()))
        statuses = {slug: status for slug, status in zip(running, answers, strict=True) if status is not None}
        silent = sorted(set(running) - set(statuses))
        if silent:
            fleet.notes.append(
                f"no answer from {', '.join(silent)} within {QUERY_TIMEOUT.seconds} s (is the worker stopping?)"
            )
        return statuses

    async def _accounts(self, personas: list[PersonaLine]) -> list[AccountLine]:
        needed: dict[str, int] = {}
        for line in personas:
            if line.account_ref:
                more = line.next_cycle_max_cents + line.uncharged_cents
                needed[line.account_ref] = needed.get(line.account_ref, 0) + more

        async def balance(account_ref: str) -> AccountLine:
            async def ask() -> AccountLine:
                request = AccountRequest(account_ref=account_ref, action="status")
                reply = await run_account_request(self.client, request, self.task_queue, timedelta(seconds=10))
                assert reply.balance is not None
                b = reply.balance
                return AccountLine(
                    account_ref=account_ref,
                    balance_cents=b.balance_cents,
                    auto_reload=b.auto_reload,
                    reload_threshold_cents=b.reload_threshold_cents,
                    reload_amount_cents=b.reload_amount_cents,
                )

            try:
                line = await self._cached("balance", account_ref, None, ask, default=None, swallow=False)
            except OperatorError as exc:
                return AccountLine(account_ref=account_ref, needed_cents=needed[account_ref], error=str(exc))
            assert line is not None
            line = line.model_copy(update={"needed_cents": needed[account_ref]})
            line.warning = low_balance_warning(line)
            return line

        return list(await asyncio.gather(*(balance(ref) for ref in sorted(needed))))

    async def _cached(
        self,
        kind: str,
        name: str,
        key: object,
        ask: Callable[[], Awaitable[T]],
        *,
        default: T,
        swallow: bool = True,
    ) -> T:
        """`ask()` unless an answer for the same key is fresh; failures that `explain` knows give `default`."""
        cached = self._cache.get((kind, name))
        if cached is not None and cached.fresh(key, self._ttl[kind]):
            return cached.value  # type: ignore[return-value]
        async with self._limit:
            try:
                value = await ask()
            except Exception as exc:
                explained = explain(exc)
                if explained is None:
                    raise
                if not swallow:
                    raise explained from None
                return default
        self._cache[(kind, name)] = _Cached(key, value)
        return value


def low_balance_warning(line: AccountLine) -> str | None:
    if line.balance_cents is None or line.balance_cents >= line.needed_cents:
        return None
    need, have = line.needed_cents / 100, line.balance_cents / 100
    text = f"balance ${have:.2f} may not cover the posts in flight and the next cycles (up to ${need:.2f})"
    if line.auto_reload:
        reload = (line.reload_amount_cents or 0) / 100
        return text + f"; auto-reload adds ${reload:.2f} when it runs low"
    return text + f": starter.py account topup AMOUNT --account {line.account_ref}"


# --- turning answers into lines ------------------------------------------------------------------------

_ORDER = {"failed": 0, "parked": 1, "retrying": 2, "decision": 3}
# Stages in which a workflow runs no activity of its own, so there is nothing to describe.
_IDLE_STAGES = frozenset({PostStage.AWAITING_APPROVAL, PersonaStage.WAITING, PersonaStage.PAUSED})


def _fill_from_status(line: PersonaLine, status: PersonaStatus, now: datetime) -> None:
    line.answered = True
    line.stage = status.stage
    line.account_ref = status.account_ref
    line.paused, line.stopping = status.paused, status.stopping
    line.parked_reason, line.last_error = status.parked_reason, status.last_error
    line.next_sync_at = status.next_sync_at
    line.active_posts = status.active_posts
    line.counters = status.counters
    line.spent_today_cents = status.credits_spent_today_cents
    line.daily_budget_cents = status.daily_credit_budget_cents
    line.next_cycle_max_cents = status.next_cycle_max_cents
    line.uncharged_cents = status.uncharged_cents
    line.pending_changes = status.pending_changes
    if status.parked_reason:
        line.problems.append(
            Problem(
                kind="parked",
                workflow_id=status.workflow_id,
                since=status.parked_since,
                reason=status.parked_reason,
                command=park_command(status.parked_kind, line.slug, line.slug, status.account_ref),
            )
        )
    for post in status.posts:
        post_id = post.generated_post_id or post.source_post_id
        pending = post.pending_approval
        if pending is not None:
            line.problems.append(
                Problem(
                    kind="decision",
                    workflow_id=post.workflow_id,
                    post_id=post_id,
                    since=pending.waiting_since,
                    deadline=pending.decide_by,
                    reason=(pending.caption or "")[:80] or None,
                    command=f"starter.py approve {post_id}  |  starter.py reject {post_id} --reason ...",
                )
            )
        if post.parked_reason:
            line.problems.append(
                Problem(
                    kind="parked",
                    workflow_id=post.workflow_id,
                    post_id=post_id,
                    since=post.parked_since,
                    reason=post.parked_reason,
                    command=park_command(post.parked_kind, line.slug, post.workflow_id, status.account_ref),
                )
            )
    for failure in status.recent_failures:
        if now - failure.at > FAILED_WINDOW:
            continue
        post_id = failure.generated_post_id or failure.source_post_id
        line.problems.append(
            Problem(
                kind="failed",
                workflow_id=failure.workflow_id,
                post_id=post_id,
                since=failure.at,
                reason=f"{failure.outcome}" + (f": {failure.reason}" if failure.reason else ""),
                command=f"starter.py show {post_id}",
            )
        )


def _fill_from_search_attributes(line: PersonaLine, posts: list[WorkflowExecution]) -> None:
    """Without a worker: what the stage search attributes tell (no reasons, no deadlines)."""
    if line.running and line.stage == PersonaStage.PARKED:
        line.problems.append(
            Problem(kind="parked", workflow_id=line.workflow_id, reason="parked (the reason needs a worker to tell)")
        )
    for execution in posts:
        stage = _sa(execution.typed_search_attributes, STAGE)
        post_id = _sa(execution.typed_search_attributes, POST_ID)
        if stage == PostStage.AWAITING_APPROVAL:
            command = f"starter.py approve {post_id}  |  starter.py reject {post_id} --reason ..."
            line.problems.append(
                Problem(kind="decision", workflow_id=execution.id, post_id=post_id, command=command)
            )
        elif stage == PostStage.PARKED:
            line.problems.append(
                Problem(
                    kind="parked",
                    workflow_id=execution.id,
                    post_id=post_id,
                    reason="parked (the reason needs a worker to tell)",
                )
            )


def _failed_workflow(execution: WorkflowExecution) -> Problem:
    status = execution.status.name.lower() if execution.status else "closed"
    return Problem(
        kind="failed",
        workflow_id=execution.id,
        post_id=_sa(execution.typed_search_attributes, POST_ID),
        since=execution.close_time,
        reason=f"the workflow {status} (a bug or an operator's terminate): see its history in the Web UI",
    )
