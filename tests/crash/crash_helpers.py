"""What the crash tests share: onboarding, persona runs, waiting for a stage, the exactly-once ledger check.

The tests kill real processes at chosen moments, so every wait here polls what the outside world can see
(the simulator's ledger, workflow histories, queries) against a deadline instead of sleeping. The ledger
is the judge: it records what the "service" saw, whatever the workflows believe about themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig, slugify
from workflows.models import AccountSummary, PersonaStatus, PostResult
from workflows.policies import Timing
from workflows.search_attributes import PERSONA

T = TypeVar("T")

TIMING = Timing(time_scale=0.01)
TARGET_PLATFORM = "instagram"
TARGET_USERNAME = "crash_official"


# --- waiting -------------------------------------------------------------------------------------------


async def wait_for(check: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` when `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def ledger_has(admin: SimulatorAdmin, kind: str, **filters: Any) -> list[dict[str, Any]]:
    """The ledger entries of `kind` matching `filters` (an empty list while there are none)."""
    return list(await admin.ledger(kind=kind, **filters))


async def activity_completed(client: Client, workflow_id: str, activity_type: str) -> bool:
    """Whether the workflow's history shows `activity_type` scheduled and completed (readable with no worker)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    return any(
        event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        for event in history.events
    )


async def activity_identities(client: Client, workflow_ids: list[str]) -> Counter[str]:
    """Worker identities (`<pid>@<host>`) in the ActivityTaskStarted events of the given workflows."""
    seen: Counter[str] = Counter()
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                seen[event.activity_task_started_event_attributes.identity] += 1
    return seen


# --- the account and the persona -----------------------------------------------------------------------


def onboarding_input(
    email: str, account: str, *, confirmation: Literal["mailbox", "signal"] = "mailbox", card: bool = False
) -> OnboardingInput:
    return OnboardingInput(email=email, account_ref=account, attach_card=card, confirmation=confirmation, timing=TIMING)


async def onboard(client: Client, admin: SimulatorAdmin, email: str, account: str) -> AccountSummary:
    """A ready account with credits for a few cycles and the connected account every persona links."""
    handle = await ops.start_onboarding(client, onboarding_input(email, account), DEFAULT_TASK_QUEUE)
    summary = await asyncio.wait_for(handle.result(), timeout=120)
    await admin.topup(email, 5000)
    await admin.connect_account(email, TARGET_PLATFORM, TARGET_USERNAME)
    return summary


def persona_config(name: str, creator: str, *, posts: int = 2, approval: str = "auto") -> PersonaConfig:
    """One sync_only source (we generate, so every generate and charge is ours), one target, one cycle."""
    return PersonaConfig.model_validate(
        {
            "name": name,
            "writing_style": "Plain",
            "sources": [{"platform": "instagram", "username": creator, "automation_mode": "sync_only"}],
            "publishing_accounts": [{"platform": TARGET_PLATFORM, "username": TARGET_USERNAME}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": posts,
            "max_concurrent_posts": posts,
            "max_cycles": 1,
            "approval": {"mode": approval},
        }
    )


async def start_persona(client: Client, account: str, config: PersonaConfig) -> WorkflowHandle:
    handle, started = await ops.start_persona(client, account, config, TIMING, DEFAULT_TASK_QUEUE)
    assert started, f"{config.workflow_id} was running already"
    return handle


def post_workflow_id(config: PersonaConfig, source_post_id: str) -> str:
    return f"post-{slugify(config.persona_slug)}-{source_post_id}"


async def persona_id_of(admin: SimulatorAdmin, email: str, name: str) -> str:
    """The persona's server id, from the ledger (no query: the worker may be dead)."""

    async def check() -> str | None:
        for entry in await admin.ledger(kind="persona", email=email):
            if entry["details"].get("name") == name and entry["persona_id"]:
                return entry["persona_id"]
        return None

    return await wait_for(check, f"persona {name!r} in the ledger")


# --- the verdict ---------------------------------------------------------------------------------------


@dataclass
class LedgerVerdict:
    """What the ledger says about one account and one persona, after the run."""

    generated: dict[str, str] = field(default_factory=dict)  # generated post id -> source post id
    approved: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)  # generated posts with a finished delivery


async def assert_exactly_once(
    admin: SimulatorAdmin, email: str, persona_id: str, *, expected_posts: int, expected_approved: int | None = None
) -> LedgerVerdict:
    """One signup, one key, one generate per source post, one approve per approved post, charges = generates."""
    ledger = await admin.ledger(email=email)
    kinds = Counter(entry["kind"] for entry in ledger)
    assert kinds["signup"] == 1, f"signups: {kinds['signup']}"
    assert kinds["api_key"] == 1, f"API keys: {kinds['api_key']}"

    generates = [e for e in ledger if e["kind"] == "generate" and e["persona_id"] == persona_id]
    per_source = Counter(e["source_post_id"] for e in generates)
    assert per_source and max(per_source.values()) == 1, f"a source post was generated twice: {per_source}"
    assert len(per_source) == expected_posts, f"expected {expected_posts} generated posts, ledger has {per_source}"
    generated = {e["generated_post_id"]: e["source_post_id"] for e in generates}

    charges = [e for e in ledger if e["kind"] == "charge" and e["generated_post_id"] in generated]
    per_post_charge = Counter(e["generated_post_id"] for e in charges)
    assert set(per_post_charge) == set(generated), f"charged {per_post_charge}, generated {generated}"
    assert max(per_post_charge.values()) == 1, f"a post was charged twice: {per_post_charge}"
    assert sum(e["amount_cents"] for e in charges) == sum(e["amount_cents"] for e in generates)

    approves = Counter(
        e["generated_post_id"] for e in ledger if e["kind"] == "approve" and e["generated_post_id"] in generated
    )
    assert not approves or max(approves.values()) == 1, f"a post was approved twice: {approves}"
    if expected_approved is not None:
        assert len(approves) == expected_approved, f"expected {expected_approved} approvals, ledger has {approves}"
    delivered = {
        e["generated_post_id"] for e in ledger if e["kind"] == "delivery" and e["generated_post_id"] in generated
    }
    assert delivered == set(approves), f"approved {set(approves)} but deliveries finished for {delivered}"
    return LedgerVerdict(generated=generated, approved=set(approves), delivered=delivered)


async def post_results(client: Client, config: PersonaConfig) -> dict[str, PostResult]:
    """Every post workflow of the persona and its result (for the verdict, and to explain a failure)."""
    query = f"WorkflowType = 'ContentPostWorkflow' AND {PERSONA.name} = '{config.persona_slug}'"
    results = {}
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, result_type=PostResult)
        results[execution.id] = await handle.result()
    return results


async def assert_cycle_done(client: Client, config: PersonaConfig, status: PersonaStatus, posts: int) -> None:
    """The persona ran its one cycle to the end and every post was published."""
    results = await post_results(client, config)
    report = "\n".join(f"{wid}: {r.outcome} {r.failure_reason or ''}" for wid, r in results.items())
    assert status.stage == "done", status
    assert status.active_posts == 0
    assert status.counters.cycles == 1
    assert status.counters.generated == posts, f"{status.counters}\n{report}"
    assert status.counters.published_posts == posts, f"{status.counters}\n{report}"
    assert status.counters.failed_posts == 0, f"{status.counters} {status.last_error}\n{report}"
    assert len(results) == posts and all(r.outcome == "published" for r in results.values()), report


# --- recovery times ------------------------------------------------------------------------------------


@dataclass
class RecoveryClock:
    """Seconds from a kill to the end of the work it interrupted: printed, collected, never asserted."""

    times: dict[str, float] = field(default_factory=dict)

    def record(self, case: str, killed_at: float) -> float:
        seconds = time.monotonic() - killed_at
        self.times[case] = seconds
        print(f"\n[crash] {case}: recovered {seconds:.1f} s after the kill", flush=True)
        return seconds

    def table(self, title: str) -> str:
        width = max([len(case) for case in self.times] + [10])
        lines = [f"{title}", f"{'case':<{width}}  kill -> done"]
        lines += [f"{case:<{width}}  {seconds:9.1f} s" for case, seconds in self.times.items()]
        return "\n".join(lines)
