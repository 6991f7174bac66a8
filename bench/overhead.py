"""Overhead bench: CPU per post of the workflows (worker plus Temporal server) against a plain script.

In one run, on one simulator: M posts go through generate, media poll, approve and delivery polls twice:
once as a plain asyncio script over the same client (`bench.plain_pipeline`, the guide's fixed polling
loops, its own process), once through the product (one persona with M posts on the product worker and the
Temporal dev server, payloads encrypted, as deployed). CPU seconds are read from /proc (user plus system)
around each run; the simulator's own CPU counts for neither. The workflows' figure includes the persona's
sync and planning of those posts, and whatever the dev server spends on its own meanwhile (measured idle
beforehand and shown).

Goal: the workflows' CPU per post at most 3x the script's.
Run: `.venv/bin/python -m bench.overhead --posts 20 --json bench/results/overhead.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.output import save_figure, write_json
from bench.rig import PUBLISHING_ACCOUNT, account_key, all_closed, persona_config, process_cpu_seconds, wait_until
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import REPO_ROOT, LocalStack, StackConfig
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.policies import Timing

TIMING = Timing(time_scale=0.01)
EMAIL, ACCOUNT = "overhead-bench@reelmirror.test", "overhead"
GOAL_RATIO = 3.0
console = Console(width=None if sys.stdout.isatty() else 140)


async def prepare(stack: LocalStack, client: Client, posts: int) -> tuple[str, str, list[dict[str, str]]]:
    """Onboard the account, then a persona of the script's own: one synced source, one target.
    Returns the key, that persona's id and `posts` of its source posts."""
    handle = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(handle.result(), timeout=120)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        await admin.topup(EMAIL, posts * 2 * 300)
        await admin.connect_account(EMAIL, *PUBLISHING_ACCOUNT)
    key = await account_key(stack, ACCOUNT)
    async with ReelMirrorClient(stack.sim_api, token=key) as api:
        persona = await api.create_persona("Plain script", "Plain")
        await api.add_source(persona.id, "instagram", "plain-creator")
        [account] = await api.list_publishing_accounts()
        await api.add_publishing_target(persona.id, account.id)
        [job_id] = (await api.sync_persona(persona.id)).job_ids

        async def synced() -> bool:
            return (await api.get_sync_job(job_id)).is_terminal

        await wait_until(synced, every=0.05)
        listed = (await api.list_source_posts(persona.id))[:posts]
    kinds = [{"id": p.id, "kind": "video" if p.media_type == "video" else "image"} for p in listed]
    return key, persona.id, kinds


def run_script(stack: LocalStack, key: str, persona_id: str, posts: list[dict[str, str]]) -> dict[str, float]:
    spec = stack.state_dir / "plain-posts.json"
    spec.write_text(json.dumps({"persona_id": persona_id, "posts": posts, "time_scale": TIMING.time_scale}))
    env = os.environ | {"PLAIN_BASE_URL": stack.sim_api, "PLAIN_API_KEY": key, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.plain_pipeline", str(spec)], env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the plain script failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run_workflows(stack: LocalStack, client: Client, posts: int) -> dict[str, float]:
    [worker] = [w for w in stack.workers if w.alive()]
    server = stack.temporal.process
    assert server is not None
    idle_before = process_cpu_seconds(server.pid)
    await asyncio.sleep(5)
    server_idle_rate = (process_cpu_seconds(server.pid) - idle_before) / 5
    cpu_worker, cpu_server, started = process_cpu_seconds(worker.pid), process_cpu_seconds(server.pid), time.monotonic()
    config = persona_config("overhead", posts=posts, cycles=1)
    handle, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    status = await handle.result()
    await wait_until(lambda: all_closed(client))
    seconds = time.monotonic() - started
    finished = status.counters.published_posts + status.counters.failed_posts
    events, tasks, by_type = await history_sizes(client)
    return {
        "history_events": events,
        "workflow_tasks": tasks,
        "events_by_type": by_type,
        "posts": finished,
        "worker_cpu_s": process_cpu_seconds(worker.pid) - cpu_worker,
        "server_cpu_s": process_cpu_seconds(server.pid) - cpu_server,
        "server_idle_cpu_s": server_idle_rate * seconds,
        "seconds": seconds,
    }


async def history_sizes(client: Client) -> tuple[int, int, dict[str, int]]:
    """Events and workflow tasks in the persona's and its posts' histories (what the server stored)."""
    events = tasks = 0
    by_type: Counter[str] = Counter()
    async for execution in client.list_workflows(
        "WorkflowType = 'PersonaLoopWorkflow' OR WorkflowType = 'ContentPostWorkflow'"
    ):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        events += len(history.events)
        for event in history.events:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            by_type[name] += 1
            tasks += event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    return events, tasks, dict(by_type.most_common(8))


def table(plain: dict[str, float], flows: dict[str, float]) -> Table:
    t = Table(title="CPU per post (same simulator, same pipeline)", title_justify="left", title_style="bold")
    for column in ("", "posts", "wall", "CPU", "CPU per post"):
        t.add_column(column, justify="left" if not column else "right")
    plain_per = plain["cpu_s"] / plain["posts"]
    flows_cpu = flows["worker_cpu_s"] + flows["server_cpu_s"]
    t.add_row("plain asyncio script", str(plain["posts"]), f"{plain['seconds']:.1f} s", f"{plain['cpu_s']:.2f} s",
              f"{plain_per * 1000:.0f} ms")  # fmt: skip
    t.add_row(
        "workflows: worker",
        "",
        "",
        f"{flows['worker_cpu_s']:.2f} s",
        f"{flows['worker_cpu_s'] / flows['posts'] * 1000:.0f} ms",
    )
    t.add_row("workflows: Temporal dev server", "", "", f"{flows['server_cpu_s']:.2f} s",
              f"{flows['server_cpu_s'] / flows['posts'] * 1000:.0f} ms")  # fmt: skip
    t.add_row("[bold]workflows", str(flows["posts"]), f"{flows['seconds']:.1f} s", f"{flows_cpu:.2f} s",
              f"{flows_cpu / flows['posts'] * 1000:.0f} ms")  # fmt: skip
    ratio = flows_cpu / flows["posts"] / plain_per
    t.caption = (
        f"ratio {ratio:.1f}x (goal <= {GOAL_RATIO:g}x); the dev server alone burns about "
        f"{flows['server_idle_cpu_s']:.2f} s idle over the same time; histories: "
        f"{flows['history_events'] / flows['posts']:.0f} events and {flows['workflow_tasks'] / flows['posts']:.0f} "
        f"workflow tasks per post (persona included): {flows['events_by_type']}"
    )
    return t


async def run(stack: LocalStack, posts: int) -> dict[str, object]:
    client = await connect(env=stack.client_env(), tracing=False)
    key, persona_id, chosen = await prepare(stack, client, posts)
    console.print(f"  plain script: {len(chosen)} posts")
    plain = await asyncio.to_thread(run_script, stack, key, persona_id, chosen)
    console.print(f"  workflows: {posts} posts")
    flows = await run_workflows(stack, client, posts)
    console.print(table(plain, flows))
    per_flow = (flows["worker_cpu_s"] + flows["server_cpu_s"]) / flows["posts"]
    per_plain = plain["cpu_s"] / plain["posts"]
    return {
        "cpu_per_post_workflows": round(per_flow, 4),
        "cpu_per_post_plain": round(per_plain, 4),
        "ratio": round(per_flow / per_plain, 2),
        "worker_cpu_per_post": round(flows["worker_cpu_s"] / flows["posts"], 4),
        "server_cpu_per_post": round(flows["server_cpu_s"] / flows["posts"], 4),
        "server_idle_cpu_s": round(flows["server_idle_cpu_s"], 2),
        "posts": posts,
        "history_events_per_post": round(flows["history_events"] / flows["posts"], 1),
        "workflow_tasks_per_post": round(flows["workflow_tasks"] / flows["posts"], 1),
    }


def plot(figures: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = figures
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh(["plain script"], [f["cpu_per_post_plain"] * 1000], color="tab:gray")  # type: ignore[operator]
    ax.barh(["workflows"], [f["worker_cpu_per_post"] * 1000], color="tab:blue", label="worker")  # type: ignore[operator]
    ax.barh(["workflows"], [f["server_cpu_per_post"] * 1000], left=[f["worker_cpu_per_post"] * 1000],  # type: ignore[operator]
            color="tab:cyan", label="Temporal dev server")  # fmt: skip
    ax.axvline(f["cpu_per_post_plain"] * GOAL_RATIO * 1000, color="tab:red", linestyle="--", label="goal: 3x")  # type: ignore[operator]
    ax.set_xlabel("CPU ms per post")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20, help="posts through each pipeline (at most 20)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args(argv)
    state_dir = Path(tempfile.mkdtemp(prefix="reelmirror-overhead-"))
    console.print(f"[bold]Overhead bench[/] (logs under {state_dir / 'logs'})")
    sim_args = ["--rate-limit", "1000000", "--backlog-posts", "20"]
    stack = LocalStack(
        StackConfig(time_scale=TIMING.time_scale, ui_port=None, state_dir=state_dir, simulator_args=sim_args)
    )
    try:
        stack.start()
        figures = asyncio.run(run(stack, min(args.posts, 20)))
    finally:
        stack.stop()
    if args.json:
        write_json(args.json, figures)
    if args.plot:
        plot(figures, args.out / "overhead.png")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
