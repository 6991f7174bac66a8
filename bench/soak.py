"""The chaos soak scenario, shared by `tests/chaos/test_chaos_soak.py` (asserts) and `bench/chaos_soak.py` (prints).

One onboarded account runs several personas at once while the simulator answers about a tenth of the
calls with a 429, a 502 or a 503 and loses another tenth after committing them (a 502 or a dropped
connection), with latency on top. A manual persona's posts are decided through `control.ops.decide`, the
same call `starter.py approve/reject` makes. Afterwards the simulator's ledger (what the service saw),
its stats (what it injected) and every workflow history (what Temporal saw) are read back, so the test
can assert behaviour and the benchmark can print figures from the same run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench.histories import HistoryReport, collect
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack, StackConfig
from simulator.admin import LedgerEntry, SimulatorAdmin, Stats
from simulator.chaos import ChaosConfig
from simulator.malformed import MALFORMED_KINDS
from workflows.config import OnboardingInput, PersonaConfig
from workflows.models import AccountSummary, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

__all__ = [
    "ACCOUNT",
    "EMAIL",
    "LedgerSummary",
    "SoakConfig",
    "SoakResult",
    "onboard",
    "run_soak",
    "stats_delta",
    "summarize_ledger",
    "wait_until_idle",
    "worker_retry_types",
]

EMAIL = "soak-bot@reelmirror.test"
ACCOUNT = "soak"
PUBLISHING_ACCOUNT = ("instagram", "soak_official")
MANUAL_SLUG = "soak-manual"
_WILL_RETRY = re.compile(r"will retry: ([A-Za-z_]+):")


@dataclass(frozen=True)
class SoakConfig:
    personas: int = 5  # auto-approved personas; one manual persona is added when `manual` is set
    posts: int = 3  # source posts per persona (each creator's backlog)
    rate: float = 0.1  # probability of each fault: 429, 502, 503 and a lost response
    malformed_rate: float = 0.0  # probability of each malformed answer kind (simulator.malformed), after commit
    seed: int = 7
    time_scale: float = 0.01
    latency_ms: tuple[int, int] = (5, 50)
    manual: bool = True
    # A 429 (real or injected) waits for the window's reset: a short window keeps a soak short.
    rate_limit_window_seconds: int = 5
    retry_503_seconds: float = 0.5  # the guide's "retry after 60 s", shrunk for the rehearsal
    timeout_seconds: float = 900

    @property
    def timing(self) -> Timing:
        return Timing(time_scale=self.time_scale)

    def stack_config(self, state_dir: Path | None = None) -> StackConfig:
        return StackConfig(
            time_scale=self.time_scale,
            seed=self.seed,
            ui_port=None,
            state_dir=state_dir,
            simulator_args=["--rate-limit-window", str(self.rate_limit_window_seconds)],
            worker_env={"REELMIRROR_503_RETRY_SECONDS": f"{self.retry_503_seconds:g}"},
        )

    def chaos(self) -> ChaosConfig:
        return ChaosConfig(
            error_rates={"429": self.rate, "502": self.rate, "503": self.rate},
            lost_response_rate=self.rate,
            lost_response_mode="mixed",
            latency_ms=self.latency_ms,
            malformed_rates=dict.fromkeys(MALFORMED_KINDS, self.malformed_rate) if self.malformed_rate else {},
        )

    def persona_configs(self) -> list[PersonaConfig]:
        """The auto personas, then the manual one; each mirrors its own creator and publishes to one account."""
        names = [(f"Soak Persona {i}", f"soak-{i}", "auto") for i in range(1, self.personas + 1)]
        if self.manual:
            names.append(("Soak Manual", MANUAL_SLUG, "manual"))
        return [
            PersonaConfig.model_validate(
                {
                    "name": name,
                    "slug": slug,
                    "writing_style": "Short and plain",
                    "sources": [
                        {"platform": "instagram", "username": f"{slug}-creator", "automation_mode": "sync_only"}
                    ],
                    "publishing_accounts": [{"platform": PUBLISHING_ACCOUNT[0], "username": PUBLISHING_ACCOUNT[1]}],
                    "sync_interval_minutes": 15,
                    "posts_per_cycle": self.posts,
                    "max_concurrent_posts": self.posts,
                    # Two cycles: the second syncs and plans again inside a running persona, under the same chaos.
                    "max_cycles": 2,
                    "approval": {"mode": approval},
                }
            )
            for name, slug, approval in names
        ]

    @property
    def credits_needed(self) -> int:
        """Enough for every post being a video (the most expensive kind), with room to spare."""
        return (self.personas + 1) * self.posts * 100 * 2


@dataclass
class LedgerSummary:
    """The ground truth of one account's run, and what contradicts exactly-once."""

    personas: int
    generates: int
    charges: int
    charged_cents: int
    approves: int
    rejects: int
    deliveries: int
    problems: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    config: SoakConfig
    account: AccountSummary
    statuses: dict[str, PersonaStatus]  # persona workflow id -> final status
    decisions: dict[str, bool]  # generated post id -> approved (manual persona)
    ledger: LedgerSummary
    stats: Stats  # requests and faults while chaos was on
    histories: HistoryReport
    retry_types: Counter[str]  # error types of retried activity attempts, from the worker logs
    seconds: float  # from chaos on to every workflow finished
    setup_seconds: float  # stack already running: onboarding and account preparation


async def onboard(client: Client, timing: Timing, email: str = EMAIL, account_ref: str = ACCOUNT) -> AccountSummary:
    """Sign up, confirm, create a key and save a card through the OnboardingWorkflow (before any chaos)."""
    handle = await ops.start_onboarding(
        client,
        OnboardingInput(email=email, account_ref=account_ref, attach_card=True, timing=timing),
        DEFAULT_TASK_QUEUE,
    )
    return await asyncio.wait_for(handle.result(), timeout=120)


def stats_delta(before: Stats, after: Stats) -> Stats:
    """What happened between two `/_sim/stats` snapshots."""
    statuses = set(before["by_status"]) | set(after["by_status"])
    return Stats(
        requests=after["requests"] - before["requests"],
        by_status={s: after["by_status"].get(s, 0) - before["by_status"].get(s, 0) for s in sorted(statuses)},
        faults={k: v - before["faults"].get(k, 0) for k, v in after["faults"].items()},
    )


def summarize_ledger(ledger: Iterable[LedgerEntry]) -> LedgerSummary:
    """Count effects and list every breach of exactly-once: a second generate for a source post, a second
    approve of a post, a charge without a generate (or the reverse), a charge of another amount."""
    entries = list(ledger)
    generates = [e for e in entries if e["kind"] == "generate"]
    charges = [e for e in entries if e["kind"] == "charge"]
    approves = [e for e in entries if e["kind"] == "approve"]
    problems: list[str] = []
    per_source = Counter((e["persona_id"], e["source_post_id"]) for e in generates)
    problems += [f"source post {sp} of persona {p} generated {n} times" for (p, sp), n in per_source.items() if n > 1]
    per_post = Counter(e["generated_post_id"] for e in approves)
    problems += [f"generated post {gid} approved {n} times" for gid, n in per_post.items() if n > 1]
    cost = {e["generated_post_id"]: e["amount_cents"] for e in generates}
    charged: Counter[str | None] = Counter()
    for e in charges:
        if e["details"].get("reason", "generate") == "generate":
            charged[e["generated_post_id"]] += e["amount_cents"] or 0
    if set(charged) != set(cost):
        problems.append(f"charged posts {sorted(map(str, charged))} differ from generated {sorted(map(str, cost))}")
    problems += [
        f"generated post {gid} charged {charged[gid]} cents, its generation cost {amount}"
        for gid, amount in cost.items()
        if gid in charged and charged[gid] != amount
    ]
    return LedgerSummary(
        personas=sum(1 for e in entries if e["kind"] == "persona"),
        generates=len(generates),
        charges=len(charges),
        charged_cents=sum(charged.values()),
        approves=len(approves),
        rejects=sum(1 for e in entries if e["kind"] == "reject"),
        deliveries=sum(1 for e in entries if e["kind"] == "delivery"),
        problems=problems,
    )


def worker_retry_types(logs: Path) -> Counter[str]:
    """Error types of retried attempts as the activities logged them ("will retry: TYPE: ...")."""
    counts: Counter[str] = Counter()
    for log in sorted(logs.glob("worker-*.log")):
        counts.update(_WILL_RETRY.findall(log.read_text(errors="replace")))
    return counts


async def wait_until_idle(client: Client, query: str = "") -> None:
    """Until no workflow (matching `query`) runs: a child reports its end to its persona a moment before it
    completes. Callers bound the wait with `asyncio.timeout`."""
    running_query = "ExecutionStatus = 'Running'" + (f" AND {query}" if query else "")
    while True:
        running = [w.id async for w in client.list_workflows(running_query)]
        if not running:
            return
        await asyncio.sleep(0.2)


async def _decide_manual(
    client: Client, handle: WorkflowHandle[Any, PersonaStatus], done: asyncio.Future[Any], decisions: dict[str, bool]
) -> None:
    """The operator of the manual persona: reject its first post, approve the others."""
    while not done.done():
        status = await handle.query(PersonaLoopWorkflow.status)
        for pending in status.pending_approvals:
            gid = pending.generated_post_id
            if gid in decisions:
                continue
            approve = bool(decisions)
            try:
                await ops.decide(client, gid, approve=approve, reason=None if approve else "soak: first post rejected")
            except ops.OperatorError:
                continue  # not visible to the search yet: try again on the next round
            decisions[gid] = approve
        await asyncio.wait({done}, timeout=0.3)


async def run_soak(
    stack: LocalStack,
    client: Client,
    admin: SimulatorAdmin,
    config: SoakConfig,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """Run the scenario on a started stack and read back ledger, stats and histories."""
    say = progress or (lambda _message: None)
    setup_started = time.monotonic()
    account = await onboard(client, config.timing)
    await admin.connect_account(EMAIL, *PUBLISHING_ACCOUNT)
    await admin.topup(EMAIL, config.credits_needed)
    await admin.patch_config({"backlog_posts": config.posts})
    say(f"account {EMAIL} onboarded; {config.credits_needed} cents of credit")

    before = await admin.stats()
    await admin.set_chaos(config.chaos())
    started = time.monotonic()
    setup_seconds = started - setup_started
    handles: dict[str, WorkflowHandle[Any, PersonaStatus]] = {}
    for persona in config.persona_configs():
        handle, _ = await ops.start_persona(client, ACCOUNT, persona, config.timing, DEFAULT_TASK_QUEUE)
        handles[handle.id] = handle
    say(f"{len(handles)} personas started under chaos: {config.chaos().model_dump(exclude_defaults=True)}")

    results = asyncio.ensure_future(asyncio.gather(*(h.result() for h in handles.values())))
    decisions: dict[str, bool] = {}
    manual = handles.get(f"persona-{MANUAL_SLUG}")
    try:
        async with asyncio.timeout(config.timeout_seconds):
            if manual is not None:
                await _decide_manual(client, manual, results, decisions)
            finals: list[PersonaStatus] = await results
            await wait_until_idle(client)
    finally:
        results.cancel()
        await admin.set_chaos()
    seconds = time.monotonic() - started
    say(f"every workflow finished in {seconds:.1f} s")

    stats = stats_delta(before, await admin.stats())
    ledger = summarize_ledger(await admin.ledger(email=EMAIL))
    histories = await collect(client)
    return SoakResult(
        config=config,
        account=account,
        statuses={s.workflow_id: s for s in finals},
        decisions=decisions,
        ledger=ledger,
        stats=stats,
        histories=histories,
        retry_types=worker_retry_types(stack.logs),
        seconds=seconds,
        setup_seconds=setup_seconds,
    )
