"""Operating a fleet from the CLI, as an operator does: `starter.py` against a live stack.

One stack for the module and one story, in order: two accounts are onboarded (one with a card, one
without: its posts park on an empty balance), personas run on both, and each command is used where an
operator would use it: decisions in bulk through the post workflows' Updates, `show`, `status` with every
kind of problem, the account and billing commands through the worker, a persona file applied with
`persona update`, `persona stop` (with and without `--now`), `persona list --all`, alerts to a webhook that
fails at first, and finally `status` with the worker stopped. Assertions read the CLI's output and exit
codes, and the simulator's ledger for what the service saw.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from temporalio.client import Client, WorkflowExecutionStatus

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from control.fleet import StatusCollector
from devstack.ports import free_port
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.models import PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.stages import OnboardingStage

pytestmark = pytest.mark.integration
T = TypeVar("T")

REPO = Path(__file__).parents[2]
TIMING = Timing(time_scale=0.01)
WEB_UI = "http://ui.example.test:8233"
SLOW_DELIVERY = 2400  # simulated seconds: an approved post stays in "publishing" while the test decides again
OPS_EMAIL, OPS = "ops-bot@reelmirror.test", "ops"
BROKE_EMAIL, BROKE = "broke-bot@reelmirror.test", "broke"

DESK = """\
name = "Ops Desk"
slug = "ops-desk"
sync_interval_minutes = 600
posts_per_cycle = 3
max_concurrent_posts = 3

[approval]
mode = "manual"
timeout_minutes = 6000
default_action = "reject"

[[sources]]
platform = "instagram"
username = "ops_chef"

[[publishing_accounts]]
platform = "instagram"
username = "ops_official"

[[alerts]]
url = "{hook}"
events = ["decision_needed"]
"""

KITCHEN = """\
name = "Broke Kitchen"
slug = "broke-kitchen"
sync_interval_minutes = 600
posts_per_cycle = 2
max_concurrent_posts = 2

[approval]
mode = "manual"

[[sources]]
platform = "instagram"
username = "broke_chef"

[[publishing_accounts]]
platform = "instagram"
username = "broke_official"
"""


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig(
        time_scale=0.01, ui_port=None, state_dir=tmp_path_factory.mktemp("stack"),
        worker_env={"REELMIRROR_WEB_UI_URL": WEB_UI},
    )  # fmt: skip


@dataclass
class Receiver:
    """A webhook that answers 503 to its first `failures` requests, then records and accepts each one."""

    url: str
    failures: int
    received: list[dict[str, Any]]
    refused: int = 0


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    hook = Receiver(url=f"http://127.0.0.1:{port}/hook", failures=2, received=[])

    async def take(request: web.Request) -> web.Response:
        if hook.refused < hook.failures:
            hook.refused += 1
            return web.Response(status=503, text="down for maintenance")
        hook.received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield hook
    await runner.cleanup()


@pytest.fixture(scope="module")
async def sim(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    async with SimulatorAdmin(stack.sim_origin) as admin:
        yield admin


def starter(stack: LocalStack, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        capture_output=True, text=True, env=stack.client_env(), timeout=120, cwd=cwd,
    )  # fmt: skip


async def cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(starter, stack, *args)


async def wait_until(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], seconds: float = 120) -> T:
    async with asyncio.timeout(seconds):
        while True:
            value = await probe()
            if until(value):
                return value
            await asyncio.sleep(0.2)


def persona_status(client: Client, slug: str) -> Callable[[], Awaitable[PersonaStatus]]:
    handle = client.get_workflow_handle_for(PersonaLoopWorkflow.run, f"persona-{slug}")
    return lambda: handle.query(PersonaLoopWorkflow.status)


@pytest.fixture(scope="module")
async def onboarded(stack: LocalStack, client: Client, sim: SimulatorAdmin) -> subprocess.CompletedProcess[str]:
    """`ops` onboarded through the CLI (its live output is the first test's subject); `broke` without a card."""
    shown = await cli(stack, "onboard", "--email", OPS_EMAIL, "--account", OPS, "--card", "--time-scale", "0.01")
    broke = await ops.start_onboarding(
        client, OnboardingInput(email=BROKE_EMAIL, account_ref=BROKE, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(broke.result(), 120)
    await sim.connect_account(OPS_EMAIL, "instagram", "ops_official")
    await sim.connect_account(BROKE_EMAIL, "instagram", "broke_official")
    return shown


@pytest.fixture(scope="module")
async def desk(
    stack: LocalStack, client: Client, onboarded: object, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """persona-ops-desk running on `ops` with three posts waiting for a decision: (its file, their post ids)."""
    path = tmp_path_factory.mktemp("personas") / "desk.toml"
    path.write_text(DESK.format(hook=receiver.url))
    started = await cli(stack, "persona", "start", str(path), "--account", OPS, "--time-scale", "0.01")
    assert started.returncode == 0, started.stderr
    waiting = await wait_until(persona_status(client, "ops-desk"), lambda s: len(s.pending_approvals) == 3)
    return path, sorted(p.generated_post_id for p in waiting.pending_approvals)


# --- onboarding ------------------------------------------------------------------------------------------


async def test_onboard_shows_its_stages_while_it_waits(onboarded: subprocess.CompletedProcess[str]) -> None:
    assert onboarded.returncode == 0, onboarded.stderr
    stages = re.findall(r"^\d\d:\d\d:\d\d  stage (\w+)", onboarded.stdout, re.M)
    # each stage it saw, in the workflow's order (a quick one may pass between two looks)
    order = list(OnboardingStage)
    assert stages[-1] == "done" and len(stages) >= 2
    assert [order.index(OnboardingStage(s)) for s in stages] == sorted(order.index(OnboardingStage(s)) for s in stages)
    summary = json.loads(onboarded.stdout[onboarded.stdout.index("{") :])
    assert summary["account_ref"] == OPS and summary["bonus_granted"]


async def test_onboard_status_finds_an_onboarding_by_email_or_account(stack: LocalStack, onboarded: object) -> None:
    for target in (BROKE_EMAIL, BROKE):
        result = await cli(stack, "onboard", "status", target)
        assert result.returncode == 0, result.stderr
        assert "onboarding-broke: completed" in result.stdout
        assert "stage    done" in result.stdout and "(account broke)" in result.stdout
    unknown = await cli(stack, "onboard", "status", "nobody@reelmirror.test")
    assert unknown.returncode == 2 and unknown.stderr == "error: no onboarding is known for nobody@reelmirror.test\n"


# --- decisions ---------------------------------------------------------------------------------------------


async def test_decisions_in_bulk_answer_for_each_post(
    stack: LocalStack, sim: SimulatorAdmin, desk: tuple[Path, list[str]]
) -> None:
    _, (first, second, third) = desk
    usual = (await sim.config())["durations_seconds"]
    await sim.patch_config({"durations_seconds": {"delivery": [SLOW_DELIVERY, SLOW_DELIVERY]}})
    try:
        bulk = await cli(stack, "approve", first, second, "gp_not_a_post")
        late = await cli(stack, "reject", first, "--reason", "second thoughts")
    finally:
        await sim.patch_config({"durations_seconds": usual})
        await sim.advance_clock(SLOW_DELIVERY)
    assert bulk.returncode == 3, bulk.stderr
    lines = bulk.stdout.splitlines()
    assert lines[0].startswith(f"{first}  approved (post-ops-desk-") and lines[1].startswith(f"{second}  approved")
    assert lines[2].startswith("gp_not_a_post  not approved: no post gp_not_a_post is known")
    assert lines[3] == "3 post(s): 2 approved, 1 not"
    assert bulk.stderr == "error: 3 post(s): 2 approved, 1 not\n"

    assert late.returncode == 3 and late.stdout == ""
    assert late.stderr == "error: already approved by an operator\n"

    rest = await cli(stack, "reject", "--persona", "ops-desk", "--all", "--reason", "off-brand")
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.splitlines() == [
        f"{third}  rejected ({rest.stdout.split('(')[1].split(')')[0]})",
        "1 post(s): 1 rejected, 0 not",
    ]
    nothing = await cli(stack, "approve", "--persona", "ops-desk", "--all")
    assert (nothing.returncode, nothing.stdout) == (0, "no post of ops-desk waits for a decision\n")

    assert len(await sim.ledger(kind="approve")) == 2
    rejects = await sim.ledger(kind="reject")
    assert [r["generated_post_id"] for r in rejects] == [third]


async def test_show_prints_a_post_in_full(stack: LocalStack, desk: tuple[Path, list[str]]) -> None:
    _, (first, _, _) = desk
    shown = await wait_until(lambda: cli(stack, "show", first), lambda r: "outcome      published" in r.stdout)
    out = shown.stdout
    assert shown.returncode == 0, shown.stderr
    assert out.startswith("post-ops-desk-") and f"generated post {first}" in out
    assert "persona      ops-desk (account ops)" in out and "source post  " in out
    assert re.search(r"^media        https?://\S+", out, re.M) and re.search(r"^caption      \S", out, re.M)
    assert re.search(r"^cost         \$\d+\.\d\d", out, re.M)
    stages = re.findall(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  (\w+)", out, re.M)
    assert stages[-4:] == ["awaiting_approval", "approving", "publishing", "done"]
    assert "decision     approved by operator" in out
    assert re.search(r"^delivery     instagram: published", out, re.M)


# --- problems in plain sight -----------------------------------------------------------------------------------


async def test_watch_refreshes_and_asks_again_only_about_what_changed(
    stack: LocalStack, client: Client, desk: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = 0
    real_query = client.workflow_service.query_workflow

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return await real_query(*args, **kwargs)

    monkeypatch.setattr(client.workflow_service, "query_workflow", counting)
    collector = StatusCollector(client, DEFAULT_TASK_QUEUE, persona="ops-desk", query_ttl=30, describe_ttl=15)
    first = await collector.collect()
    asked = queries
    second = await collector.collect()
    assert asked >= 1 and queries == asked, "an unchanged persona is not queried again"
    assert [p.slug for p in first.personas] == [p.slug for p in second.personas] == ["ops-desk"]

    watching = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "starter.py"), "watch", "--persona", "ops-desk", "--interval", "0.5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=stack.client_env(), cwd=REPO,
    )  # fmt: skip
    await asyncio.sleep(12)  # a loaded 2-core machine takes seconds to start the CLI and draw the first screen
    watching.send_signal(signal.SIGINT)
    raw_out, raw_err = await asyncio.wait_for(watching.communicate(), 30)
    out, err = raw_out.decode(), raw_err.decode()
    assert watching.returncode == 130, err
    assert "persona-ops-desk" in out and "worker(s) polling task queue 'reelmirror'" in out and "Traceback" not in err


async def test_status_shows_every_post_that_needs_attention(
    stack: LocalStack, client: Client, onboarded: object, tmp_path: Path
) -> None:
    kitchen = tmp_path / "kitchen.toml"
    kitchen.write_text(KITCHEN)
    started = await cli(stack, "persona", "start", str(kitchen), "--account", BROKE, "--time-scale", "0.01")
    assert started.returncode == 0, started.stderr
    parked = persona_status(client, "broke-kitchen")
    await wait_until(parked, lambda s: sum(bool(p.parked_reason) for p in s.posts) == 2)

    result = await cli(stack, "status", "--problems", "--json")
    assert result.returncode == 0, result.stderr
    fleet = json.loads(result.stdout)
    assert fleet["workers"] == 1
    kitchen_line = next(p for p in fleet["personas"] if p["slug"] == "broke-kitchen")
    parked = [p for p in kitchen_line["problems"] if p["kind"] == "parked"]
    assert len(parked) == 2 and all(p["since"] and "insufficient balance" in p["reason"] for p in parked)
    assert all(p["command"].startswith("starter.py account topup AMOUNT --account broke") for p in parked)
    broke = next(a for a in fleet["accounts"] if a["account_ref"] == BROKE)
    assert broke["balance_cents"] == 0 and "may not cover the posts in flight" in broke["warning"]

    table = await cli(stack, "status", "--persona", "broke-kitchen")
    assert table.returncode == 0, table.stderr
    assert "persona-broke-kitchen" in table.stdout and "persona-ops-desk" not in table.stdout
    assert table.stdout.count("parked") >= 2 and "account broke: balance $0.00" in table.stdout


async def test_account_commands_run_through_the_worker(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, onboarded: object
) -> None:
    status = await cli(stack, "account", "status", "--account", BROKE)
    assert status.returncode == 0, status.stderr
    assert "balance      $0.00" in status.stdout and "card on file no" in status.stdout
    assert re.search(r"API key      \S+ \(sha256:[0-9a-f]{12}\)", status.stdout)
    assert re.search(r"persona-broke-kitchen: \$0\.00, \$\d\.\d\d more for posts in flight", status.stdout)

    topup = await cli(stack, "account", "topup", "5", "--account", BROKE)
    assert topup.returncode == 0, topup.stderr
    url = topup.stdout.splitlines()[1]
    assert url.startswith("http")
    await sim.complete_checkout(url)
    resumed = await cli(stack, "topped-up", "broke-kitchen")
    assert resumed.returncode == 0, resumed.stderr
    await wait_until(persona_status(client, "broke-kitchen"), lambda s: len(s.pending_approvals) == 2)

    refused = await cli(stack, "account", "auto-reload", "on", "--account", BROKE)
    assert refused.returncode == 4 and refused.stderr.startswith("error: account 'broke': VALIDATION_ERROR")
    on = await cli(stack, "account", "auto-reload", "on", "--threshold", "3", "--amount", "20", "--account", OPS)
    assert (on.returncode, on.stdout) == (0, "auto-reload on for ops: $20.00 when the balance is below $3.00\n")
    off = await cli(stack, "account", "auto-reload", "off", "--account", OPS)
    assert (off.returncode, off.stdout) == (0, "auto-reload off for ops\n")
    nobody = await cli(stack, "account", "status", "--account", "nobody")
    assert nobody.returncode == 4 and "MISSING_SECRET" in nobody.stderr and len(nobody.stderr.splitlines()) == 1


# --- persona lifecycle ------------------------------------------------------------------------------------------


async def test_persona_update_then_stop_then_list(
    stack: LocalStack, client: Client, desk: tuple[Path, list[str]]
) -> None:
    path, _ = desk
    edited = path.read_text().replace('username = "ops_chef"\n', 'username = "ops_chef"\n\n[[sources]]\n'
                                      'platform = "tiktok"\nusername = "ops_runner"\n')  # fmt: skip
    edited = edited.replace("max_concurrent_posts = 3\n", "max_concurrent_posts = 3\ndaily_credit_budget_cents = 900\n")
    path.write_text(edited)

    silent = await cli(stack, "persona", "start", str(path), "--account", OPS, "--time-scale", "0.01")
    assert silent.returncode == 2 and "already running with another configuration" in silent.stderr
    assert "starter.py persona update FILE" in silent.stderr

    update = await cli(stack, "persona", "update", str(path))
    assert update.returncode == 0, update.stderr
    assert update.stdout.splitlines()[1:] == [
        "  sources: + tiktok/ops_runner (sync_only)",
        "  daily_credit_budget_cents: unset -> 900",
    ]
    again = await cli(stack, "persona", "update", str(path))
    assert again.returncode == 3 and "has this configuration already" in again.stderr

    stop = await cli(stack, "persona", "stop", "ops-desk")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("persona-ops-desk: stopping; ")
    handle = client.get_workflow_handle_for(PersonaLoopWorkflow.run, "persona-ops-desk")
    final = await asyncio.wait_for(handle.result(), 120)
    assert final.counters.cycles == 1, "no cycle after the stop"

    now = await cli(stack, "persona", "stop", "broke-kitchen", "--now")
    assert now.returncode == 0, now.stderr
    assert "cancelled: post-broke-kitchen-" in now.stdout
    kitchen = client.get_workflow_handle_for(PersonaLoopWorkflow.run, "persona-broke-kitchen")
    assert (await asyncio.wait_for(kitchen.result(), 120)).active_posts == 0

    listed = await cli(stack, "persona", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {entry["slug"]: entry["state"] for entry in json.loads(listed.stdout)}
    assert states == {"ops-desk": "finished", "broke-kitchen": "finished"}
    running = await cli(stack, "persona", "list", "--json")
    assert json.loads(running.stdout) == []
    gone = await cli(stack, "persona", "stop", "ops-desk")
    assert gone.returncode == 2 and "no persona 'ops-desk' is running" in gone.stderr


# --- alerts -----------------------------------------------------------------------------------------------------


async def test_each_post_waiting_for_a_decision_was_alerted_once_despite_a_failing_receiver(
    receiver: Receiver, desk: tuple[Path, list[str]]
) -> None:
    _, post_ids = desk
    await wait_until(lambda: asyncio.sleep(0, receiver.received), lambda got: len(got) >= 3, seconds=60)
    assert receiver.refused == 2, "the receiver failed twice first; the alerts were retried"
    assert sorted(alert["post_id"] for alert in receiver.received) == post_ids
    for alert in receiver.received:
        assert alert["event"] == "decision_needed" and alert["persona"] == "Ops Desk"
        assert alert["text"].startswith(f"Ops Desk: post {alert['post_id']} waits for your decision since ")
        assert alert["web_ui_url"] == f"{WEB_UI}/namespaces/default/workflows/{alert['workflow_id']}"
        assert f"<{alert['web_ui_url']}|Open in the Temporal Web UI>" in alert["text"]


# --- without a worker --------------------------------------------------------------------------------------------


async def test_status_answers_within_seconds_without_a_worker_and_says_so(
    stack: LocalStack, client: Client, sim: SimulatorAdmin, onboarded: object, tmp_path: Path
) -> None:
    """Last in the module: it stops the worker."""
    await sim.topup(BROKE_EMAIL, 2000)  # enough credit for two more posts, whatever ran before
    kitchen = tmp_path / "kitchen.toml"
    kitchen.write_text(KITCHEN.replace("broke-kitchen", "late-kitchen").replace("Broke Kitchen", "Late Kitchen"))
    started = await cli(stack, "persona", "start", str(kitchen), "--account", BROKE, "--time-scale", "0.01")
    assert started.returncode == 0, started.stderr
    waiting = await wait_until(persona_status(client, "late-kitchen"), lambda s: len(s.pending_approvals) == 2)
    for worker in stack.workers:
        worker.stop()

    started = time.monotonic()
    result = await cli(stack, "status")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert took < 10, f"status took {took:.1f} s without a worker"
    assert "no worker is polling task queue 'reelmirror'" in result.stdout
    assert "persona-late-kitchen" in result.stdout and result.stdout.count("decide") >= 2

    for args, words in [
        (("approve", "--persona", "late-kitchen", "--all"), "no worker is polling"),
        (("account", "status", "--account", BROKE), "no worker is polling"),
        (("persona", "stop", "late-kitchen"), "no worker is polling"),
    ]:
        refused = await cli(stack, *args)
        assert refused.returncode == 1 and refused.stderr.startswith("error: ") and words in refused.stderr
    shown = await cli(stack, "show", waiting.pending_approvals[0].generated_post_id)
    assert shown.returncode == 0, shown.stderr
    assert "no worker is polling: caption, media" in shown.stdout and "awaiting_approval (now)" in shown.stdout
    description = await client.get_workflow_handle("persona-late-kitchen").describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
