"""Fleet bench: 50 personas of one account on two workers against the key's real rate limit.

Two runs of the same scenario, each on a fresh stack: with the fleet's shared budget
(`REELMIRROR_RATE_BUDGET=120/60` on both workers: `activities.fleet_budget`, `workflows.rate_budget`) and
without it (the workers learn the limit from 429s and wait for the reset). The simulator keeps its default
limit of 120 requests a minute per key on the real clock. Every persona has a backlog of posts; the bench
watches a fixed stretch of time while there is work and counts, from the simulator: 429s (there are no
injected faults, so every 429 is the real limit), requests per minute against the limit, and posts
delivered per minute.

Goals (with the budget): no 429, at least 80% of the limit used while there is work.
Run: `.venv/bin/python -m bench.fleet --minutes 5 --plot --json bench/results/fleet.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.output import save_figure, write_json
from bench.rig import PUBLISHING_ACCOUNT, persona_config
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput
from workflows.policies import Timing

LIMIT, WINDOW = 120, 60
TIMING = Timing(time_scale=0.01)
EMAIL, ACCOUNT = "fleet-bench@reelmirror.test", "fleet"
SAMPLE_S = 10.0
OUT_DIR = Path(__file__).resolve().parent / "out"
console = Console(width=None if sys.stdout.isatty() else 140)


@dataclass
class Run:
    label: str
    governed: bool
    seconds: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    delivered: int = 0
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # (s, requests, 429s, delivered)

    @property
    def per_minute(self) -> float:
        return self.requests / self.seconds * 60 if self.seconds else 0.0

    @property
    def posts_per_minute(self) -> float:
        return self.delivered / self.seconds * 60 if self.seconds else 0.0


async def snapshot(admin: SimulatorAdmin) -> tuple[int, int, int]:
    stats = await admin.stats()
    delivered = len(await admin.ledger(kind="delivery", email=EMAIL))
    return stats["requests"], stats["by_status"].get("429", 0), delivered


async def scenario(stack: LocalStack, run: Run, personas: int, posts: int, minutes: float) -> Run:
    client = await connect(env=stack.client_env(), tracing=False)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        handle = await ops.start_onboarding(
            client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, timing=TIMING), DEFAULT_TASK_QUEUE
        )
        await asyncio.wait_for(handle.result(), timeout=120)
        await admin.topup(EMAIL, personas * posts * 300)
        await admin.connect_account(EMAIL, *PUBLISHING_ACCOUNT)
        await asyncio.sleep(WINDOW / 2)  # onboarding's own requests leave the key's window
        start = await snapshot(admin)
        began = time.monotonic()
        for i in range(personas):
            config = persona_config(f"fleet-{i}", posts=posts, cycles=1)
            await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
        while (elapsed := time.monotonic() - began) < minutes * 60:
            await asyncio.sleep(SAMPLE_S)
            now = await snapshot(admin)
            run.samples.append((elapsed + SAMPLE_S, *(b - a for a, b in zip(start, now, strict=True))))
            console.print(f"  {run.label}: {run.samples[-1]}")
        end = await snapshot(admin)
    run.seconds = time.monotonic() - began
    run.requests, run.rate_limited, run.delivered = (b - a for a, b in zip(start, end, strict=True))
    return run


def one(governed: bool, personas: int, posts: int, minutes: float) -> Run:
    label = "shared budget" if governed else "no budget (429s teach)"
    state_dir = Path(tempfile.mkdtemp(prefix="reelmirror-fleet-"))
    console.print(f"[bold]Fleet bench, {label}[/] (logs under {state_dir / 'logs'})")
    env = {"REELMIRROR_RATE_BUDGET": f"{LIMIT}/{WINDOW}"} if governed else {}
    stack = LocalStack(
        StackConfig(
            time_scale=TIMING.time_scale,
            ui_port=None,
            state_dir=state_dir,
            simulator_args=["--backlog-posts", str(posts)],
            worker_env=env,
        )
    )
    try:
        stack.start(workers=2)
        return asyncio.run(scenario(stack, Run(label, governed), personas, posts, minutes))
    finally:
        stack.stop()


def table(runs: list[Run]) -> Table:
    t = Table(
        title=f"50 personas, one key limited to {LIMIT}/min, two workers", title_justify="left", title_style="bold"
    )
    for column in ("run", "watched", "requests", "per minute", "of the limit", "429s", "posts delivered/min"):
        t.add_column(column, justify="left" if column == "run" else "right")
    for r in runs:
        t.add_row(r.label, f"{r.seconds:.0f} s", str(r.requests), f"{r.per_minute:.0f}", f"{r.per_minute / LIMIT:.0%}",
                  str(r.rate_limited), f"{r.posts_per_minute:.1f}")  # fmt: skip
    return t


def plot(runs: list[Run], path: Path) -> None:
    """Answered requests per minute against the limit (429s apart), 429s and posts delivered over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.5))
    for r, color in zip(runs, ("tab:blue", "tab:gray"), strict=False):
        times = [s for s, *_ in r.samples]
        steps = list(zip([(0.0, 0, 0, 0), *r.samples], r.samples, strict=False))
        answered = [((b[1] - b[2]) - (a[1] - a[2])) / (b[0] - a[0]) * 60 for a, b in steps]
        left.plot(times, answered, color=color, label=r.label)
        middle.plot(times, [c for _, _, c, _ in r.samples], color=color, label=r.label)
        right.plot(times, [d for *_, d in r.samples], color=color, label=r.label)
    left.axhline(LIMIT, color="tab:red", linestyle="--", label="the key's limit")
    left.set_title("requests answered (not 429) per minute")
    middle.set_title("429s (cumulative)")
    right.set_title("posts delivered (cumulative)")
    for ax in (left, middle, right):
        ax.set_xlabel("seconds")
    left.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=50)
    parser.add_argument("--posts", type=int, default=3, help="backlog posts per persona (default 3)")
    parser.add_argument("--minutes", type=float, default=5.0, help="time watched per run (default 5)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without the budget")
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    runs = [one(True, args.personas, args.posts, args.minutes)]
    if not args.no_baseline:
        runs.append(one(False, args.personas, args.posts, args.minutes))
    console.print(table(runs))
    governed = runs[0]
    figures = {
        "personas": args.personas,
        "limit_per_minute": LIMIT,
        "requests_per_minute": round(governed.per_minute, 1),
        "share_of_limit": round(governed.per_minute / LIMIT, 3),
        "rate_limited_429s": governed.rate_limited,
        "posts_per_minute": round(governed.posts_per_minute, 2),
        "goals_met": governed.rate_limited == 0 and governed.per_minute >= 0.8 * LIMIT,
        "samples": {r.label: [[round(s, 1), n, c, d] for s, n, c, d in r.samples] for r in runs},
    }
    if len(runs) > 1:
        base = runs[1]
        figures["without_budget"] = {
            "requests_per_minute": round(base.per_minute, 1),
            "rate_limited_429s": base.rate_limited,
            "posts_per_minute": round(base.posts_per_minute, 2),
        }
    if args.json:
        write_json(args.json, figures)
    if args.plot:
        plot(runs, args.out / "fleet.png")
        console.print(f"plot: {args.out / 'fleet.png'}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
