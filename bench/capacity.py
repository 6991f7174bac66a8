"""Capacity bench: N persona loops started on one worker and left idle between cycles, beside bare Temporal.

In one run, on one Temporal dev server: first N trivial workflows that wait for a signal (`bench.idle_workflow`,
a worker with the product worker's settings), then N persona loops on the product worker (`worker.py`), spread
over accounts of 100 personas (a persona's setup lists its account's personas). Each persona runs its first
cycle (setup, sync, poll, plan: no posts) and then waits a day for its next sync.

Figures: start rate (workflows started and running per second: every start accepted and its first
workflow task done, shown by the STAGE search attribute), the time until all were idle, worker and
dev-server memory (RSS) once idle, and the API calls made during an idle window (only scheduled ones may
happen; none are scheduled in it). Goal: N = 2,000 on one worker at <= 500 MB worker RSS, a start rate of
at least half the bare one. Run: `.venv/bin/python -m bench.capacity --personas 2000 --json PATH`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from bench.idle_workflow import TASK_QUEUE as BARE_QUEUE
from bench.idle_workflow import IdleWorkflow
from bench.output import save_figure, write_json
from bench.rig import persona_config, process_cpu_seconds, process_rss_mb
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.process import ManagedProcess
from devstack.stack import REPO_ROOT, LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.policies import Timing

PER_ACCOUNT = 100
CONCURRENT_STARTS = 64
IDLE_WINDOW_S = 20.0
TIMING = Timing(time_scale=0.01)
console = Console(width=None if sys.stdout.isatty() else 140)


@dataclass
class Phase:
    name: str
    workflows: int
    started_s: float = 0.0  # until every start was accepted and its first task done
    idle_s: float = 0.0  # until every workflow waits (for personas: after their first cycle)
    worker_rss_mb: float = 0.0
    server_rss_mb: float = 0.0
    worker_cpu_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def start_per_s(self) -> float:
        return self.workflows / self.started_s if self.started_s else 0.0


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def until_count(client: Client, query: str, n: int, within: float) -> float:
    """Seconds until `query` counts `n` workflows (polled every 0.5 s)."""
    started = time.monotonic()
    while (found := await count(client, query)) < n:
        if time.monotonic() - started > within:
            raise TimeoutError(f"{found} of {n} workflows after {within:.0f} s: {query}")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def start_all(n: int, start: Callable[[int], Awaitable[object]]) -> None:
    gate = asyncio.Semaphore(CONCURRENT_STARTS)

    async def one(i: int) -> None:
        async with gate:
            await start(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def bare(stack: LocalStack, client: Client, n: int) -> Phase:
    worker = ManagedProcess(
        "bare-worker", [sys.executable, "-m", "bench.idle_workflow"], stack.logs / "bare-worker.log",
        env=stack.worker_env() | {"PYTHONPATH": str(REPO_ROOT)},
    ).start()  # fmt: skip
    try:
        await until_ready(worker)
        phase = Phase("bare Temporal", n)
        began = time.monotonic()
        query = "WorkflowType = 'IdleWorkflow' AND ReelMirrorStage = 'waiting'"
        starting = asyncio.ensure_future(
            start_all(n, lambda i: client.start_workflow(IdleWorkflow.run, id=f"bare-{i}", task_queue=BARE_QUEUE))
        )
        await until_count(client, query, n, within=1800)
        await starting
        phase.started_s = phase.idle_s = time.monotonic() - began
        await asyncio.sleep(2)
        phase.worker_rss_mb = process_rss_mb(worker.pid)
        phase.server_rss_mb = process_rss_mb(stack.temporal.process.pid)  # type: ignore[union-attr]
        phase.worker_cpu_s = process_cpu_seconds(worker.pid)
        await start_all(n, lambda i: client.get_workflow_handle(f"bare-{i}").signal(IdleWorkflow.finish))
        return phase
    finally:
        worker.stop()


async def until_ready(worker: ManagedProcess, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while "worker ready" not in (worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""):
        if not worker.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{worker.name} did not start:\n{worker.tail(30)}")
        await asyncio.sleep(0.1)


async def onboard(client: Client, admin: SimulatorAdmin, accounts: int) -> list[str]:
    refs = [f"cap{i}" for i in range(accounts)]
    handles = [
        await ops.start_onboarding(
            client, OnboardingInput(email=f"{ref}@reelmirror.test", account_ref=ref, timing=TIMING), DEFAULT_TASK_QUEUE
        )
        for ref in refs
    ]
    await asyncio.gather(*(asyncio.wait_for(h.result(), 300) for h in handles))
    for ref in refs:
        await admin.connect_account(f"{ref}@reelmirror.test", "instagram", "bench_official")
    return refs


async def personas(stack: LocalStack, client: Client, admin: SimulatorAdmin, n: int) -> tuple[Phase, int]:
    refs = await onboard(client, admin, math.ceil(n / PER_ACCOUNT))
    [worker] = [w for w in stack.workers if w.alive()]
    cpu_before = process_cpu_seconds(worker.pid)
    phase = Phase("persona loops", n)

    async def start(i: int) -> None:
        config = persona_config(f"cap-{i}", posts=1, cycles=None).model_copy(update={"sync_interval_minutes": 24 * 60})
        await ops.start_persona(client, refs[i // PER_ACCOUNT], config, TIMING, DEFAULT_TASK_QUEUE)

    began = time.monotonic()
    starting = asyncio.ensure_future(start_all(n, start))
    running = "WorkflowType = 'PersonaLoopWorkflow' AND ReelMirrorStage IS NOT NULL"
    await until_count(client, running, n, within=3600)
    await starting
    phase.started_s = time.monotonic() - began
    waiting = "WorkflowType = 'PersonaLoopWorkflow' AND ReelMirrorStage = 'waiting'"
    await until_count(client, waiting, n, within=3600)
    phase.idle_s = time.monotonic() - began
    await asyncio.sleep(2)
    phase.worker_cpu_s = process_cpu_seconds(worker.pid) - cpu_before
    before = (await admin.stats())["requests"]
    await asyncio.sleep(IDLE_WINDOW_S)
    idle_calls = (await admin.stats())["requests"] - before
    phase.worker_rss_mb = process_rss_mb(worker.pid)
    phase.server_rss_mb = process_rss_mb(stack.temporal.process.pid)  # type: ignore[union-attr]
    return phase, idle_calls


def table(bare_phase: Phase, persona_phase: Phase, idle_calls: int) -> Table:
    t = Table(title=f"{persona_phase.workflows} workflows on one worker", title_justify="left", title_style="bold")
    for column in ("", "start rate", "all running", "all idle", "worker RSS", "dev server RSS", "worker CPU"):
        t.add_column(column, justify="left" if not column else "right")
    for p in (bare_phase, persona_phase):
        t.add_row(p.name, f"{p.start_per_s:.1f}/s", f"{p.started_s:.1f} s", f"{p.idle_s:.1f} s",
                  f"{p.worker_rss_mb:.0f} MB", f"{p.server_rss_mb:.0f} MB", f"{p.worker_cpu_s:.1f} s")  # fmt: skip
    ratio = persona_phase.start_per_s / bare_phase.start_per_s if bare_phase.start_per_s else 0
    t.caption = (
        f"start rate {ratio:.0%} of bare (goal >= 50%); worker RSS {persona_phase.worker_rss_mb:.0f} MB (goal <= 500); "
        f"API calls in a {IDLE_WINDOW_S:.0f} s idle window: {idle_calls} (none scheduled)"
    )
    return t


async def run(stack: LocalStack, n: int) -> dict[str, object]:
    client = await connect(env=stack.client_env(), tracing=False)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        console.print(f"  bare: starting {n} idle workflows")
        bare_phase = await bare(stack, client, n)
        console.print(f"  bare: {bare_phase.start_per_s:.1f}/s; personas: starting {n}")
        persona_phase, idle_calls = await personas(stack, client, admin, n)
    console.print(table(bare_phase, persona_phase, idle_calls))
    return {
        "personas": n,
        "worker_rss_mb": round(persona_phase.worker_rss_mb),
        "server_rss_mb": round(persona_phase.server_rss_mb),
        "start_per_s": round(persona_phase.start_per_s, 1),
        "to_idle_s": round(persona_phase.idle_s, 1),
        "bare_start_per_s": round(bare_phase.start_per_s, 1),
        "bare_worker_rss_mb": round(bare_phase.worker_rss_mb),
        "bare_server_rss_mb": round(bare_phase.server_rss_mb),
        "idle_api_calls": idle_calls,
        "idle_window_s": IDLE_WINDOW_S,
        "phases": [asdict(bare_phase), asdict(persona_phase)],
    }


def plot(figures: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = figures
    panels = [
        ("started per second", [f["bare_start_per_s"], f["start_per_s"]], None),
        ("worker RSS (MB)", [f["bare_worker_rss_mb"], f["worker_rss_mb"]], 500),
        ("dev server RSS (MB)", [f["bare_server_rss_mb"], f["server_rss_mb"]], None),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax, (title, values, goal) in zip(axes, panels, strict=True):
        ax.bar(["bare", "personas"], values, color=["tab:gray", "tab:blue"])  # type: ignore[arg-type]
        if goal:
            ax.axhline(goal, color="tab:red", linestyle="--")
        ax.set_title(title)
    fig.suptitle(f"{f['personas']} workflows on one worker")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args(argv)
    state_dir = Path(tempfile.mkdtemp(prefix="reelmirror-capacity-"))
    console.print(f"[bold]Capacity bench[/] (logs under {state_dir / 'logs'})")
    sim_args = ["--rate-limit", "100000000", "--signup-limit", "100000", "--backlog-posts", "0"]
    stack = LocalStack(
        StackConfig(time_scale=TIMING.time_scale, ui_port=None, state_dir=state_dir, simulator_args=sim_args)
    )
    try:
        stack.start()
        figures = asyncio.run(run(stack, args.personas))
    finally:
        stack.stop()
    if args.json:
        write_json(args.json, figures)
    if args.plot:
        plot(figures, args.out / "capacity.png")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
