"""Re-record the replay histories from real runs: `make record-histories`
(or `.venv/bin/python -m tests.replay.record_histories` from the repository root).

Why real runs: a replay test is only as good as its histories. These come from the product as an
operator runs it (a worker process, the Temporal dev server, the simulator over HTTP and localstripe,
started by `devstack.stack.LocalStack` on free loopback ports and stopped at the end), so they hold the
commands, signals, child workflows, failures and timers that production produces. Scenarios:

* onboarding of an account with a card (the welcome bonus) and auto-reload, and of a second account with a
  card only;
* a persona cycle with manual approval: two posts (children), one approved and published, one rejected;
* a parked post: the simulator's costs are raised above the balance, the post's generate meets 402 and parks,
  the account is topped up through the admin API and `topped_up` is sent to the persona (`control.ops`),
  which forwards it; the post resumes, generates once and publishes.

Each scenario is checked before anything is written (the expected decisions, the 402, the signal), every
history is checked for secrets against the worker's secret store, stack traces (machine paths) are blanked,
and the old files are replaced. Then run `.venv/bin/pytest tests/replay` and commit the JSON files.
Re-record whenever a workflow changes on purpose in a way that is not replay-compatible, i.e. together with a
`workflow.patched` guard or a new workflow type for runs already in flight.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from activities.secrets import FileSecretStore
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from tests.replay.history_files import HISTORIES_DIR, scrub_stack_traces, secret_findings
from workflows.config import AutoReloadConfig, OnboardingInput, PersonaConfig, onboarding_workflow_id
from workflows.content_post import ContentPostWorkflow
from workflows.models import AccountSummary, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

T = TypeVar("T")

TIME_SCALE = 0.01
TIMING = Timing(time_scale=TIME_SCALE)
MAIN = ("replay-bot@reelmirror.test", "replay")
PARKED = ("replay-parked@reelmirror.test", "replay-parked")
CYCLE_SLUG = "replay-cycle"
PARKED_SLUG = "replay-parked"
SECRET_NAMES = ("password", "jwt", "api_key", "payment_method")
REQUIRED_SECRETS = ("password", "jwt", "api_key")  # every onboarded account has these
WAIT_SECONDS = 180


class RecordingError(Exception):
    """A scenario did not go as scripted: nothing is written."""


@dataclass(frozen=True)
class Recorded:
    workflow_id: str
    workflow_type: str
    events: int
    document: dict[str, Any]


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], what: str) -> T:
    """Probe until `until` holds; a scenario that never gets there is a recording error."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                value = await probe()
                if until(value):
                    return value
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise RecordingError(f"gave up waiting for {what}") from None


# --- scenarios ----------------------------------------------------------------------------------------


async def onboard(client: Client, email: str, account: str, *, auto_reload: bool) -> AccountSummary:
    inp = OnboardingInput(
        email=email,
        account_ref=account,
        attach_card=True,
        auto_reload=AutoReloadConfig(threshold_cents=300, amount_cents=2500) if auto_reload else None,
        timing=TIMING,
    )
    handle = await ops.start_onboarding(client, inp, DEFAULT_TASK_QUEUE)
    summary: AccountSummary = await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    if not summary.bonus_granted or summary.auto_reload != auto_reload:
        raise RecordingError(f"onboarding of {email} ended without the bonus or the auto-reload asked for")
    return summary


def persona_config(slug: str, creator: str, publish_as: str, **overrides: Any) -> PersonaConfig:
    values: dict[str, Any] = {
        "name": f"Replay {slug}",
        "slug": slug,
        "writing_style": "Short and warm",
        "sources": [{"platform": "instagram", "username": creator, "automation_mode": "sync_only"}],
        "publishing_accounts": [{"platform": "instagram", "username": publish_as}],
        "sync_interval_minutes": 15,
        "max_cycles": 1,
    }
    values.update(overrides)
    return PersonaConfig.model_validate(values)


async def persona_cycle(client: Client, admin: SimulatorAdmin) -> None:
    """Two posts wait for a human: the first is rejected, the second approved and published."""
    email, account = MAIN
    await admin.connect_account(email, "instagram", "replay_official")
    config = persona_config(
        CYCLE_SLUG, "replay_chef", "replay_official",
        posts_per_cycle=2, max_concurrent_posts=2, approval={"mode": "manual"},
    )  # fmt: skip
    handle, _ = await ops.start_persona(client, account, config, TIMING, DEFAULT_TASK_QUEUE)
    waiting = await eventually(
        lambda: handle.query(PersonaLoopWorkflow.status),
        lambda s: len(s.pending_approvals) == 2,
        "two posts waiting for approval",
    )
    first, second = sorted(waiting.pending_approvals, key=lambda p: p.source_post_id)
    await ops.decide(client, first.generated_post_id, approve=False, reason="off-brand")
    await ops.decide(client, second.generated_post_id, approve=True)
    final: PersonaStatus = await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    c = final.counters
    if (c.approved, c.rejected, c.published_posts, c.generated) != (1, 1, 1, 2):
        raise RecordingError(f"the cycle did not end with one approval and one rejection: {c}")


async def parked_post(client: Client, admin: SimulatorAdmin) -> None:
    """Costs above the balance: the post parks on 402; a top-up and `topped_up` resume it."""
    email, account = PARKED
    await admin.connect_account(email, "instagram", "replay_parked_official")
    normal_costs = (await admin.config())["costs_cents"]
    await admin.patch_config({"costs_cents": {kind: 100_000 for kind in normal_costs}})
    try:
        config = persona_config(
            PARKED_SLUG, "replay_parked_chef", "replay_parked_official", posts_per_cycle=1, approval={"mode": "auto"}
        )
        handle, _ = await ops.start_persona(client, account, config, TIMING, DEFAULT_TASK_QUEUE)
        post_id = await eventually(lambda: child_ids(client, handle.id), lambda ids: len(ids) == 1, "the post")
        post = client.get_workflow_handle(post_id[0])
        await eventually(
            lambda: post.query(ContentPostWorkflow.status),
            lambda p: p.stage == "parked" and p.parked_reason is not None,
            "the post to park on the empty balance",
        )
    finally:
        await admin.patch_config({"costs_cents": normal_costs})
    await admin.topup(email, 1_000)
    await ops.signal_persona(client, PARKED_SLUG, PersonaLoopWorkflow.topped_up)
    final: PersonaStatus = await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    if final.counters.published_posts != 1 or final.counters.generated != 1:
        raise RecordingError(f"the parked post did not resume and publish: {final.counters}")
    history = await post.fetch_history()
    if not _has_balance_failure(history) or not _signalled(history, "topped_up"):
        raise RecordingError("the post's history lacks the 402 or the forwarded topped_up")


async def child_ids(client: Client, persona_workflow_id: str) -> list[str]:
    """The children a persona started, read from its own history (no visibility lag)."""
    history = await client.get_workflow_handle(persona_workflow_id).fetch_history()
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


def _has_balance_failure(history: WorkflowHistory) -> bool:
    return any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
        and e.activity_task_failed_event_attributes.failure.application_failure_info.type == "INSUFFICIENT_BALANCE"
        for e in history.events
    )


def _signalled(history: WorkflowHistory, name: str) -> bool:
    return any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == name
        for e in history.events
    )


# --- collecting and writing -------------------------------------------------------------------------


async def collect(client: Client, workflow_ids: list[str], known_secrets: list[str]) -> list[Recorded]:
    recorded = []
    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.COMPLETED:
            raise RecordingError(f"{workflow_id} is {description.status}, not completed")
        history = await handle.fetch_history()
        document = scrub_stack_traces(history.to_json_dict())
        findings = secret_findings(document, known_secrets)
        if findings:
            raise RecordingError(f"{workflow_id}: {', '.join(findings)}")
        recorded.append(Recorded(workflow_id, description.workflow_type, len(history.events), document))
    return recorded


async def stored_secrets(stack: LocalStack) -> list[str]:
    """Every secret the worker stored for the recorded accounts: none of them may appear in a history."""
    store = FileSecretStore(stack.secrets_dir)
    secrets = []
    for _, account in (MAIN, PARKED):
        found = {name: await store.get(account, name) for name in SECRET_NAMES}
        missing = [name for name in REQUIRED_SECRETS if found[name] is None]
        if missing:
            raise RecordingError(f"the secret store holds no {', '.join(missing)} for {account}: nothing to check")
        secrets += [value.get_secret_value() for value in found.values() if value is not None]
    return secrets


def write(recorded: list[Recorded]) -> None:
    HISTORIES_DIR.mkdir(parents=True, exist_ok=True)
    for old in HISTORIES_DIR.glob("*.json"):
        old.unlink()
    for item in recorded:
        path = HISTORIES_DIR / f"{item.workflow_id}.json"
        path.write_text(json.dumps(item.document, indent=1) + "\n")


async def record(stack: LocalStack) -> list[Recorded]:
    client = await connect(env=stack.client_env(), tracing=False)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        await asyncio.gather(onboard(client, *MAIN, auto_reload=True), onboard(client, *PARKED, auto_reload=False))
        await persona_cycle(client, admin)
        await parked_post(client, admin)
    workflow_ids = [onboarding_workflow_id(MAIN[1]), onboarding_workflow_id(PARKED[1])]
    for slug in (CYCLE_SLUG, PARKED_SLUG):
        workflow_ids += [f"persona-{slug}", *await child_ids(client, f"persona-{slug}")]
    return await collect(client, workflow_ids, await stored_secrets(stack))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="reelmirror-record-") as state_dir:
        # Recorded in plaintext (codec off): the fixtures hold only made-up data and stay reviewable and
        # replayable without a key; ids are not part of replay, so older files replay as well.
        config = StackConfig(time_scale=TIME_SCALE, ui_port=None, state_dir=Path(state_dir), codec=False)
        with LocalStack(config) as stack:
            try:
                recorded = asyncio.run(record(stack))
            except RecordingError as exc:
                print(f"error: {exc}; nothing was written. Worker log:", file=sys.stderr)
                print(stack.workers[0].tail(40), file=sys.stderr)
                return 1
    write(recorded)
    for item in recorded:
        print(f"{item.workflow_type:<22} {item.workflow_id:<48} {item.events:>4} events")
    print(f"{len(recorded)} histories written to {HISTORIES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
