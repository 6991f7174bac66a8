"""Bad operator input against a running stack: one `error:` line, exit code 2, and nothing started or changed.

The unit tests of the CLI (tests/control/test_starter_cli.py) prove refusals happen before connecting,
with Temporal out of reach. These run `starter.py` as an operator does, against a live stack that already
holds an onboarded account and a persona with two posts waiting for approval, and check the other half of
the promise: every workflow that exists before a refused command (id and run) is all that exists after it,
and the simulator's ledger (every signup, generate, charge, approve, reject) is exactly the same.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig
from workflows.content_post import ContentPostWorkflow
from workflows.models import PendingApproval, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

pytestmark = pytest.mark.integration
T = TypeVar("T")

REPO = Path(__file__).parents[2]
EMAIL = "bad-input-bot@reelmirror.test"
ACCOUNT = "badinput"
TIMING = Timing(time_scale=0.01)
PERSONA_SLUG = "bad-input-live"
SLOW_DELIVERY_SECONDS = 2400  # simulated: 24 s of real time, so an approved post stays in "publishing"

VALID_PERSONA_FILE = """\
name = "Bad Input Probe"
slug = "bad-input-probe"
writing_style = "Plain"
sync_interval_minutes = 15
max_cycles = 1

[[sources]]
platform = "instagram"
username = "probe_chef"
automation_mode = "sync_only"
"""


@dataclass(frozen=True)
class Live:
    """The stack's standing state: the persona's workflow id and its two posts waiting for a decision."""

    persona_id: str
    pending: list[PendingApproval]


@dataclass(frozen=True)
class Snapshot:
    workflows: frozenset[tuple[str, str]]
    ledger: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def sim(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    async with SimulatorAdmin(stack.sim_origin) as admin:
        yield admin


@pytest.fixture(scope="module")
async def live(client: Client, sim: SimulatorAdmin) -> Live:
    """An onboarded account and a running persona whose two posts wait for approval (a quiet ledger)."""
    onboarding = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(onboarding.result(), 120)
    await sim.connect_account(EMAIL, "instagram", "bad_input_official")
    config = PersonaConfig.model_validate(
        {
            "name": "Bad Input Live",
            "slug": PERSONA_SLUG,
            "sources": [{"platform": "instagram", "username": "bad_input_chef"}],
            "publishing_accounts": [{"platform": "instagram", "username": "bad_input_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 2,
            "max_cycles": 1,
        }
    )
    handle, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    status = await wait_until(
        lambda: handle.query(PersonaLoopWorkflow.status), lambda s: len(s.pending_approvals) == 2
    )
    return Live(persona_id=handle.id, pending=sorted(status.pending_approvals, key=lambda p: p.generated_post_id))


async def wait_until(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], seconds: float = 120) -> T:
    async with asyncio.timeout(seconds):
        while True:
            value = await probe()
            if until(value):
                return value
            await asyncio.sleep(0.1)


def starter(stack: LocalStack, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        capture_output=True, text=True, env=stack.client_env(), timeout=60, cwd=cwd,
    )  # fmt: skip


async def snapshot(client: Client, sim: SimulatorAdmin) -> Snapshot:
    workflows = frozenset({(w.id, w.run_id or "") async for w in client.list_workflows()})
    return Snapshot(workflows, await sim.ledger())


async def assert_refused(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, args: tuple[str, ...], expected: str, **kwargs: Any
) -> None:
    """The command fails with one `error:` line naming the problem; workflows and ledger are untouched."""
    before = await snapshot(client, sim)
    result = await asyncio.to_thread(starter, stack, *args, **kwargs)
    after = await snapshot(client, sim)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]
    assert result.stdout == ""
    assert after.workflows == before.workflows, "a refused command started a workflow"
    assert after.ledger == before.ledger, "a refused command changed something on the service"


# --- a persona that does not exist --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pause", "resume", "topped-up", "credentials-updated"])
async def test_signal_to_a_persona_that_does_not_exist_is_refused(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, live: Live, command: str
) -> None:
    await assert_refused(stack, client, sim, (command, "no-such-persona"), "no persona 'no-such-persona' is running")


# --- decisions that name no waiting post ---------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize(
    ("post_id", "expected"),
    [
        ("gp-does-not-exist", "no post gp-does-not-exist is waiting"),
        (f"post-{PERSONA_SLUG}-no-such-source-post", "is running"),
    ],
)
async def test_decision_for_an_unknown_post_is_refused(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, live: Live, decision: str, post_id: str, expected: str
) -> None:
    await assert_refused(stack, client, sim, (decision, post_id), expected)


# --- persona files that must not start anything ----------------------------------------------------------


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return edit


def _add_top_level(line: str) -> Callable[[str], str]:
    return _replace("max_cycles = 1\n", f"max_cycles = 1\n{line}\n")


INVALID_FILES = {
    "missing-name": (_replace('name = "Bad Input Probe"\n', ""), "name: is required"),
    "unknown-mode": (
        _replace('"sync_only"', '"auto_magic"'),
        "sources[0].automation_mode: unknown automation_mode 'auto_magic'",
    ),
    "unknown-platform": (_replace('"instagram"', '"myspace"'), "sources[0].platform: unknown platform 'myspace'"),
    "sync-too-often": (
        _replace("sync_interval_minutes = 15", "sync_interval_minutes = 10"),
        "sync_interval_minutes: must be at least 15 minutes",
    ),
    "negative-budget": (
        _add_top_level("daily_credit_budget_cents = -100"),
        "daily_credit_budget_cents: Input should be greater than or equal to 0",
    ),
    "unknown-field": (_add_top_level("posts_per_day = 3"), "posts_per_day: is not a known setting"),
}


def test_the_base_persona_file_is_valid(stack: LocalStack, tmp_path: Path) -> None:
    """Each invalid file below differs from this one by exactly its one defect."""
    path = tmp_path / "probe.toml"
    path.write_text(VALID_PERSONA_FILE)
    result = starter(stack, "persona", "validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok (workflow id persona-bad-input-probe" in result.stdout


@pytest.mark.parametrize("defect", list(INVALID_FILES))
async def test_persona_start_with_an_invalid_file_starts_nothing(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, live: Live, tmp_path: Path, defect: str
) -> None:
    edit, expected = INVALID_FILES[defect]
    path = tmp_path / f"{defect}.toml"
    path.write_text(edit(VALID_PERSONA_FILE))
    args = ("persona", "start", path.name, "--account", ACCOUNT, "--time-scale", "0.01")
    await assert_refused(stack, client, sim, args, f"{path.name}: {expected}", cwd=tmp_path)


async def test_a_persona_whose_name_slugs_to_a_running_personas_id_is_refused(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, live: Live, tmp_path: Path
) -> None:
    """Another name under the live persona's id: refused by name, never taken for the running persona."""
    path = tmp_path / "twin.toml"
    path.write_text(
        f'name = "Bad Input LIVE!"\nslug = "{PERSONA_SLUG}"\n'
        '[[sources]]\nplatform = "instagram"\nusername = "someone_else"\n'
    )
    args = ("persona", "start", path.name, "--account", ACCOUNT, "--time-scale", "0.01")
    await assert_refused(stack, client, sim, args, "of the running persona 'Bad Input Live'", cwd=tmp_path)


# --- a post that is no longer waiting for approval -------------------------------------------------------


async def test_approve_or_reject_of_an_already_approved_post_is_refused(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, live: Live
) -> None:
    """Last in this module: it approves one post and rejects the other, which lets the persona finish."""
    first, second = live.pending
    usual_durations = (await sim.config())["durations_seconds"]
    await sim.patch_config({"durations_seconds": {"delivery": [SLOW_DELIVERY_SECONDS, SLOW_DELIVERY_SECONDS]}})
    try:
        approved = await asyncio.to_thread(starter, stack, "approve", first.generated_post_id)
        assert approved.returncode == 0, approved.stderr
        post = client.get_workflow_handle(first.workflow_id)
        await wait_until(lambda: post.query(ContentPostWorkflow.status), lambda p: p.stage == "publishing")

        expected = f"post {first.generated_post_id} is not waiting for approval (stage: publishing)"
        await assert_refused(stack, client, sim, ("approve", first.generated_post_id), expected)
        await assert_refused(stack, client, sim, ("reject", first.generated_post_id, "--reason", "late"), expected)
    finally:
        await sim.patch_config({"durations_seconds": usual_durations})
        await sim.advance_clock(SLOW_DELIVERY_SECONDS)

    approvals = await sim.ledger(kind="approve", generated_post_id=first.generated_post_id)
    assert len(approvals) == 1
    assert await sim.ledger(kind="reject", generated_post_id=first.generated_post_id) == []

    rejected = await asyncio.to_thread(starter, stack, "reject", second.generated_post_id, "--reason", "cleanup")
    assert rejected.returncode == 0, rejected.stderr
    persona = client.get_workflow_handle(live.persona_id, result_type=PersonaStatus)
    final = await asyncio.wait_for(persona.result(), 120)
    assert final.counters.approved == 1 and final.counters.rejected == 1
