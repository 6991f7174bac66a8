"""`make demo`: the whole product end to end on the embedded defaults, in about a minute.

It starts the local stack (Temporal dev server with its Web UI, the ReelMirror simulator, localstripe, one
worker), onboards an account with a card (welcome bonus) and auto-reload, connects a publishing account the
way a human would in the dashboard, starts the example persona, approves and rejects posts through the same
signals `starter.py approve/reject` send, waits for the deliveries, prints what happened and checks it
against the simulator's ledger (one generate per source post, charges equal to what was generated). It
exits non-zero when a check fails, so CI runs it as a test. Everything it started is stopped at the end,
unless --keep-running leaves the stack up for browsing the Web UI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from control import ops
from control.config_file import load_persona_config
from control.connection import DEFAULT_TASK_QUEUE, connect
from control.render import approvals_table, personas_table
from devstack.demo_observability import metrics_table, print_where_to_look, telemetry_env
from devstack.stack import REPO_ROOT, LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import AutoReloadConfig, OnboardingInput
from workflows.models import AccountSummary, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

EMAIL = "demo-bot@reelmirror.test"
ACCOUNT = "demo"
PERSONA_FILE = REPO_ROOT / "examples" / "demo-persona.toml"
PUBLISHING_ACCOUNT = ("instagram", "sunset_kitchen_official")
# Wide enough for the tables when the output is a pipe or a CI log (rich assumes 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 160)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def onboard(client: Client, timing: Timing) -> AccountSummary:
    handle = await ops.start_onboarding(
        client,
        OnboardingInput(
            email=EMAIL,
            account_ref=ACCOUNT,
            attach_card=True,
            auto_reload=AutoReloadConfig(threshold_cents=500, amount_cents=2500),
            timing=timing,
        ),
        DEFAULT_TASK_QUEUE,
    )
    console.print(f"[bold]1. Onboarding[/] {EMAIL} (workflow [cyan]{handle.id}[/])")
    summary = await asyncio.wait_for(handle.result(), timeout=120)
    console.print(
        f"   account ready: API key {summary.key_fingerprint}, {len(summary.scopes)} scopes, "
        f"balance ${(summary.balance_cents or 0) / 100:.2f} "
        f"(bonus {'granted' if summary.bonus_granted else 'missing'}), "
        f"auto-reload {'on' if summary.auto_reload else 'off'}"
    )
    for note in summary.notes:
        console.print(f"   [yellow]note:[/] {note}")
    return summary


async def run_persona(
    client: Client, timing: Timing, reject_count: int, guide: bool = False
) -> tuple[PersonaStatus, list[str]]:
    """Start the persona and act as its operator: reject the first `reject_count` posts, approve the rest."""
    config = load_persona_config(PERSONA_FILE)
    if guide:
        # the guide's answers do not say which source a source post belongs to: a persona mixing sync_only
        # with a source the server generates for could not tell their posts apart (README, "Against the
        # real service"), so in that world every source of the demo persona is sync_only
        sources = [s.model_copy(update={"automation_mode": "sync_only"}) for s in config.sources]
        config = config.model_copy(update={"sources": sources})
        console.print("   guide world: every source is sync_only (the answers name no post's source)")
    handle, _ = await ops.start_persona(client, ACCOUNT, config, timing, DEFAULT_TASK_QUEUE)
    console.print(f"[bold]3. Persona[/] '{config.name}' running as [cyan]{handle.id}[/]")
    decided: set[str] = set()
    decisions: list[str] = []
    result_task = asyncio.ensure_future(handle.result())
    deadline = time.monotonic() + 300
    while not result_task.done():
        if time.monotonic() > deadline:
            raise TimeoutError("the persona did not finish its cycle within 5 minutes")
        status = await handle.query(PersonaLoopWorkflow.status)
        for pending in status.pending_approvals:
            post_id = pending.generated_post_id
            if post_id in decided:
                continue
            decided.add(post_id)
            approve = len(decided) > reject_count
            await ops.decide(client, post_id, approve=approve, reason=None if approve else "off-brand for the demo")
            verb = "[green]approved[/]" if approve else "[red]rejected[/]"
            decisions.append(f"{verb} {post_id} ({pending.caption or 'no caption'})"[:110])
            console.print(f"   {decisions[-1]}")
        await asyncio.wait({result_task}, timeout=0.5)
    return result_task.result(), decisions


def ledger_report(ledger: list[dict], final: PersonaStatus) -> tuple[Table, list[str]]:
    """Counts by kind from the simulator's ledger, and the exactly-once checks that must hold."""
    kinds = Counter(entry["kind"] for entry in ledger)
    table = Table(title="Simulator ledger", title_justify="left")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind, count in sorted(kinds.items()):
        table.add_row(kind, str(count))
    problems = []
    generates = Counter(
        (e.get("persona_id"), e.get("source_post_id")) for e in ledger if e["kind"] == "generate"
    )
    duplicates = [key for key, count in generates.items() if count > 1]
    if duplicates:
        problems.append(f"{len(duplicates)} source posts were generated more than once")
    charged = sum(e.get("amount_cents") or 0 for e in ledger if e["kind"] == "charge")
    generate_ids = {e.get("generated_post_id") for e in ledger if e["kind"] == "generate"}
    charge_ids = {e.get("generated_post_id") for e in ledger if e["kind"] == "charge"}
    if generate_ids != charge_ids:
        problems.append("charges do not match generated posts one to one")
    for kind in ("signup", "api_key", "bonus"):
        if kinds.get(kind) != 1:
            problems.append(f"expected exactly one {kind}, the ledger has {kinds.get(kind, 0)}")
    approvals = Counter(e.get("generated_post_id") for e in ledger if e["kind"] == "approve")
    if any(count > 1 for count in approvals.values()):
        problems.append("a post was approved twice")
    if final.counters.approved < 1 or final.counters.rejected < 1:
        problems.append("the demo should approve and reject at least one post each")
    if final.counters.published_deliveries < 1:
        problems.append("no delivery was published")
    table.caption = f"credits charged: ${charged / 100:.2f}"
    return table, problems


async def demo(stack: LocalStack, time_scale: float, guide: bool = False) -> int:
    timing = Timing(time_scale=time_scale)
    client = await connect(env=stack.client_env())
    admin = SimulatorAdmin(stack.sim_origin)
    try:
        await onboard(client, timing)
        account = await admin.connect_account(EMAIL, *PUBLISHING_ACCOUNT)
        console.print(f"[bold]2. Publishing account[/] {PUBLISHING_ACCOUNT[0]}/{PUBLISHING_ACCOUNT[1]} connected "
                      f"by a 'human' in the dashboard (simulator admin API): {account.get('id', account)}")  # fmt: skip
        final, _ = await run_persona(client, timing, reject_count=1, guide=guide)
        console.print("[bold]4. Done.[/]")
        now = datetime.now(UTC)
        console.print(personas_table([final], now))
        if final.pending_approvals:
            console.print(approvals_table([final], now))
        ledger = await admin.ledger()
        table, problems = ledger_report(ledger, final)
        console.print(table)
    finally:
        await admin.aclose()
    for problem in problems:
        console.print(f"[red]check failed:[/] {problem}")
    if not problems:
        console.print("[green]checks passed:[/] one signup, one API key, one bonus, one generate and one charge "
                      "per generated post, no double approval")  # fmt: skip
    return 1 if problems else 0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """`kill` (or a CI timeout) stops the demo like Ctrl-C does: through the `finally` that stops the stack."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up for the Web UI (Ctrl-C ends)")
    parser.add_argument("--time-scale", type=float, default=0.01, help="simulated time per real time (default 0.01)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (a free one if 8233 is taken)")
    parser.add_argument("--state-dir", type=Path, help="where logs and secrets go (default: a temporary dir)")
    parser.add_argument(
        "--answers-guide",
        action="store_true",
        help="run against the guide-minimal simulator: only the fields the vendor's guide promises",
    )
    args = parser.parse_args(argv)
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    ui_port = args.ui_port if _port_free(args.ui_port) else 0
    config = StackConfig(
        time_scale=args.time_scale,
        ui_port=ui_port,
        state_dir=args.state_dir,
        worker_env=telemetry_env(),
        simulator_args=["--answers", "guide"] if args.answers_guide else [],
    )
    if args.answers_guide:
        console.print("[bold]Guide-minimal world:[/] the simulator answers only what the vendor's guide promises")
    started = time.monotonic()
    console.print("[bold]Starting the local stack[/] (Temporal dev server, ReelMirror simulator, localstripe, worker)")
    stack = LocalStack(config)
    code = 1
    try:
        stack.start()
        console.print(f"   Temporal {stack.temporal_address}, Web UI [link]{stack.temporal.ui_url}[/], "
                      f"simulator {stack.sim_api}, logs in {stack.logs}")  # fmt: skip
        print_where_to_look(console, stack)
        code = asyncio.run(demo(stack, args.time_scale, guide=args.answers_guide))
        metrics = metrics_table(stack)
        if metrics is not None:
            console.print(metrics)
        console.print(f"Demo finished in {time.monotonic() - started:.0f} s. "
                      f"Web UI: {stack.temporal.ui_url}/namespaces/default/workflows")  # fmt: skip
        if args.keep_running:
            console.print("Stack left running; press Ctrl-C to stop it.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    except Exception as exc:
        console.print(f"[red]demo failed:[/] {type(exc).__name__}: {exc}")
        console.print(f"logs: {stack.logs}")
        code = 1
    finally:
        stack.stop()
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
